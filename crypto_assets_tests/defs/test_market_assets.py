"""The market assets materialized for real: Dagster instance, DuckDB file, snapshot source."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from crypto_assets.definitions import build_definitions
from crypto_assets.runner import run_job
from crypto_assets.settings import Settings
from crypto_assets_tests.fixtures import cut_snapshot


def _snapshot_settings(project_env: Settings, snapshot: Path) -> Settings:
    return project_env.model_copy(update={"source": "snapshot", "snapshot_dir": snapshot})


def _market(
    defs: dg.Definitions, first: str, last: str, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    return run_job(defs, "market_job", instance, profile="live", day_range=(first, last))


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    out = {}
    for evaluation in result.get_asset_check_evaluations():
        out[f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"] = {
            "passed": evaluation.passed,
            "metadata": {k: v.value for k, v in evaluation.metadata.items()},
        }
    return out


def test_market_range_then_incremental(project_env: Settings, tmp_path: Path) -> None:
    # ZK/USDT lists on 2024-06-17 in the real data: the universe check must name it
    snapshot = cut_snapshot(
        tmp_path / "snap", ["BTC/USDT", "ETH/USDT", "ZK/USDT"], "2024-06-01", "2024-06-20"
    )
    settings = _snapshot_settings(project_env, snapshot)
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    first = _market(defs, "2024-06-10", "2024-06-16", instance)
    checks = _checks(first)
    assert checks["ohlcv_hourly:ohlcv_schema"]["passed"]
    assert checks["ohlcv_daily:ohlcv_schema"]["passed"]
    assert checks["clean_ohlcv:clean_schema"]["passed"]
    assert checks["ohlcv_hourly:source_status"]["metadata"]["status"] == "replay"
    meta = first.asset_materializations_for_node("ohlcv_hourly")[0].metadata
    assert meta["coins"].value == 2 and meta["rows"].value == 2 * 7 * 24
    assert "snapshot" in meta["source"].value

    second = _market(defs, "2024-06-17", "2024-06-18", instance)
    universe = _checks(second)["exchange_markets:universe_changes"]["metadata"]
    assert "ZK/USDT" in universe["appeared_symbols"]
    hourly_meta = second.asset_materializations_for_node("ohlcv_hourly")[0].metadata
    assert hourly_meta["coins"].value == 3

    # re-running a stored range fetches nothing new and keeps every stored row
    again = _market(defs, "2024-06-10", "2024-06-16", instance)
    assert again.asset_materializations_for_node("ohlcv_hourly")[0].metadata["new_rows"].value == 0
    with duckdb.connect(str(settings.resolved_duckdb_path), read_only=True) as conn:
        hourly = conn.execute(
            "select count(*), count(distinct (symbol, date)) from crypto.ohlcv_hourly"
        ).fetchone()
        clean = conn.execute(
            "select timeframe, count(*) from crypto.clean_ohlcv group by timeframe order by 1"
        ).fetchall()
        quality = conn.execute(
            "select symbol, excluded, reason from crypto.data_quality where day = '2024-06-17' "
            "and timeframe = '1h' order by symbol"
        ).fetchall()
    assert hourly[0] == hourly[1] == 2 * 7 * 24 + (2 * 48 + 38)  # ZK starts 2024-06-17 10:00
    assert dict(clean) == {"1d": 2 * 7 + 2 * 2 + 2, "1h": hourly[0]}
    assert [q[0] for q in quality] == ["BTC/USDT", "ETH/USDT", "ZK/USDT"]
    assert not any(q[1] for q in quality)


def test_corrupt_snapshot_is_reported_not_cleaned(project_env: Settings, tmp_path: Path) -> None:
    snapshot = cut_snapshot(tmp_path / "snap", ["BTC/USDT", "ETH/USDT"], "2024-06-01", "2024-06-05")
    hourly = pd.read_parquet(snapshot / "ohlcv_1h.parquet")
    row = hourly.index[(hourly["symbol"] == "ETH/USDT")][30]
    hourly.loc[row, "high"] = hourly.loc[row, "low"] / 2  # high < low: corrupt
    hourly.to_parquet(snapshot / "ohlcv_1h.parquet")
    settings = _snapshot_settings(project_env, snapshot)
    result = _market(
        build_definitions(settings), "2024-06-01", "2024-06-04", dg.DagsterInstance.ephemeral()
    )
    checks = _checks(result)
    assert not checks["ohlcv_hourly:ohlcv_schema"]["passed"]
    with duckdb.connect(str(settings.resolved_duckdb_path), read_only=True) as conn:
        raw = conn.execute(
            "select count(*) from crypto.ohlcv_hourly where symbol='ETH/USDT'"
        ).fetchone()[0]
        clean_days = conn.execute(
            "select distinct date_trunc('day', date) from crypto.clean_ohlcv "
            "where symbol='ETH/USDT' and timeframe='1h' order by 1"
        ).fetchall()
        reason = conn.execute(
            "select reason from crypto.data_quality where symbol='ETH/USDT' and timeframe='1h' "
            "and excluded"
        ).fetchall()
    assert raw == 96  # the raw table keeps what the source sent: reported, not dropped
    assert len(clean_days) == 1  # only the day before the corrupt candle is clean
    assert reason and all("high < max(open, close)" in r[0] for r in reason)
