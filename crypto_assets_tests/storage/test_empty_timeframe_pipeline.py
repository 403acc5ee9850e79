"""An empty timeframe is a valid result everywhere downstream: a snapshot of real Binance DAILY
candles only (no hourly file: a source that gives one timeframe) runs through the whole pipeline
(market data, features, labels, feature table, models, predictions, top list). Nothing crashes
on a table that was never filled; the hourly horizons say why they have no model; the daily ones
train from what exists."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from crypto_assets import storage
from crypto_assets.horizons import HORIZON_NAMES
from crypto_assets.market.snapshot import snapshot_day_range
from crypto_assets.runner import check_findings, run_pipeline
from crypto_assets_tests.fixtures import cut_snapshot, isolated_settings

COINS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT", "BCH/USDT", "LINK/USDT"]


def test_only_daily_candles_through_the_whole_pipeline(tmp_path: Path) -> None:
    snapshot = cut_snapshot(
        tmp_path / "snap", COINS, "2024-01-01", "2024-04-20", timeframes=("1d",)
    )
    settings = isolated_settings(
        tmp_path,
        profile="demo",
        source="snapshot",
        snapshot_dir=snapshot,
        model_n_estimators=40,
        model_max_ece=1.0,  # the plumbing is tested here, not calibration on 7 coins
    )
    first, last = snapshot_day_range(snapshot, settings.history_start)
    findings = []
    steps = run_pipeline(
        settings,
        first,
        last,
        progress=lambda message: None,
        skip_jobs=("sentiment_job",),
        on_result=lambda step, result: findings.extend(check_findings(result, step.job)),
    )
    assert [s.job for s, _ in steps][-1] == "risk_job"  # every job ran to its end
    with duckdb.connect(str(settings.resolved_duckdb_path), read_only=True) as conn:

        def timeframes(table: str) -> set[str]:
            return {
                r[0]
                for r in conn.execute(f"select distinct timeframe from crypto.{table}").fetchall()
            }

        for table in ("clean_ohlcv", "technical_features", "labels", "feature_table"):
            assert timeframes(table) == {"1d"}, table
        # no hourly candle was ever stored (an empty untyped result creates no table)
        assert not storage.table_exists(conn, "ohlcv_hourly") or (
            conn.execute("select count(*) from crypto.ohlcv_hourly").fetchone()[0] == 0
        )
        predicted = {
            r[0] for r in conn.execute("select distinct horizon from crypto.predictions").fetchall()
        }
        top_rows = conn.execute("select count(*) from crypto.top_coins").fetchone()[0]
    skipped = {
        f.partition or f.description.split(":")[1].strip(): f.description
        for f in findings
        if f.asset == "models" and "no model trained" in f.description
    }
    for horizon in ("1h", "24h"):
        assert any(f"{horizon}: no stored 1h features or labels" in d for d in skipped.values())
    assert predicted <= {"7d", "30d"}
    assert top_rows >= 0
    hourly = [f for f in findings if f.asset == "ohlcv_hourly"]
    assert {f.check for f in hourly} >= {"every_symbol_fetched", "source_status"}
    assert "has no 1h candles" in next(f.description for f in hourly if f.check == "source_status")
    assert set(HORIZON_NAMES) >= predicted
    assert pd.Timestamp(last) > pd.Timestamp(first)
