"""Loading many files of keyed rows (the Kraken CSV backfill) as ONE transaction.

The rule, stated once: a backfill loads all of its files or none of them.
- Every file is parsed and row-checked by the caller first (``FileBatch``); rows that fail the
  row checks are rejected with reasons and never loaded, which does not fail the file.
- A file that cannot be used at all (unreadable, wrong name, no rows...) carries an ``error``:
  then nothing is written, and the report names that file and says every other file was left
  unloaded, so the user fixes or removes it and runs the same command again.
- Otherwise all files are written in one transaction: rows whose key is already stored are kept
  as stored (a stored value differing from the file's is counted as a conflict, never
  overwritten), new rows are inserted. An error on the way (a full disk, a type clash, a kill)
  rolls everything back, and the report says nothing was loaded and why.
Loading twice is harmless (the second run finds every row already stored), so "run it again"
is always the remedy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from crypto_assets.storage.connection import LOCK_WAIT_S, connect, transaction
from crypto_assets.storage.tables import (
    SCHEMA,
    add_missing_columns,
    create_table,
    first_line,
    qualified,
    quote,
    register_frame,
    storage_types,
    table_exists,
)

CANDLE_KEY = ("symbol", "date")
CANDLE_VALUES = ("open", "high", "low", "close", "volume")


@dataclass
class FileBatch:
    """One input file, prepared: its good rows (canonical frame) for ``table``, or an error."""

    name: str
    table: str
    rows: pd.DataFrame | None = None
    rejected: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass
class FileOutcome:
    """What happened to one file: ``status`` is "loaded", "failed" or "not loaded"."""

    name: str
    table: str
    status: str
    offered: int = 0
    loaded: int = 0
    already_stored: int = 0
    conflicts_kept_as_stored: int = 0
    rejected: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    reason: str = ""

    def line(self) -> str:
        """One line for the CLI summary."""
        if self.status != "loaded":
            return f"{self.name}: {self.status.upper()}: {self.reason}"
        text = (
            f"{self.name}: loaded {self.loaded} row(s) into {self.table}, "
            f"{self.already_stored} already stored"
        )
        if self.conflicts_kept_as_stored:
            text += f", {self.conflicts_kept_as_stored} differing from stored (kept as stored)"
        if self.rejected:
            reasons = "; ".join(f"{k} x{v}" for k, v in self.rejected_reasons.items())
            text += f", {self.rejected} rejected ({reasons})"
        return text


@dataclass
class BatchReport:
    """The whole backfill: ``committed`` says whether anything was written."""

    database: str
    committed: bool
    message: str
    files: list[FileOutcome]

    def lines(self) -> list[str]:
        return [self.message, *(f"  {outcome.line()}" for outcome in self.files)]


def _outcome(batch: FileBatch, status: str, reason: str = "") -> FileOutcome:
    return FileOutcome(
        name=batch.name,
        table=batch.table,
        status=status,
        offered=0 if batch.rows is None else len(batch.rows),
        rejected=batch.rejected,
        rejected_reasons=dict(batch.rejected_reasons),
        reason=reason,
    )


def _load_one(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    batch: FileBatch,
    key: Sequence[str],
    values: Sequence[str],
) -> FileOutcome:
    """Insert the batch's rows whose key is not stored yet; count stored ones and conflicts."""
    outcome = _outcome(batch, "loaded")
    rows = batch.rows if batch.rows is not None else pd.DataFrame()
    if rows.empty:
        return outcome
    conn.execute(f"create schema if not exists {quote(schema)}")
    types = storage_types(conn, rows)
    if table_exists(conn, schema, batch.table):
        add_missing_columns(conn, schema, batch.table, types)
    else:
        create_table(conn, schema, batch.table, types)
    table = qualified(schema, batch.table)
    view = register_frame(conn, rows.drop_duplicates())
    try:
        on = " and ".join(f"s.{quote(k)} = n.{quote(k)}" for k in key)
        differs = " or ".join(
            f"coalesce(abs(n.{quote(v)} - s.{quote(v)}) > 1e-8 + 1e-9 * abs(s.{quote(v)}), "
            f"(n.{quote(v)} is null) <> (s.{quote(v)} is null))"
            for v in values
        )
        stored, conflicts = conn.execute(
            f"select count(*), count(*) filter (where {differs}) "
            f"from {view} n join {table} s on {on}"
        ).fetchone()
        inserted = conn.execute(
            f"insert into {table} by name select * from {view} n "
            f"where not exists (select 1 from {table} s where {on})"
        ).fetchone()
    finally:
        conn.unregister(view)
    outcome.loaded = int(inserted[0]) if inserted else 0
    outcome.already_stored = int(stored) - int(conflicts)
    outcome.conflicts_kept_as_stored = int(conflicts)
    return outcome


def load_batches(
    database: str | Path,
    batches: Sequence[FileBatch],
    *,
    key: Sequence[str] = CANDLE_KEY,
    values: Sequence[str] = CANDLE_VALUES,
    schema: str = SCHEMA,
    wait_s: float = LOCK_WAIT_S,
) -> BatchReport:
    """Load every batch in one transaction, or none (the rule is in the module docstring)."""
    failed = [b for b in batches if b.error]
    if failed:
        names = ", ".join(b.name for b in failed)
        return BatchReport(
            database=str(database),
            committed=False,
            message=f"nothing loaded: {len(failed)} of {len(batches)} file(s) could not be used "
            f"({names}); fix or remove them and run the backfill again",
            files=[
                _outcome(b, "failed", b.error)
                if b.error
                else _outcome(b, "not loaded", f"valid, held back because {names} failed")
                for b in batches
            ],
        )
    try:
        conn = connect(database, wait_s=wait_s)
        try:
            with transaction(conn):
                outcomes = [_load_one(conn, schema, b, key, values) for b in batches]
        finally:
            conn.close()
    except Exception as error:
        reason = f"the write was rolled back ({first_line(error)})"
        return BatchReport(
            database=str(database),
            committed=False,
            message=f"nothing loaded from {len(batches)} file(s): {reason}; "
            "the stored rows are unchanged",
            files=[_outcome(b, "not loaded", reason) for b in batches],
        )
    loaded = sum(o.loaded for o in outcomes)
    return BatchReport(
        database=str(database),
        committed=True,
        message=f"loaded {loaded} new row(s) from {len(batches)} file(s) in one transaction",
        files=outcomes,
    )
