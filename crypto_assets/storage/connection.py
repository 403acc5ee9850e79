"""Opening the DuckDB file as its one writer, and transactions that either commit whole or leave
nothing behind.

DuckDB lets one process hold a database file read-write; while it does, no other process can
open the file at all (not even read-only). Writers therefore wait for the lock for a bounded
time and then fail with one line naming the process that holds it, instead of a traceback
after minutes; readers never open this file (see ``crypto_assets.storage.publish``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

LOCK_WAIT_S = 120.0  # about what dagster-duckdb's own connect backoff waits (~102 s)
_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>\S+) \(PID (?P<pid>\d+)\)")


class DatabaseBusy(RuntimeError):
    """The database file stayed locked by another process for longer than the wait allowed."""


def is_lock_conflict(error: BaseException) -> bool:
    """True for DuckDB's "another process holds this file" error (the one worth waiting out)."""
    text = str(error)
    return isinstance(error, duckdb.IOException) and (
        "Could not set lock" in text or "Conflicting lock" in text
    )


def lock_holder(error: BaseException) -> str:
    """'program (PID n)' from DuckDB's lock error, or 'another process' when it names none."""
    match = _HOLDER.search(str(error))
    if not match:
        return "another process"
    return f"{Path(match['program']).name} (PID {match['pid']})"


def connect(
    database: str | Path,
    *,
    read_only: bool = False,
    wait_s: float = LOCK_WAIT_S,
    config: dict | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection to ``database``, waiting up to ``wait_s`` seconds while another process
    holds the file; then ``DatabaseBusy`` with one line that says who holds it."""
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(database), read_only=read_only, config=config or {})
        except duckdb.IOException as error:
            if not is_lock_conflict(error):
                raise
            if time.monotonic() + delay > deadline:
                raise DatabaseBusy(
                    f"{database} is locked by {lock_holder(error)} and stayed locked for "
                    f"{wait_s:g} s: wait for that run to finish (or stop it) and try again"
                ) from error
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT; any error (or a kill) before the commit leaves the database as it was.

    A failed COMMIT (e.g. the write-ahead log could not be written) is rolled back by DuckDB
    itself; the error still propagates.
    """
    conn.begin()
    try:
        yield conn
    except BaseException:
        with suppress(duckdb.Error):
            conn.rollback()
        raise
    conn.commit()
