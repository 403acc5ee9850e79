"""Readers beside a writer: the pipeline publishes an immutable read copy, readers open only it.

DuckDB lets one process open a database file read-write, and while it does no other process can
open the file at all. So a reader of the pipeline's own file (``status``, ``top``, a dashboard,
a notebook) either dies with a lock error while a run writes or, holding the file, makes the run
fail. The one design for the whole product:

- the writer, after a successful run (the CLI at the end of ``run`` / ``demo`` / ``backfill``; a
  run-status sensor for runs from the UI, schedules and the daemon), calls ``publish``: under the
  database's write lock it checkpoints, copies the file, stamps the copy with a manifest (when,
  which run, rows per table) and renames it over ``<name>.published.duckdb`` in one atomic step;
- readers call ``open_published`` / ``read_published``: a read-only connection to that copy.
  A reader holds the copy it opened (the renamed-over file lives on until its last reader
  closes), so it never sees a half-written day and never blocks or fails a run; the next
  connection sees the newer copy. Old copies need no clean-up: the file system frees them.

Cost: one file copy per publish (about the speed of the disk), taken while writers wait.
Within one process DuckDB shares an open database between connections to the same path, so a
long-lived reader (the dashboard) should close its connection after each request to see the
next publication.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from crypto_assets.storage.connection import LOCK_WAIT_S, connect
from crypto_assets.storage.tables import SCHEMA, qualified, table_exists

PUBLISHED_SUFFIX = ".published.duckdb"
MANIFEST_SCHEMA = "publication"


class NothingPublished(FileNotFoundError):
    """No read copy exists yet (no run has finished since the database was created)."""


@dataclass(frozen=True)
class Publication:
    """One published read copy: where, when, from which run, with how many rows per table."""

    path: Path
    published_at: pd.Timestamp
    run_id: str | None
    tables: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def published_path(source: Any) -> Path:
    """The read copy of a database: ``data/crypto_assets.duckdb`` ->
    ``data/crypto_assets.published.duckdb``. ``source``: the database path, the copy's own path,
    or a settings object with ``resolved_duckdb_path``."""
    path = Path(getattr(source, "resolved_duckdb_path", source))
    if path.name.endswith(PUBLISHED_SUFFIX):
        return path
    return path.with_name(path.name.removesuffix(".duckdb") + PUBLISHED_SUFFIX)


def _row_counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = conn.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' order by 1, 2"
    ).fetchall()
    counts = {}
    for schema, table in tables:
        found = conn.execute(f"select count(*) from {qualified(schema, table)}").fetchone()
        counts[f"{schema}.{table}"] = int(found[0]) if found else 0
    return counts


def _copy_synced(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())


def _stamp(copy: Path, publication: Publication, database: Path) -> None:
    """Write the manifest into the copy itself, so what a reader opens says what it is."""
    with duckdb.connect(str(copy)) as conn:
        conn.execute(f"create schema if not exists {MANIFEST_SCHEMA}")
        conn.execute(
            f"create or replace table {MANIFEST_SCHEMA}.manifest as select ?::timestamptz "
            "published_at, ?::varchar run_id, ?::varchar database",
            [publication.published_at.to_pydatetime(), publication.run_id, str(database)],
        )
        conn.execute(
            f"create or replace table {MANIFEST_SCHEMA}.tables (table_name varchar, rows bigint)"
        )
        if publication.tables:
            conn.executemany(
                f"insert into {MANIFEST_SCHEMA}.tables values (?, ?)",
                list(publication.tables.items()),
            )
        conn.execute("checkpoint")
    Path(f"{copy}.wal").unlink(missing_ok=True)


def publish(
    database: str | Path,
    *,
    run_id: str | None = None,
    target: str | Path | None = None,
    wait_s: float = LOCK_WAIT_S,
) -> Publication:
    """Publish the database's current committed state as the read copy (see the module doc).

    Holds the database's write lock from the checkpoint to the rename, so no writer changes the
    file while it is copied and two publishers never interleave. Call it when this process has
    no other connection open to ``database``.
    """
    database = Path(database)
    target = Path(target) if target else published_path(database)
    if not database.exists():
        raise NothingPublished(f"{database} does not exist: nothing to publish yet")
    started = time.monotonic()
    conn = connect(database, wait_s=wait_s)
    try:
        for stale in target.parent.glob(f".{target.name}.*.tmp*"):  # from a killed publisher
            stale.unlink(missing_ok=True)
        conn.execute("checkpoint")
        publication = Publication(
            path=target,
            published_at=pd.Timestamp.now(tz="UTC"),
            run_id=run_id,
            tables=_row_counts(conn),
        )
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            _copy_synced(database, temporary)
            _stamp(temporary, publication, database)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        conn.close()
    return Publication(
        path=target,
        published_at=publication.published_at,
        run_id=run_id,
        tables=publication.tables,
        seconds=round(time.monotonic() - started, 3),
    )


def open_published(source: Any) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published copy (use it as ``with open_published(s) as
    conn:``); ``NothingPublished`` with a one-line hint when no run has published yet."""
    path = published_path(source)
    if not path.exists():
        raise NothingPublished(
            f"no published results at {path} yet: they appear when a pipeline run finishes "
            "(`crypto-assets run` or `make demo`)"
        )
    return duckdb.connect(str(path), read_only=True)


def read_published(
    source: Any,
    table: str,
    where: str = "",
    params: list[Any] | None = None,
    *,
    schema: str = SCHEMA,
) -> pd.DataFrame:
    """Rows of ``schema.table`` in the published copy (empty when the table does not exist)."""
    with open_published(source) as conn:
        if not table_exists(conn, schema, table):
            return pd.DataFrame()
        sql = f"select * from {qualified(schema, table)}" + (f" where {where}" if where else "")
        return conn.execute(sql, params or []).df()


def publication_info(source: Any) -> Publication:
    """What the current read copy holds: when it was published, by which run, rows per table."""
    with open_published(source) as conn:
        published_at, run_id = conn.execute(
            f"select published_at, run_id from {MANIFEST_SCHEMA}.manifest"
        ).fetchone()
        tables = dict(
            conn.execute(f"select table_name, rows from {MANIFEST_SCHEMA}.tables").fetchall()
        )
    return Publication(
        path=published_path(source),
        published_at=pd.Timestamp(published_at).tz_convert("UTC"),
        run_id=run_id,
        tables={k: int(v) for k, v in tables.items()},
    )
