"""DuckDB as Dagster resources: the IO manager every asset writes through (key ``io_manager``)
and a read handle on the same file for assets that must see stored history (key ``duckdb``).

A deployment swaps both for a warehouse through the same keys; the SQL lives in
``crypto_assets.storage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler, TableSlice
from dagster_duckdb import DuckDBIOManager, DuckDBResource
from dagster_duckdb_pandas import DuckDBPandasTypeHandler

from crypto_assets import storage
from crypto_assets.frames import utc


class _LoggedPandasTypeHandler(DuckDBPandasTypeHandler):
    """Stores a frame like the stock handler, then logs the write (rows may be 0: the stock
    handler creates no table for an empty frame, and ``status`` must still know it ran)."""

    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection
    ) -> None:
        super().handle_output(context, table_slice, obj, connection)
        if context.has_asset_partitions:
            keys = sorted(context.asset_partition_keys)
            partition = keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}"
        else:
            partition = "-"
        storage.record_materialization(
            connection, table_slice.table, partition, len(obj), context.run_id
        )


class LoggedDuckDBIOManager(DuckDBIOManager):
    """Pandas frames in DuckDB (one table per asset, a partition's rows replaced on each write),
    every write logged in ``crypto.materialization_log``."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [_LoggedPandasTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pd.DataFrame

    def create_io_manager(self, context: dg.InitResourceContext) -> DbIOManager:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        return super().create_io_manager(context)


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
