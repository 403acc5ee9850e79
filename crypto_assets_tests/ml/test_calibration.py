"""Calibration on a real LightGBM fitted to real Binance candles, judged on held-out hours."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from crypto_assets.horizons import HORIZONS
from crypto_assets.ml import metrics
from crypto_assets.ml.calibration import Calibrator, fit_calibrator
from crypto_assets.ml.training import build_dataset
from crypto_assets_tests.ml.conftest import read_binance


@pytest.fixture(scope="module")
def hourly_dataset():
    hourly = read_binance("1h", 25)
    hourly = hourly[
        (hourly["date"] >= pd.Timestamp("2024-02-01", tz="UTC"))
        & (hourly["date"] < pd.Timestamp("2024-05-01", tz="UTC"))
    ]
    return build_dataset({"1h": hourly}, HORIZONS["1h"])


def test_calibration_fixes_an_overconfident_real_model_on_held_out_data(hourly_dataset) -> None:
    data = hourly_dataset.labelled
    cuts = data["date"].quantile([0.4, 0.7]).to_list()
    gap = pd.Timedelta(hours=2)  # 1h labels: purge the label window at each cut
    train = data[data["label_end"] <= cuts[0]]
    calib = data[(data["date"] >= cuts[0] + gap) & (data["label_end"] <= cuts[1])]
    held_out = data[data["date"] >= cuts[1] + gap]
    features = hourly_dataset.features
    # Deliberately overconfident: deep trees, tiny leaves, high learning rate.
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": 63,
            "min_data_in_leaf": 5,
            "learning_rate": 0.3,
            "verbose": -1,
            "num_threads": 1,
            "seed": 1,
        },
        lgb.Dataset(train[features].to_numpy(np.float32), train["y_return"] > 0),
        num_boost_round=150,
    )
    prob_calib = booster.predict(calib[features].to_numpy(np.float32))
    prob_test = booster.predict(held_out[features].to_numpy(np.float32))
    calibrator = fit_calibrator(prob_calib, (calib["y_return"] > 0).to_numpy(float))
    assert calibrator.method == "isotonic"  # thousands of out-of-sample rows
    y_test = (held_out["y_return"] > 0).to_numpy(float)
    raw_ece = metrics.ece(prob_test, y_test)
    cal_ece = metrics.ece(calibrator.predict(prob_test), y_test)
    assert raw_ece > 0.15  # the raw model really is miscalibrated
    assert cal_ece < 0.05
    assert cal_ece < raw_ece / 3
    assert metrics.brier(calibrator.predict(prob_test), y_test) < metrics.brier(prob_test, y_test)


def test_method_is_chosen_by_sample_size_and_round_trips() -> None:
    prob = np.linspace(0.05, 0.95, 400)
    y = (np.arange(400) % 3 == 0).astype(float)  # a fixed pattern, not random numbers
    small = fit_calibrator(prob[:300], y[:300])
    assert small.method == "sigmoid"
    assert fit_calibrator(prob, y, isotonic_min_samples=100).method == "isotonic"
    assert fit_calibrator(prob[:10], y[:10]).method == "identity"
    assert fit_calibrator(prob, np.ones(400)).method == "identity"
    again = Calibrator.from_dict(small.to_dict())
    np.testing.assert_allclose(again.predict(prob), small.predict(prob))
    out = small.predict(prob)
    assert ((out > 0) & (out < 1)).all()


def test_few_independent_periods_shrink_toward_half() -> None:
    prob = np.linspace(0.05, 0.95, 2000)
    y = (prob > 0.5).astype(float)  # perfectly separable: isotonic maps to 0 / 1
    sure = fit_calibrator(prob, y)
    shrunk = fit_calibrator(prob, y, n_independent=2, prior_strength=4)
    assert sure.predict(np.array([0.9]))[0] > 0.99
    assert shrunk.predict(np.array([0.9]))[0] == pytest.approx(0.5 + (0.999 - 0.5) / 3, abs=1e-3)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="binary"):
        fit_calibrator(np.array([0.2, 0.4]), np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match="shape"):
        fit_calibrator(np.array([0.2, 0.4]), np.array([0.0]))
