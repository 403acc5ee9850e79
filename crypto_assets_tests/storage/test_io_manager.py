"""The atomic IO manager under real ``dg.materialize`` runs: a drop-in for dagster-duckdb-pandas
(same tables, same reads), whose partition replace survives a failure between delete and insert
and treats an empty result as a valid one.

No ``from __future__ import annotations`` here: Dagster resolves the Config annotation itself.
"""

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb_pandas import DuckDBPandasIOManager

from crypto_assets.resources.io_manager import AtomicDuckDBPandasIOManager
from crypto_assets.storage import tables
from crypto_assets_tests.storage.helpers import DAYS, same_rows, stored

PARTITIONS = dg.DailyPartitionsDefinition(start_date=DAYS[0], end_date="2024-06-04")


class Rows(dg.Config):
    keep: int = -1  # -1: every candle of the day; 0: an empty (typed) result


def _graph(day_candles: dict[str, pd.DataFrame]) -> list[dg.AssetsDefinition]:
    @dg.asset(partitions_def=PARTITIONS, metadata={"partition_expr": "date"})
    def candles(context: dg.AssetExecutionContext, config: Rows) -> pd.DataFrame:
        frame = day_candles[context.partition_key].astype({"symbol": "string"})
        return frame if config.keep < 0 else frame.head(config.keep)

    @dg.asset(partitions_def=PARTITIONS, metadata={"partition_expr": "date"})
    def closes(candles: pd.DataFrame) -> pd.DataFrame:
        return candles[["symbol", "date", "close"]]

    return [candles, closes]


def _run(
    assets, io_manager, day: str, keep: int = -1, select: str = "*"
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        selection=select,
        partition_key=day,
        resources={"io_manager": io_manager},
        run_config={"ops": {"candles": {"config": {"keep": keep}}}} if select != "closes" else {},
        raise_on_error=False,
    )


def _atomic(database: Path) -> AtomicDuckDBPandasIOManager:
    return AtomicDuckDBPandasIOManager(database=str(database), schema="crypto")


def test_drop_in_for_the_stock_io_manager(tmp_path: Path, day_candles: dict) -> None:
    database = tmp_path / "dropin.duckdb"
    assets = _graph(day_candles)
    stock = DuckDBPandasIOManager(database=str(database), schema="crypto")
    for day in DAYS:  # tables written by the stock IO manager ...
        assert _run(assets, stock, day).success
    stock_closes = stored(database, DAYS[1], "closes")
    # ... are read and replaced by the atomic one: same rows downstream, same table
    assert _run(assets, _atomic(database), DAYS[1], select="closes").success
    assert same_rows(stored(database, DAYS[1], "closes"), stock_closes)
    result = _run(assets, _atomic(database), DAYS[1], keep=7)
    assert result.success
    meta = result.asset_materializations_for_node("candles")[0].metadata
    assert meta["dagster/partition_row_count"].value == 7
    assert meta["rows_replaced"].value == len(day_candles[DAYS[1]])
    assert (
        len(stored(database, DAYS[1], "candles")) == 7
        and len(stored(database, DAYS[1], "closes")) == 7
    )
    for other in (DAYS[0], DAYS[2]):
        assert same_rows(stored(database, other, "candles"), day_candles[other])


def test_empty_result_clears_the_partition(tmp_path: Path, day_candles: dict) -> None:
    database = tmp_path / "empty.duckdb"
    assets = _graph(day_candles)
    first = _run(assets, _atomic(database), DAYS[0], keep=0)  # first result ever: empty
    assert first.success
    with duckdb.connect(str(database)) as conn:  # the table exists, typed, with no rows
        assert conn.execute("select count(*) from crypto.candles").fetchone() == (0,)
    for day in DAYS:
        assert _run(assets, _atomic(database), day).success
    assert _run(assets, _atomic(database), DAYS[1], keep=0).success  # no candles today
    assert stored(database, DAYS[1], "candles").empty and stored(database, DAYS[1], "closes").empty
    for other in (DAYS[0], DAYS[2]):
        assert same_rows(stored(database, other, "candles"), day_candles[other])


