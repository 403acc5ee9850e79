"""`crypto-assets backtest`: the JSON contract automated evaluation reads, on any snapshot."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from crypto_assets.cli import app
from crypto_assets_tests.fixtures import cut_snapshot

HORIZON_KEYS = {
    "n_folds",
    "n_predictions",
    "test_start",
    "test_end",
    "rank_ic_mean",
    "rank_ic_ir",
    "momentum_rank_ic_mean",
    "brier",
    "ece",
    "n_calls_at_80",
    "hit_rate_at_80",
    "top_decile_return",
    "equal_weight_return",
    "max_probability",  # added by "the signal edge", every earlier key kept
    "n_call_times_at_80",
    "models",  # added by the model zoo: each family's figures, the selected one and why
    "selected",
    "selection_reason",
    "nested_selection",  # the selection replayed on what was known before each block
}


def test_backtest_json_on_a_daily_only_snapshot(tmp_path: Path, monkeypatch) -> None:
    # two tree families judged, Optuna off: the zoo's keys at test speed
    monkeypatch.setenv("CRYPTO_ASSETS_MODEL_FAMILIES", "lightgbm,xgboost")
    monkeypatch.setenv("CRYPTO_ASSETS_MODEL_TUNING_SECONDS", "0")
    monkeypatch.setenv("CRYPTO_ASSETS_MODEL_N_ESTIMATORS", "60")
    snapshot = cut_snapshot(
        tmp_path / "daily_only", 12, "2024-01-01", "2024-09-07", timeframes=("1d",)
    )
    result = CliRunner().invoke(
        app,
        ["backtest", "--snapshot", str(snapshot), "--json", "--horizons", "1h,7d"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["snapshot"].endswith("daily_only")
    assert set(payload) == {"snapshot", "horizons", "skipped", "onchain"}
    assert "no overlap" in payload["onchain"]["comparison"]["7d"]["skipped"]  # 2024 vs 2018
    assert payload["onchain"]["coverage"]["1d"]["covered_coins"] == []
    assert set(payload["horizons"]) == {"7d"}
    assert set(payload["horizons"]["7d"]) == HORIZON_KEYS
    assert payload["horizons"]["7d"]["n_folds"] >= 1
    models = payload["horizons"]["7d"]["models"]
    assert set(models) == {"lightgbm", "xgboost", "ensemble"}
    assert payload["horizons"]["7d"]["selected"] in models
    assert all(m["device"] == "cpu" and m["fit_seconds"] > 0 for m in models.values())
    nested = payload["horizons"]["7d"]["nested_selection"]
    assert len(nested["choices"]) == payload["horizons"]["7d"]["n_folds"]
    assert nested["choices"][0]["chosen"] == "lightgbm"  # no evidence before the first block
    assert {c["chosen"] for c in nested["choices"]} <= set(models)
    assert "hourly" in payload["skipped"]["1h"]


def test_backtest_table_and_bad_snapshot(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_MODEL_FAMILIES", "lightgbm")
    monkeypatch.setenv("CRYPTO_ASSETS_MODEL_TUNING_SECONDS", "0")
    runner = CliRunner()
    missing = runner.invoke(app, ["backtest", "--snapshot", str(tmp_path / "nope")])
    assert missing.exit_code == 2  # a --snapshot without a snapshot: a bad command line
    assert "does not exist" in missing.output
    for bad in ("2d", "7d,", ""):  # a typo or an empty item: a bad command line, nothing run
        typo = runner.invoke(app, ["backtest", "--snapshot", str(tmp_path), "--horizons", bad])
        assert typo.exit_code == 2, (bad, typo.output)
        assert "choose some of 1h,24h,7d,30d" in typo.output
    snapshot = cut_snapshot(tmp_path / "s", 6, "2024-01-01", "2024-06-01", timeframes=("1d",))
    table = runner.invoke(app, ["backtest", "--snapshot", str(snapshot), "--horizons", "7d"])
    assert table.exit_code == 0, table.output
    assert "Walk-forward backtest" in table.output
