"""An empty result is a valid result everywhere: a timeframe with no candles runs through the
real market assets (with the stock IO manager it crashed on a table that was never created).

The snapshot: real hourly candles through the partition's day, real daily candles that end
twelve days before it (a source that stopped sending one timeframe).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb_pandas import DuckDBPandasIOManager

from crypto_assets.definitions import build_definitions
from crypto_assets.settings import load_settings
from crypto_assets_tests.fixtures import cut_snapshot


def _hourly_only_defs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dg.Definitions:
    coins = ["BTC/USDT", "ETH/USDT"]
    snapshot = cut_snapshot(
        tmp_path / "snap", coins, "2024-05-25", "2024-06-03", timeframes=("1h",)
    )
    cut_snapshot(snapshot, coins, "2024-05-01", "2024-05-20", timeframes=("1d",))  # ends early
    monkeypatch.setenv("CRYPTO_ASSETS_SOURCE", "snapshot")
    monkeypatch.setenv("CRYPTO_ASSETS_SNAPSHOT_DIR", str(snapshot))
    return build_definitions(load_settings())


def _run(defs: dg.Definitions, resources: dict) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        list(defs.assets or []),
        selection="group:market",
        partition_key="2024-06-01",
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_a_timeframe_with_no_candles_runs_through(
    project_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    defs = _hourly_only_defs(monkeypatch, tmp_path)
    result = _run(defs, dict(defs.resources))
    assert result.success
    daily = result.asset_materializations_for_node("ohlcv_daily")[0].metadata
    assert daily["rows"].value == 0
    with duckdb.connect(str(load_settings().resolved_duckdb_path), read_only=True) as conn:
        clean = conn.execute(
            "select timeframe, count(*) from crypto.clean_ohlcv group by 1"
        ).fetchall()
    assert clean == [("1h", 2 * 24)]


def test_the_stock_io_manager_crashed_on_it(
    project_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    defs = _hourly_only_defs(monkeypatch, tmp_path)
    stock = DuckDBPandasIOManager(
        database=str(load_settings().resolved_duckdb_path), schema="crypto"
    )
    result = _run(defs, {**defs.resources, "io_manager": stock})
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "ohlcv_daily does not exist" in str(failure.step_failure_data.error.to_string())
