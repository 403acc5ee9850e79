"""Honest walk-forward evaluation and the trained horizon model, on real daily Binance candles."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from crypto_assets.horizons import HORIZONS
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import (
    Dataset,
    InsufficientDataError,
    build_dataset,
    dataset_from_candles,
)
from crypto_assets.ml.estimators import LGBMParams
from crypto_assets.ml.model import PREDICTION_FIELDS, HorizonModel, train_final
from crypto_assets.ml.tuning import SEARCH_SPACES, Tuner
from crypto_assets.ml.walkforward import OOF_COLUMNS, folds_for, walk_forward_evaluate
from crypto_assets_tests.ml.conftest import SMALL_LGBM, small_config

H7 = HORIZONS["7d"]


@pytest.fixture(scope="module")
def report_7d(dataset_7d: Dataset):
    return walk_forward_evaluate(dataset_7d, small_config())


def test_dataset_holds_only_rows_whose_label_is_known(dataset_7d: Dataset, daily_40) -> None:
    labelled = dataset_7d.labelled
    assert dataset_7d.momentum_column == "ret_7d"
    assert any(c.endswith("_xrank") for c in dataset_7d.features)
    assert any(c.startswith("mkt_") for c in dataset_7d.features)  # market regime
    last_close = daily_40["date"].max() + pd.Timedelta(days=1)
    assert (labelled["label_end"] <= last_close).all()
    assert labelled["y_return"].notna().all()
    # the last 7 days' candles have no exit candle yet: not in the labelled set
    assert labelled["date"].max() == daily_40["date"].max() - pd.Timedelta(days=7)
    assert labelled["date"].is_monotonic_increasing


def test_build_dataset_names_what_is_missing(daily_40) -> None:
    with pytest.raises(InsufficientDataError, match="labels lack columns"):
        build_dataset(daily_40[["symbol", "date"]], daily_40[["symbol", "date"]], H7)


def test_walk_forward_report(report_7d, dataset_7d: Dataset) -> None:
    report = report_7d
    assert report.n_folds >= 5
    assert list(report.oof.columns[: len(OOF_COLUMNS)]) == OOF_COLUMNS
    assert "momentum" in report.oof.columns
    cols = ["score", "pred_return", "prob_raw", "prob_calibrated", "prob_estimate"]
    assert report.oof[cols].notna().all().all()
    assert report.oof["prob_calibrated"].between(0, 1).all()
    overall = report.overall
    for key in ("rank_ic_mean", "momentum_rank_ic_mean", "brier", "ece", "max_probability"):
        assert np.isfinite(overall[key]), key
    assert overall["n_predictions"] == len(report.oof)
    sources = [f["calibration_source"] for f in report.folds]
    assert sources[0] == "nested" and sources[-1] == "earlier_oof"
    for fold in report.folds:
        assert fold["train_end"] <= fold["test_start"] - H7.duration
    # the expected return follows the score within each date (the ranking is kept)
    day = report.oof[report.oof["date"] == report.oof["date"].max()]
    order = day.sort_values("score")
    assert order["pred_return"].is_monotonic_increasing


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
        return walk_forward_evaluate(changed, small_config()).oof

    flipped_last = rerun_with_flipped(dataset_7d.labelled["date"] >= last_start)
    cols = ["score", "pred_return", "prob_raw", "prob_calibrated", "prob_estimate"]
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
    report_7d, dataset_7d: Dataset, latest_7d: pd.DataFrame, tmp_path: Path
) -> None:
    model = train_final(dataset_7d, small_config(), report_7d.oof)
    assert model.calibrator.method == "isotonic"  # thousands of OOF rows
    assert model.trained_to == dataset_7d.labelled["date"].max()
    pred = model.predict(latest_7d)
    assert list(pred.columns) == ["symbol", "date", *PREDICTION_FIELDS]
    assert len(pred) == len(latest_7d) and pred["probability"].between(0, 1).all()
    assert pred["score"].std() > 0  # a real model, not a constant
    # the estimate beside the bound follows the raw probability (never against it)
    raw = model.estimator.predict_proba(latest_7d)
    order = np.argsort(raw)
    assert np.all(np.diff(pred["probability_estimate"].to_numpy()[order]) >= -1e-12)
    model.save(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"estimator", "meta.json"}
    loaded = HorizonModel.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(latest_7d), pred)
    with pytest.raises(ValueError, match="lacks columns"):
        model.predict(latest_7d.drop(columns=[model.features[0]]))
    with pytest.raises(FileNotFoundError):
        HorizonModel.load(tmp_path / "nothing")


def test_too_little_history_is_a_clear_error(daily_40) -> None:
    short = daily_40[daily_40["date"] < pd.Timestamp("2024-03-01", tz="UTC")]
    ds = dataset_from_candles(short, HORIZONS["30d"], 0.004)
    with pytest.raises(InsufficientDataError, match="walk-forward needs"):
        walk_forward_evaluate(ds, small_config())


def test_optuna_is_nested_in_the_walk_forward(dataset_7d: Dataset) -> None:
    """Searches run inside the folds on their training rows only, start from the defaults,
    re-run only once the training set has grown, and never see a test block's labels."""
    config = small_config(optuna_budget_s={"7d": 1e6}, optuna_trials=3)
    report = walk_forward_evaluate(dataset_7d, config)
    assert report.trials and report.tuning["trials"] == len(report.trials)
    fold_train = {f"fold {f['fold']}": f["n_train"] for f in report.folds}
    for trial in report.trials:
        assert trial["train_rows"] == fold_train[trial["stage"]]
        assert set(trial["params"]) <= set(SEARCH_SPACES["lightgbm"](optuna.create_study().ask()))
    first = [t for t in report.trials if t["stage"] == report.trials[0]["stage"]]
    defaults = LGBMParams.model_validate(config.params_for("lightgbm", H7)).model_dump()
    assert first[0]["params"] == {k: defaults[k] for k in first[0]["params"]}
    searched = sorted({t["train_rows"] for t in report.trials})
    assert 1 < len(searched) < report.n_folds  # not every fold: only after growing 1.5x
    assert all(b >= 1.5 * a for a, b in itertools.pairwise(searched))

    last_start = report.folds[-1]["test_start"]
    labelled = dataset_7d.labelled.copy()
    flip = labelled["date"] >= last_start
    labelled.loc[flip, "y_return"] = -labelled.loc[flip, "y_return"]
    again = walk_forward_evaluate(dataclasses.replace(dataset_7d, labelled=labelled), config)
    cols = ["score", "prob_raw", "prob_calibrated"]
    pd.testing.assert_frame_equal(report.oof[cols], again.oof[cols])


