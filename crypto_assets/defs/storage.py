"""Read-only access to what the IO manager stored, for assets that must see their own history
(incremental fetches, the previous universe) without rewriting it."""

from __future__ import annotations

import pandas as pd
from dagster_duckdb import DuckDBResource

SCHEMA = "crypto"


def table_exists(duckdb: DuckDBResource, table: str) -> bool:
    with duckdb.get_connection() as conn:
        return bool(
            conn.execute(
                "select count(*) from information_schema.tables "
                "where table_schema=? and table_name=?",
                [SCHEMA, table],
            ).fetchone()[0]
        )


def read_table(
    duckdb: DuckDBResource, table: str, where: str = "", params: list | None = None
) -> pd.DataFrame:
    """Rows of ``crypto.<table>`` (empty frame when the table does not exist yet)."""
    if not table_exists(duckdb, table):
        return pd.DataFrame()
    with duckdb.get_connection() as conn:
        sql = f'select * from {SCHEMA}."{table}"' + (f" where {where}" if where else "")
        return conn.execute(sql, params or []).df()


def latest_candle_by_symbol(
    duckdb: DuckDBResource, table: str, timeframe: str | None = None
) -> dict[str, pd.Timestamp]:
    """The newest stored candle open time per symbol: where an incremental fetch resumes."""
    if not table_exists(duckdb, table):
        return {}
    with duckdb.get_connection() as conn:
        latest = conn.execute(
            f'select symbol, max(date) as date from {SCHEMA}."{table}" group by symbol'
        ).df()
    return {row.symbol: pd.Timestamp(row.date).tz_convert("UTC") for row in latest.itertuples()}


def delete_rows(duckdb: DuckDBResource, table: str, column: str, start, end) -> int:
    """Delete the rows of ``[start, end)`` on ``column`` (a partition emptied by a new run)."""
    if not table_exists(duckdb, table):
        return 0
    with duckdb.get_connection() as conn:
        sql = f'delete from {SCHEMA}."{table}" where "{column}" >= ? and "{column}" < ?'
        return conn.execute(
            sql, [pd.Timestamp(start).to_pydatetime(), pd.Timestamp(end).to_pydatetime()]
        ).fetchone()[0]
