"""Storage that loses nothing and never blocks a reader.

- ``tables``: replace a slice of a DuckDB table in one transaction, column types pinned.
- ``connection``: the writer's connection (bounded wait for another process's lock, one-line
  ``DatabaseBusy``) and ``transaction``.
- ``batches``: many files loaded in one transaction, all or none, with a per-file report.
- ``publish``: the immutable read copy the pipeline publishes after each run, and the
  read-only API every reader uses (``open_published``, ``read_published``, ``publication_info``).
- ``queries``: plain reads of what the IO manager stored (tables, newest/oldest candle per
  coin, the write log ``materialization_log``) and insert-only writes.

The Dagster side lives in the Dagster layer: the IO manager in ``resources/io_manager.py`` (key
``io_manager``), the run-status sensor that publishes after UI/daemon runs in
``defs/storage``. Nothing here imports Dagster.
"""

from crypto_assets.storage.connection import DatabaseBusy, connect, transaction
from crypto_assets.storage.publish import (
    NothingPublished,
    Publication,
    open_published,
    publication_info,
    publish,
    published_path,
    read_published,
)
from crypto_assets.storage.queries import (
    LOG_TABLE,
    first_candle_by_symbol,
    insert_new_rows,
    latest_candle_by_symbol,
    latest_materializations,
    read_table,
    record_materialization,
    table_exists,
)
from crypto_assets.storage.tables import SCHEMA, StorageWriteError, replace_partition

__all__ = [
    "LOG_TABLE",
    "SCHEMA",
    "DatabaseBusy",
    "NothingPublished",
    "Publication",
    "StorageWriteError",
    "connect",
    "first_candle_by_symbol",
    "insert_new_rows",
    "latest_candle_by_symbol",
    "latest_materializations",
    "open_published",
    "publication_info",
    "publish",
    "published_path",
    "read_published",
    "read_table",
    "record_materialization",
    "replace_partition",
    "table_exists",
    "transaction",
]