def test_optuna_time_budget_is_respected(dataset_7d: Dataset) -> None:
    tuner = Tuner.for_family("lightgbm", H7, small_config(optuna_budget_s={"7d": 0.01}))
    model = train_final(dataset_7d, small_config(optuna_budget_s={"7d": 0.01}), tuner=tuner)
    assert len(tuner.trials) == 1  # the default is scored, then the budget is spent
    assert not tuner.due(10**9) and model.params["num_leaves"] == SMALL_LGBM["num_leaves"]
    off = Tuner.for_family("lightgbm", H7, small_config())
    assert not off.active and not off.due(10**9)


def test_long_histories_get_fewer_longer_folds_and_thinned_rows() -> None:
    config = TrainConfig(max_folds=10, max_train_rows=1000)
    assert config.retrain_every(pd.Timedelta(days=200)) == pd.Timedelta(days=30)
    assert config.retrain_every(pd.Timedelta(days=3650)) == pd.Timedelta(days=365)
    assert config.stride(HORIZONS["30d"], rows=500, timestamps=400) == 1
    assert config.stride(HORIZONS["30d"], rows=5000, timestamps=400) == 5
    assert config.stride(HORIZONS["24h"], rows=10, timestamps=20) == 2  # never below 10 stamps
    assert config.params_for("lightgbm", HORIZONS["30d"], rows=5_000)["n_seeds"] == 3
    assert config.params_for("lightgbm", HORIZONS["30d"], rows=500_000)["n_seeds"] == 1


def test_older_rows_only_train_from_test_from(dataset_7d: Dataset) -> None:
    """With ``test_from``, older rows train but are never tested, and the blocks from there
    are the ones a run starting at ``test_from - min_train`` gets: same retrain dates."""
    config = small_config()
    plain = folds_for(dataset_7d, config)
    start = plain[2].test_start
    late = folds_for(dataset_7d, config.model_copy(update={"test_from": start.tz_convert(None)}))
    assert [f.test_start for f in late] == [f.test_start for f in plain[2:]]
    dates = dataset_7d.labelled["date"]
    assert all((dates.iloc[f.test_idx] >= start).all() for f in late)
    assert np.array_equal(late[0].train_idx, plain[2].train_idx)  # the older rows still train
    early = config.model_copy(update={"test_from": pd.Timestamp("2000-01-01", tz="UTC")})
    assert [f.test_start for f in folds_for(dataset_7d, early)] == [f.test_start for f in plain]


def test_settings_reach_the_training_config() -> None:
    class _Settings:
        round_trip_cost = 0.01
        confidence_threshold = 0.9
        model_n_estimators = 25

    config = TrainConfig.from_settings(_Settings())
    assert config.round_trip_cost == 0.01 and config.confidence_threshold == 0.9
    assert config.params_for("lightgbm", H7)["n_estimators"] == 25
