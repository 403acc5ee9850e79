"""DuckDB as a Dagster resource: a read handle on the pipeline's file for assets that must see
stored history (key ``duckdb``); the IO manager every asset writes through (key
``io_manager``) is ``resources.io_manager.AtomicDuckDBPandasIOManager``.

A deployment swaps both for a warehouse through the same keys; the SQL lives in
``crypto_assets.storage``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pandas as pd
from dagster_duckdb import DuckDBResource

from crypto_assets import storage
from crypto_assets.frames import utc


class DuckDBStore(DuckDBResource):
    """Read access to what the IO manager stored, for assets that see their own history
    (incremental fetches, the previous universe, feature look-backs) without rewriting it."""

    def _connection(self) -> AbstractContextManager:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        return self.get_connection()

    def read_table(self, table: str, where: str = "", params: list | None = None) -> pd.DataFrame:
        with self._connection() as conn:
            return storage.read_table(conn, table, where, params)

    def latest_candle_by_symbol(self, table: str) -> dict[str, pd.Timestamp]:
        with self._connection() as conn:
            return storage.latest_candle_by_symbol(conn, table)

    def first_candle_by_symbol(self, timeframe: str) -> dict[str, pd.Timestamp]:
        with self._connection() as conn:
            return storage.first_candle_by_symbol(conn, timeframe)

    def read_window(
        self, table: str, column: str, start: object, end: object, where: str = "", params=()
    ) -> pd.DataFrame:
        """Rows with ``start <= column < end`` (and ``where``), times as UTC."""
        clause = f'"{column}" >= ? and "{column}" < ?' + (f" and {where}" if where else "")
        bounds = [utc(start).to_pydatetime(), utc(end).to_pydatetime()]
        return self.read_table(table, clause, [*bounds, *params])
