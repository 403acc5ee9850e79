"""Training, honest walk-forward evaluation and the saved model, on real daily Binance candles."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crypto_assets.horizons import HORIZONS
from crypto_assets.ml.training import (
    OOF_COLUMNS,
    Dataset,
    HorizonModel,
    InsufficientDataError,
    build_dataset,
    lightgbm_device,
    train_final,
    walk_forward_evaluate,
)
from crypto_assets_tests.ml.conftest import read_binance, small_config

H7 = HORIZONS["7d"]


_small = small_config


@pytest.fixture(scope="module")
def report_7d(dataset_7d: Dataset):
    return walk_forward_evaluate(dataset_7d, H7, _small())


def test_dataset_separates_labelled_and_live_rows(dataset_7d: Dataset, daily_40) -> None:
    labelled, live = dataset_7d.labelled, dataset_7d.live
    assert dataset_7d.momentum_column == "ret_7d"
    assert any(c.endswith("_xrank") for c in dataset_7d.features)
    last_close = daily_40["date"].max() + pd.Timedelta(days=1)
    assert (labelled["label_end"] <= last_close).all()
    assert labelled["y_return"].notna().all()
    assert "y_return" not in live.columns
    # live = the last 7 days of candles, whose exit candle does not exist yet
    assert live["date"].min() > labelled["date"].max() - pd.Timedelta(days=1)
    assert live["date"].max() == daily_40["date"].max()


def test_daily_horizon_is_built_from_hourly_when_no_daily_file() -> None:
    hourly = read_binance("1h", 6)
    hourly = hourly[hourly["date"] < pd.Timestamp("2024-03-01", tz="UTC")]
    ds = build_dataset({"1h": hourly}, H7)
    assert ds.timeframe == "1d" and len(ds.labelled) > 6 * 40
    with pytest.raises(InsufficientDataError, match="no 1h candles"):
        build_dataset({"1d": hourly.iloc[:0]}, HORIZONS["24h"])


def test_walk_forward_report(report_7d, dataset_7d: Dataset) -> None:
    report = report_7d
    assert report.n_folds >= 5
    assert list(report.oof.columns[: len(OOF_COLUMNS)]) == OOF_COLUMNS
    assert "momentum" in report.oof.columns
    assert report.oof[["pred_return", "prob_raw", "prob_calibrated"]].notna().all().all()
    assert report.oof["prob_calibrated"].between(0, 1).all()
    overall = report.overall
    for key in ("rank_ic_mean", "momentum_rank_ic_mean", "brier", "ece", "top_decile_return"):
        assert np.isfinite(overall[key]), key
    assert overall["n_predictions"] == len(report.oof)
    # the first fold has no earlier out-of-fold predictions: nested calibration; later ones do
    sources = [f["calibration_source"] for f in report.folds]
    assert sources[0] == "nested" and sources[-1] == "earlier_oof"
    # no test row predates its fold's start and all folds train on data before it
    for fold in report.folds:
        assert fold["train_end"] <= fold["test_start"] - H7.duration


def test_test_fold_probabilities_never_see_their_own_labels(report_7d, dataset_7d: Dataset) -> None:
    """Changing the labels of the last test block must not change any prediction made for it;
    changing labels of an early block must change later predictions (the test can fail)."""
    oof = report_7d.oof
    last = oof["fold"].max()
    last_start = report_7d.folds[-1]["test_start"]

    def rerun_with_flipped(mask: pd.Series) -> pd.DataFrame:
        labelled = dataset_7d.labelled.copy()
        labelled.loc[mask, "y_return"] = -labelled.loc[mask, "y_return"]
        changed = dataclasses.replace(dataset_7d, labelled=labelled)
        return walk_forward_evaluate(changed, H7, _small()).oof

    flipped_last = rerun_with_flipped(dataset_7d.labelled["date"] >= last_start)
    cols = ["pred_return", "prob_raw", "prob_calibrated"]
    pd.testing.assert_frame_equal(oof[cols], flipped_last[cols])

    first_start = report_7d.folds[0]["test_start"]
    early = (dataset_7d.labelled["date"] >= first_start) & (
        dataset_7d.labelled["date"] < first_start + pd.Timedelta(days=30)
    )
    flipped_early = rerun_with_flipped(early)
    later = oof["fold"] == last
    assert not np.allclose(
        oof.loc[later, "prob_calibrated"], flipped_early.loc[later, "prob_calibrated"]
    )


def test_final_model_predicts_saves_and_loads(
    report_7d, dataset_7d: Dataset, tmp_path: Path
) -> None:
    model = train_final(dataset_7d, H7, _small(), report_7d.oof)
    assert model.calibrator.method == "isotonic"  # thousands of OOF rows
    assert model.trained_to == dataset_7d.labelled["date"].max()
    live = dataset_7d.live
    pred = model.predict(live)
    assert list(pred.columns) == ["symbol", "date", "expected_return", "probability"]
    assert len(pred) == len(live) and pred["probability"].between(0, 1).all()
    assert pred["expected_return"].std() > 0  # a real model, not a constant
    model.save(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {
        "regressor.txt",
        "classifier.txt",
        "meta.json",
    }
    loaded = HorizonModel.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(live), pred)
    with pytest.raises(ValueError, match="lacks columns"):
        model.predict(live.drop(columns=[model.features[0]]))
    with pytest.raises(FileNotFoundError):
        HorizonModel.load(tmp_path / "nothing")


def test_too_little_history_is_a_clear_error(daily_40) -> None:
    short = daily_40[daily_40["date"] < pd.Timestamp("2024-03-01", tz="UTC")]
    ds = build_dataset({"1d": short}, HORIZONS["30d"])
    with pytest.raises(InsufficientDataError, match="walk-forward needs"):
        walk_forward_evaluate(ds, HORIZONS["30d"], _small())


def test_optuna_search_runs_on_the_training_data_only(dataset_7d: Dataset) -> None:
    config = _small().model_copy(update={"optuna_trials": 2})
    model = train_final(dataset_7d, H7, config)
    base = _small().lgbm.model_dump()
    tuned = {k: v for k, v in model.params.items() if base[k] != v}
    assert tuned and set(tuned) <= {
        "num_leaves",
        "min_child_samples",
        "learning_rate",
        "colsample_bytree",
        "reg_lambda",
    }


def test_lightgbm_device_is_probed_once() -> None:
    device = lightgbm_device()
    assert device in {"cpu", "cuda", "gpu"}
    assert lightgbm_device.cache_info().currsize == 1
    assert lightgbm_device() == device
