"""Storage that loses nothing and never blocks a reader.

- ``tables``: replace a slice of a DuckDB table in one transaction, column types pinned.
- ``connection``: the writer's connection (bounded wait for another process's lock, one-line
  ``DatabaseBusy``) and ``transaction``.
- ``batches``: many files loaded in one transaction, all or none, with a per-file report.
- ``publish``: the immutable read copy the pipeline publishes after each run, and the
  read-only API every reader uses (``open_published``, ``read_published``, ``publication_info``).
- ``io_manager`` and ``publish_sensor``: the Dagster side (the IO manager under the
  ``io_manager`` key; the run-status sensor that publishes after UI/daemon runs).

Everything but the last two is free of Dagster.
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
from crypto_assets.storage.tables import SCHEMA, StorageWriteError, replace_partition

__all__ = [
    "SCHEMA",
    "DatabaseBusy",
    "NothingPublished",
    "Publication",
    "StorageWriteError",
    "connect",
    "open_published",
    "publication_info",
    "publish",
    "published_path",
    "read_published",
    "replace_partition",
    "transaction",
]
