"""The backtest on small real snapshots cut from binance_2024 into the standard layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crypto_assets.ml.backtest import SUMMARY_KEYS, run_backtest
from crypto_assets_tests.fixtures import BINANCE_DIR, cut_snapshot
from crypto_assets_tests.ml.conftest import small_config


@pytest.fixture(autouse=True)
def _needs_data() -> None:
    if not (BINANCE_DIR / "ohlcv_1d.parquet").exists():
        pytest.skip("real market data not found")


def test_daily_only_snapshot_runs_daily_horizons_and_skips_hourly(tmp_path: Path) -> None:
    snap = cut_snapshot(tmp_path / "snap", 25, "2024-01-01", "2024-09-07", timeframes=("1d",))
    messages: list[str] = []
    result = run_backtest(snap, config=small_config(), progress=messages.append)
    json.dumps(result, allow_nan=False)  # JSON-safe: no NaN anywhere
    assert set(result) == {"snapshot", "horizons", "skipped"}
    assert result["snapshot"] == str(snap)
    assert set(result["horizons"]) == {"7d", "30d"}
    assert set(result["skipped"]) == {"1h", "24h"}
    assert all("hourly" in reason for reason in result["skipped"].values())
    for figures in result["horizons"].values():
        assert list(figures) == SUMMARY_KEYS
        assert figures["n_folds"] >= 3 and figures["n_predictions"] > 1000
        assert figures["test_start"] < figures["test_end"]
        assert -1 <= figures["rank_ic_mean"] <= 1
        assert 0 <= figures["ece"] <= 1 and 0 <= figures["brier"] <= 1
        assert figures["hit_rate_at_80"] is None or 0 <= figures["hit_rate_at_80"] <= 1
    assert any("done" in m for m in messages)


def test_short_hourly_snapshot_skips_what_it_cannot_evaluate(tmp_path: Path) -> None:
    # 75 days of hourly candles only: 24h has folds; daily views are resampled; 30d cannot run
    snap = cut_snapshot(tmp_path / "snap", 8, "2024-03-01", "2024-05-15", timeframes=("1h",))
    result = run_backtest(snap, horizons=["24h", "7d", "30d"], config=small_config())
    json.dumps(result, allow_nan=False)
    assert set(result["horizons"]) == {"24h", "7d"}
    assert "walk-forward needs" in result["skipped"]["30d"]


def test_unknown_horizon_is_refused(tmp_path: Path) -> None:
    snap = cut_snapshot(tmp_path / "snap", 3, "2024-01-01", "2024-02-01", timeframes=("1d",))
    with pytest.raises(ValueError, match="unknown horizon"):
        run_backtest(snap, horizons=["2w"])