def test_failure_between_delete_and_insert_fails_the_step_and_keeps_rows(
    tmp_path: Path, day_candles: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "fault.duckdb"
    assets = _graph(day_candles)
    assert _run(assets, _atomic(database), DAYS[2]).success

    def disk_full(*args: object) -> int:
        raise duckdb.IOException("IO Error: No space left on device")

    monkeypatch.setattr(tables, "insert_rows", disk_full)
    result = _run(assets, _atomic(database), DAYS[2], keep=3, select="candles")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.cause.message  # what the user reads
    assert "crypto.candles partition 2024-06-03" in message
    assert "rolled back, the stored rows are unchanged" in message
    assert "No space left on device" in message
    assert same_rows(stored(database, DAYS[2], "candles"), day_candles[DAYS[2]])


def test_static_and_multi_partitions_replace_only_their_cell(
    tmp_path: Path, day_candles: dict
) -> None:
    horizons = dg.StaticPartitionsDefinition(["1h", "24h"])
    cells = dg.MultiPartitionsDefinition({"date": PARTITIONS, "horizon": horizons})

    @dg.asset(partitions_def=horizons, metadata={"partition_expr": "horizon"})
    def fold_metrics(context: dg.AssetExecutionContext) -> pd.DataFrame:
        day = day_candles[DAYS[0]]
        return day.head(4 if context.partition_key == "1h" else 6).assign(
            horizon=context.partition_key
        )

    @dg.asset(
        partitions_def=cells,
        metadata={"partition_expr": {"date": "date", "horizon": "horizon"}},
    )
    def scores(context: dg.AssetExecutionContext) -> pd.DataFrame:
        key = context.partition_key.keys_by_dimension
        return day_candles[key["date"]].head(5).assign(horizon=key["horizon"])

    io_manager = _atomic(tmp_path / "static.duckdb")
    for key in ("1h", "24h", "1h"):
        assert dg.materialize(
            [fold_metrics], partition_key=key, resources={"io_manager": io_manager}
        ).success
    for key in (f"{DAYS[0]}|1h", f"{DAYS[0]}|24h", f"{DAYS[1]}|1h", f"{DAYS[0]}|1h"):
        assert dg.materialize(
            [scores], partition_key=key, resources={"io_manager": io_manager}
        ).success
    with duckdb.connect(str(tmp_path / "static.duckdb")) as conn:
        folds = conn.execute(
            "select horizon, count(*) from crypto.fold_metrics group by 1 order by 1"
        )
        assert folds.fetchall() == [("1h", 4), ("24h", 6)]
        cells_stored = conn.execute(
            "select strftime(date, '%Y-%m-%d'), horizon, count(*) from crypto.scores "
            "group by all order by 1, 2"
        ).fetchall()
    assert cells_stored == [(DAYS[0], "1h", 5), (DAYS[0], "24h", 5), (DAYS[1], "1h", 5)]


def test_reading_a_table_never_created_gives_an_empty_frame(tmp_path: Path) -> None:
    @dg.asset(partitions_def=PARTITIONS, metadata={"partition_expr": "date"})
    def nothing_yet() -> pd.DataFrame:
        return pd.DataFrame(columns=["symbol", "date"])  # untyped and empty: no table

    @dg.asset(partitions_def=PARTITIONS, metadata={"partition_expr": "date"})
    def downstream(nothing_yet: pd.DataFrame) -> pd.DataFrame:
        assert nothing_yet.empty
        return pd.DataFrame(
            {"symbol": ["-"], "date": [pd.Timestamp(DAYS[0], tz="UTC")], "rows": [len(nothing_yet)]}
        )

    result = dg.materialize(
        [nothing_yet, downstream],
        partition_key=DAYS[0],
        resources={"io_manager": _atomic(tmp_path / "none.duckdb")},
    )
    assert result.success
    assert stored(tmp_path / "none.duckdb", DAYS[0], "downstream")["rows"].tolist() == [0]
