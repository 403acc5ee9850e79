"""Replacing a slice of a DuckDB table in ONE transaction, with column types pinned.

Why: deleting a partition's rows and inserting the new ones as two autocommitted statements
(what dagster-duckdb does) leaves the partition empty when anything fails between them: a full
disk, a killed process, a type error. Here the delete and the insert commit together or not at
all, an empty frame is a valid result (it clears the slice, in the same transaction), and a
table is only ever created with definite column types (never DuckDB's ``NULL`` type, never an
``ENUM`` frozen to today's categories).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from crypto_assets.storage.connection import LOCK_WAIT_S, connect, transaction

SCHEMA = "crypto"
_views = count()


class StorageWriteError(RuntimeError):
    """A write that failed and was rolled back: the stored rows are unchanged."""


@dataclass(frozen=True)
class Replaced:
    """What one replace did: rows deleted from the slice, rows inserted, table created."""

    deleted: int
    inserted: int
    created: bool


def quote(name: str) -> str:
    """A SQL identifier, quoted (table and column names come from asset keys and frames)."""
    return '"' + str(name).replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{quote(schema)}.{quote(table)}"


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Checked, not tried: inside a transaction a failed statement aborts the whole transaction."""
    found = conn.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


def table_columns(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of a stored table, in table order."""
    rows = conn.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return {name: sqltype for name, sqltype in rows}


def register_frame(conn: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> str:
    view = f"_incoming_rows_{next(_views)}"
    conn.register(view, frame)
    return view


def storage_types(conn: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> dict[str, str | None]:
    """The DuckDB type each column of ``frame`` is stored as; ``None`` where the frame cannot
    tell (an ``object`` column of an empty frame: text, numbers, anything).

    Pinned: an all-missing ``object`` column of a non-empty frame is text (VARCHAR), and a
    categorical is text too (an ENUM column would reject tomorrow's new category).
    """
    view = register_frame(conn, frame)
    try:
        described = conn.execute(f"describe select * from {view}").fetchall()
    finally:
        conn.unregister(view)
    types: dict[str, str | None] = {}
    for name, sqltype, *_ in described:
        if sqltype.startswith("ENUM("):
            sqltype = "VARCHAR"
        if sqltype == '"NULL"':
            sqltype = "VARCHAR" if len(frame) else None
        types[name] = sqltype
    return types


def delete_rows(
    conn: duckdb.DuckDBPyConnection, schema: str, table: str, where: str, params: Sequence[Any]
) -> int:
    """Delete the slice (the whole table when ``where`` is empty); returns the rows deleted."""
    sql = f"delete from {qualified(schema, table)}" + (f" where {where}" if where else "")
    deleted = conn.execute(sql, list(params)).fetchone()
    return int(deleted[0]) if deleted else 0


def add_missing_columns(
    conn: duckdb.DuckDBPyConnection, schema: str, table: str, types: dict[str, str | None]
) -> list[str]:
    """Add (typed) the columns a new frame brings that the stored table lacks."""
    stored = table_columns(conn, schema, table)
    added = [name for name in types if name not in stored]
    for name in added:
        conn.execute(
            f"alter table {qualified(schema, table)} add column {quote(name)} "
            f"{types[name] or 'VARCHAR'}"
        )
    return added


def insert_rows(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    frame: pd.DataFrame,
    types: dict[str, str | None],
) -> int:
    """Insert ``frame`` by column name; columns the table lacks are added first (typed)."""
    add_missing_columns(conn, schema, table, types)
    view = register_frame(conn, frame)
    try:
        conn.execute(f"insert into {qualified(schema, table)} by name select * from {view}")
    finally:
        conn.unregister(view)
    return len(frame)


def _row_count(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> int:
    found = conn.execute(f"select count(*) from {qualified(schema, table)}").fetchone()
    return int(found[0]) if found else 0


def create_table(
    conn: duckdb.DuckDBPyConnection, schema: str, table: str, types: dict[str, str | None]
) -> None:
    """(Re)create ``schema.table`` with exactly these column types (all must be known)."""
    columns = ", ".join(f"{quote(name)} {sqltype}" for name, sqltype in types.items())
    conn.execute(f"create or replace table {qualified(schema, table)} ({columns})")


def replace_rows(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    frame: pd.DataFrame,
    where: str = "",
    params: Sequence[Any] = (),
) -> Replaced:
    """Make the slice ``where`` of ``schema.table`` hold exactly ``frame``'s rows.

    Call inside ``transaction(conn)``: the delete and the insert then commit together. An empty
    frame clears the slice. ``where`` empty means the whole table, which is then re-created
    with the frame's own column types. A table is created only when every column's type is
    known (an empty frame of untyped columns clears rows but creates nothing).
    """
    conn.execute(f"create schema if not exists {quote(schema)}")
    types = storage_types(conn, frame)
    known = bool(types) and all(types.values())
    exists = table_exists(conn, schema, table)
    if not where and known:  # the whole table: the frame defines it
        deleted = _row_count(conn, schema, table) if exists else 0
        create_table(conn, schema, table, types)
        inserted = insert_rows(conn, schema, table, frame, types)
        return Replaced(deleted=deleted, inserted=inserted, created=not exists)
    created = False
    if not exists:
        if not known:
            return Replaced(deleted=0, inserted=0, created=False)
        create_table(conn, schema, table, types)
        created = True
    deleted = delete_rows(conn, schema, table, where, params)
    inserted = insert_rows(conn, schema, table, frame, types) if len(frame) else 0
    return Replaced(deleted=deleted, inserted=inserted, created=created)


def first_line(error: BaseException) -> str:
    """The first line of an error message (DuckDB adds caret diagrams and hints below it)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".strip()


def write_failed(target: str, error: BaseException) -> StorageWriteError:
    """The one-line error a user reads when a write was rolled back."""
    return StorageWriteError(
        f"writing {target} failed and was rolled back, the stored rows are unchanged "
        f"({first_line(error)})"
    )


def replace_partition(
    database: str | Path,
    table: str,
    frame: pd.DataFrame,
    where: str = "",
    params: Sequence[Any] = (),
    *,
    schema: str = SCHEMA,
    wait_s: float = LOCK_WAIT_S,
) -> Replaced:
    """Open ``database`` as its writer and replace one slice atomically (for code outside
    Dagster; assets get the same through the IO manager)."""
    conn = connect(database, wait_s=wait_s)
    try:
        with transaction(conn):
            return replace_rows(conn, schema, table, frame, where, params)
    except Exception as error:
        slice_text = f" where {where}" if where else ""
        raise write_failed(f"{schema}.{table}{slice_text}", error) from error
    finally:
        conn.close()
