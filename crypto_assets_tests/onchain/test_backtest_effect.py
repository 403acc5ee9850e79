"""The backtest's on-chain section on real data where the recordings overlap: the real Kraken
BTC/ETH candles of 2017-2018 against the recorded network metrics (ending 2018-02-20), through
`crypto-assets backtest` (JSON and table). Two coins: the product's rank IC is null with and
without the features, and the report says why instead of inventing a cross-section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crypto_assets.cli import _print_onchain_backtest, app
from crypto_assets_tests.fixtures import KRAKEN_BTC_ETH_DIR, cut_snapshot, point_environment
from crypto_assets_tests.onchain.replay import ONCHAIN_DIR


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    return cut_snapshot(
        tmp_path / "btc_eth",
        ["BTC/USD", "ETH/USD"],
        "2017-03-01",
        "2018-04-01",
        source=KRAKEN_BTC_ETH_DIR,
        timeframes=("1h",),
    )


def test_backtest_reports_coverage_and_the_change_on_the_overlap(
    snapshot: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("CRYPTO_ASSETS_MODEL_N_ESTIMATORS", "40")  # the real trainer, fewer trees
    monkeypatch.setenv("CRYPTO_ASSETS_ONCHAIN_DATA_DIR", str(ONCHAIN_DIR))
    args = ["backtest", "--snapshot", str(snapshot), "--horizons", "7d"]
    result = CliRunner().invoke(app, [*args, "--json"], catch_exceptions=False)
    capsys.readouterr()
    payload = json.loads(result.stdout)
    onchain = payload["onchain"]
    coverage = onchain["coverage"]["1d"]
    assert coverage["covered_coins"] == ["BTC/USD", "ETH/USD"]
    assert 0 < coverage["rows_with_features"] < coverage["rows"]  # candles run past 2018-02
    assert coverage["last"].startswith("2018-02-2")
    row = onchain["comparison"]["7d"]
    assert row["window"][1] == coverage["last"]
    assert "net_tx_logchg_7d" in row["onchain_columns"]
    assert "regime_btc_tx_logchg_7d" in row["onchain_columns"]
    without, with_ = row["without"], row["with"]
    assert without["n_predictions"] == with_["n_predictions"] > 0  # the same rows both ways
    assert without["rank_ic_mean"] is None and with_["rank_ic_mean"] is None
    assert row["rank_ic_mean_change"] is None and "no cross-section" in row["note"]
    for figures in (without, with_):
        assert -1 <= figures["two_coin_rank_ic"] <= 1
        assert set(figures["timeseries_ic_prob_up"]) == {"BTC/USD", "ETH/USD"}
        assert figures["independent_periods"] > 10
    change = with_["two_coin_rank_ic"] - without["two_coin_rank_ic"]
    assert row["two_coin_rank_ic_change"] == pytest.approx(change)
    _print_onchain_backtest(onchain)  # what the table form prints after the horizons
    table = capsys.readouterr().out
    assert "on-chain (1d): 2 of 2 coins have network features" in table
    assert "two-coin rank IC" in table and "no cross-section" in table


def test_backtest_without_the_onchain_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = cut_snapshot(
        tmp_path / "short",
        ["BTC/USD", "ETH/USD"],
        "2018-01-01",
        "2018-02-01",
        source=KRAKEN_BTC_ETH_DIR,
        timeframes=("1h",),
    )
    point_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("CRYPTO_ASSETS_ONCHAIN_DATA_DIR", str(tmp_path))  # nothing recorded
    args = ["backtest", "--snapshot", str(short), "--horizons", "30d", "--json"]
    payload = json.loads(CliRunner().invoke(app, args, catch_exceptions=False).stdout)
    assert "30d" in payload["skipped"]  # a month of candles cannot train a 30d model
    assert "no recorded network metrics" in payload["onchain"]["skipped"]
    no_onchain = json.loads(
        CliRunner().invoke(app, [*args, "--no-onchain"], catch_exceptions=False).stdout
    )
    assert "onchain" not in no_onchain
