"""The project's DuckDB storage, as plain SQL over a connection (no Dagster): what the IO manager
wrote, read back by assets that must see stored history, by ``status`` and by the CSV backfill.

Tables live in schema ``crypto``, one per asset, named like the asset. ``materialization_log``
records every write of the IO manager (also empty ones, which create no table), so ``status``
can tell "materialized, 0 rows" from "never materialized".
"""

from __future__ import annotations

import duckdb
import pandas as pd

from crypto_assets.frames import utc
from crypto_assets.storage.tables import SCHEMA

LOG_TABLE = "materialization_log"


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    """Every row of a statement, so no unfinished result blocks the connection's next call."""
    return conn.execute(sql, params or []).fetchall()


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    rows = _rows(
        conn,
        "select count(*) from information_schema.tables where table_schema=? and table_name=?",
        [SCHEMA, table],
    )
    return bool(rows[0][0])


def read_table(
    conn: duckdb.DuckDBPyConnection, table: str, where: str = "", params: list | None = None
) -> pd.DataFrame:
    """Rows of ``crypto.<table>`` (an empty frame when the table does not exist yet)."""
    if not table_exists(conn, table):
        return pd.DataFrame()
    sql = f'select * from {SCHEMA}."{table}"' + (f" where {where}" if where else "")
    return conn.execute(sql, params or []).df()


def latest_candle_by_symbol(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, pd.Timestamp]:
    """The newest stored candle open time per symbol: where an incremental fetch resumes."""
    if not table_exists(conn, table):
        return {}
    latest = conn.execute(
        f'select symbol, max(date) as date from {SCHEMA}."{table}" group by symbol'
    ).df()
    return {row.symbol: utc(row.date) for row in latest.itertuples()}


def first_candle_by_symbol(
    conn: duckdb.DuckDBPyConnection, timeframe: str
) -> dict[str, pd.Timestamp]:
    """The oldest stored clean candle per symbol of one timeframe (a coin's listing as far as
    the data know): what ``days_since_first_candle`` counts from, whatever window is read."""
    if not table_exists(conn, "clean_ohlcv"):
        return {}
    first = conn.execute(
        f"select symbol, min(date) as date from {SCHEMA}.clean_ohlcv where timeframe = ? "
        "group by symbol",
        [timeframe],
    ).df()
    return {row.symbol: utc(row.date) for row in first.itertuples()}


def insert_new_rows(
    conn: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame, key: list[str]
) -> int:
    """Insert the rows whose ``key`` is not stored yet (creating the table if needed); stored
    rows are never overwritten. Returns how many rows were inserted."""
    _rows(conn, f"create schema if not exists {SCHEMA}")
    name = f'{SCHEMA}."{table}"'
    if not table_exists(conn, table):
        if rows.empty:
            return 0
        conn.register("_new_rows", rows)
        _rows(conn, f"create table {name} as select * from _new_rows")
        conn.unregister("_new_rows")
        return len(rows)
    conn.register("_new_rows", rows)
    on = " and ".join(f'n."{k}" = s."{k}"' for k in key)
    inserted = _rows(
        conn,
        f"insert into {name} by name select n.* from _new_rows n "
        f"where not exists (select 1 from {name} s where {on})",
    )
    conn.unregister("_new_rows")
    return int(inserted[0][0]) if inserted else 0


def record_materialization(
    conn: duckdb.DuckDBPyConnection, asset: str, partition: str, rows: int, run_id: str
) -> None:
    """One line per write of an asset (partition ``"-"`` when unpartitioned)."""
    _rows(conn, f"create schema if not exists {SCHEMA}")
    _rows(
        conn,
        f"create table if not exists {SCHEMA}.{LOG_TABLE} (asset varchar, partition varchar, "
        "rows bigint, materialized_at timestamptz, run_id varchar)",
    )
    _rows(
        conn,
        f"insert into {SCHEMA}.{LOG_TABLE} values (?, ?, ?, ?, ?)",
        [asset, partition, rows, pd.Timestamp.now(tz="UTC").to_pydatetime(), run_id],
    )


def latest_materializations(conn: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """Per asset, its newest write: partition, rows, materialized_at, run_id."""
    if not table_exists(conn, LOG_TABLE):
        return {}
    frame = conn.execute(
        f"select * from {SCHEMA}.{LOG_TABLE} qualify row_number() over "
        "(partition by asset order by materialized_at desc) = 1"
    ).df()
    return {
        row["asset"]: {**row, "materialized_at": utc(row["materialized_at"])}
        for row in frame.to_dict("records")
    }
