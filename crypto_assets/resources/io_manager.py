"""The DuckDB pandas IO manager whose partition writes are atomic (the Dagster side of
``crypto_assets.storage``, which holds the logic and never imports Dagster).

A drop-in for ``dagster_duckdb_pandas.DuckDBPandasIOManager`` under the ``io_manager`` key:
same config (``database``, ``schema``, ``connection_config``), same ``partition_expr`` metadata
(time-window, static and multi-partitions), same table naming. What differs, and why:

- the delete of a partition's rows and the insert of the new ones are ONE transaction (upstream
  autocommits each: a crash or a full disk between them emptied the partition);
- an empty frame is a valid result: it clears the partition (upstream skipped it, leaving stale
  rows, so assets had to delete their own rows) and creates the table when its columns are typed;
- tables get pinned column types (no ``NULL``-typed column from an all-missing first write) and
  rows are inserted by column name (upstream inserted by position);
- reading a table that was never created gives an empty frame, not a crash;
- waiting for another process's lock is bounded and ends in one line naming that process;
- every write, an empty one included, is logged in ``crypto.materialization_log`` in the same
  transaction, so ``status`` can tell "materialized, 0 rows" from "never materialized".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
from dagster._core.definitions.metadata import TableMetadataSet

# the DbIOManager machinery (table slices, partition dimensions) is what dagster-duckdb builds on
from dagster._core.storage.db_io_manager import DbClient, DbIOManager, DbTypeHandler, TableSlice
from dagster_duckdb import DuckDBIOManager
from pydantic import Field

from crypto_assets.storage.connection import LOCK_WAIT_S, connect, transaction
from crypto_assets.storage.queries import record_materialization
from crypto_assets.storage.tables import (
    qualified,
    quote,
    replace_rows,
    table_exists,
    write_failed,
)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def slice_filter(table_slice: TableSlice) -> tuple[str, list[Any]]:
    """(where, params) selecting the slice's partitions: bound parameters, never formatted
    values; time windows compared as UTC instants whatever the session's time zone."""
    parts: list[str] = []
    params: list[Any] = []
    for dimension in table_slice.partition_dimensions or []:
        expr = dimension.partition_expr
        if isinstance(dimension.partitions, dg.TimeWindow):
            start, end = dimension.partitions
            parts.append(f"{expr} >= ? and {expr} < ?")
            params += [_utc(start), _utc(end)]
        elif dimension.partitions:
            keys = list(dimension.partitions)
            parts.append(f"{expr} in ({', '.join('?' for _ in keys)})")
            params += keys
        else:
            parts.append("false")
    return " and ".join(f"({part})" for part in parts), params


def select_sql(table_slice: TableSlice) -> tuple[str, list[Any]]:
    columns = ", ".join(quote(c) for c in table_slice.columns) if table_slice.columns else "*"
    where, params = slice_filter(table_slice)
    sql = f"select {columns} from {qualified(table_slice.schema, table_slice.table)}"
    return (f"{sql} where {where}" if where else sql), params


def _render(sql: str, params: Sequence[Any]) -> str:
    """The query with its parameters written in, for the UI's "Query" metadata only."""
    for value in params:
        text = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
        sql = sql.replace("?", "'" + text.replace("'", "''") + "'", 1)
    return sql


class AtomicDuckDbClient(DbClient):
    """Connections with a bounded lock wait; the delete happens in the type handler, inside the
    same transaction as the insert, so ``delete_table_slice`` deliberately does nothing."""

    @staticmethod
    def delete_table_slice(context: dg.OutputContext, table_slice: TableSlice, connection) -> None:
        return None

    @staticmethod
    def ensure_schema_exists(
        context: dg.OutputContext, table_slice: TableSlice, connection
    ) -> None:
        connection.execute(f"create schema if not exists {quote(table_slice.schema)}")

    @staticmethod
    def get_select_statement(table_slice: TableSlice) -> str:
        return _render(*select_sql(table_slice))

    @staticmethod
    @contextmanager
    def connect(context, table_slice: TableSlice) -> Iterator[duckdb.DuckDBPyConnection]:
        resource_config = context.resource_config
        conn = connect(
            resource_config["database"],
            wait_s=resource_config.get("lock_wait_s", LOCK_WAIT_S),
            config={"custom_user_agent": "dagster", **resource_config["connection_config"]},
        )
        try:
            yield conn
        finally:
            conn.close()


def _slice_name(table_slice: TableSlice, context: dg.OutputContext) -> str:
    name = f"{table_slice.schema}.{table_slice.table}"
    if context.has_partition_key:
        keys = context.asset_partition_keys
        return f"{name} partition {keys[0]}" + (f"..{keys[-1]}" if len(keys) > 1 else "")
    return name


def _partition_label(context: dg.OutputContext) -> str:
    if not context.has_asset_partitions:
        return "-"
    keys = sorted(context.asset_partition_keys)
    return keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}"


class AtomicPandasTypeHandler(DbTypeHandler[pd.DataFrame]):
    """Stores a DataFrame as the exact new content of its slice, in one transaction."""

    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection
    ) -> Mapping[str, Any]:
        where, params = slice_filter(table_slice)
        try:
            with transaction(connection):
                replaced = replace_rows(
                    connection, table_slice.schema, table_slice.table, obj, where, params
                )
                record_materialization(
                    connection,
                    table_slice.table,
                    _partition_label(context),
                    len(obj),
                    context.run_id,
                )
        except Exception as error:
            raise write_failed(_slice_name(table_slice, context), error) from error
        if obj.empty:
            stored = table_exists(connection, table_slice.schema, table_slice.table)
            context.log.info(
                f"{_slice_name(table_slice, context)}: empty result, {replaced.deleted} stored "
                "row(s) of the slice cleared"
                + ("" if stored else "; no table created (the frame's columns are untyped)")
            )
        counts = (
            TableMetadataSet(partition_row_count=len(obj), storage_kind="duckdb")
            if context.has_partition_key
            else TableMetadataSet(row_count=len(obj), storage_kind="duckdb")
        )
        return {
            **counts,
            "rows_replaced": replaced.deleted,
            "dataframe_columns": dg.MetadataValue.table_schema(
                dg.TableSchema(
                    columns=[
                        dg.TableColumn(name=str(name), type=str(dtype))
                        for name, dtype in obj.dtypes.items()
                    ]
                )
            ),
        }

    def load_input(
        self, context: dg.InputContext, table_slice: TableSlice, connection
    ) -> pd.DataFrame:
        if table_slice.partition_dimensions and len(context.asset_partition_keys) == 0:
            return pd.DataFrame()
        if not table_exists(connection, table_slice.schema, table_slice.table):
            context.log.warning(
                f"{table_slice.schema}.{table_slice.table} does not exist yet: read as empty"
            )
            return pd.DataFrame()
        sql, params = select_sql(table_slice)
        return connection.execute(sql, params).fetchdf()

    @property
    def supported_types(self) -> Sequence[type]:
        return [pd.DataFrame]


class AtomicDuckDBPandasIOManager(DuckDBIOManager):
    """``DuckDBPandasIOManager`` with atomic partition replaces (see the module docstring)."""

    lock_wait_s: float = Field(
        default=LOCK_WAIT_S,
        description="Seconds to wait while another process holds the database file.",
    )

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [AtomicPandasTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pd.DataFrame

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            db_client=AtomicDuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
            io_manager_name="AtomicDuckDBPandasIOManager",
        )
