"""The contract every signal-model family must pass (runs on each entry of ``FAMILIES``).

A new family (XGBoost, a deep sequence model...) is added to ``ml.estimators.FAMILIES`` and
these tests then run on it unchanged: fit/predict shapes and ranges, determinism, a save/load
round trip that predicts identically, explanations that add up to the outputs, no look-ahead
through the frame a model is given, and the calibrated wrapper's contract.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crypto_assets.horizons import HORIZONS
from crypto_assets.ml.dataset import Dataset, add_targets
from crypto_assets.ml.estimators import FAMILIES, SignalEstimator, make_estimator
from crypto_assets.ml.model import train_final
from crypto_assets_tests.ml.conftest import SMALL_LGBM, small_config

H7 = HORIZONS["7d"]
SMALL_PARAMS: dict[str, dict] = {"lightgbm": {**SMALL_LGBM, "n_seeds": 2}}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def split(dataset_7d: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    data = dataset_7d.labelled
    cut = pd.Timestamp("2024-06-01", tz="UTC")
    train = data[data["label_end"] <= cut]
    test = data[data["date"] >= cut + H7.duration].reset_index(drop=True)
    return add_targets(train), test


@pytest.fixture(scope="module")
def fitted(family: str, split, dataset_7d: Dataset) -> SignalEstimator:
    estimator = make_estimator(family, SMALL_PARAMS.get(family), "cpu")
    estimator.fit(split[0], dataset_7d.features)
    return estimator


def test_is_a_signal_estimator(fitted: SignalEstimator, family: str) -> None:
    assert isinstance(fitted, SignalEstimator)
    assert fitted.family == family and isinstance(fitted.device, str)
    assert isinstance(fitted.params(), dict)


def test_outputs_have_one_finite_value_per_row(fitted: SignalEstimator, split) -> None:
    test = split[1]
    score, prob = fitted.predict(test), fitted.predict_proba(test)
    assert score.shape == prob.shape == (len(test),)
    assert np.isfinite(score).all() and score.std() > 0
    assert ((prob >= 0) & (prob <= 1)).all()
    assert fitted.predict(test.iloc[:0]).shape == (0,)


def test_fit_is_deterministic(family: str, split, dataset_7d: Dataset, fitted) -> None:
    again = make_estimator(family, SMALL_PARAMS.get(family), "cpu")
    again.fit(split[0], dataset_7d.features)
    np.testing.assert_allclose(again.predict(split[1]), fitted.predict(split[1]))


def test_save_load_round_trip(fitted: SignalEstimator, family: str, split, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    loaded = FAMILIES[family].load(tmp_path)
    np.testing.assert_array_equal(loaded.predict(split[1]), fitted.predict(split[1]))
    np.testing.assert_array_equal(loaded.predict_proba(split[1]), fitted.predict_proba(split[1]))


def test_explanations_add_up_to_the_outputs(
    fitted: SignalEstimator, split, dataset_7d: Dataset
) -> None:
    rows = split[1].head(25)
    score = fitted.explain(rows, "score")
    assert list(score.columns) == [*dataset_7d.features, "bias"]
    np.testing.assert_allclose(score.sum(axis=1), fitted.predict(rows), rtol=1e-4, atol=1e-6)
    proba = fitted.explain(rows, "proba").sum(axis=1).to_numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-proba)), fitted.predict_proba(rows), atol=1e-5)


def test_no_look_ahead_through_the_frame(fitted: SignalEstimator, split) -> None:
    """A row's outputs do not change when rows dated after it are changed or removed."""
    test = split[1]
    cut = test["date"].min() + pd.Timedelta(days=10)
    early = test["date"] < cut
    full = fitted.predict(test)[early.to_numpy()]
    changed = test.copy()
    features = [c for c in test.columns if c not in ("symbol", "date", "y_return", "label_end")]
    changed.loc[~early, features] = changed.loc[~early, features].to_numpy()[::-1]
    np.testing.assert_array_equal(fitted.predict(changed)[early.to_numpy()], full)
    np.testing.assert_array_equal(fitted.predict(test[early]), full)


def test_calibrated_wrapper_contract(family: str, dataset_7d: Dataset, latest_7d) -> None:
    config = small_config(family=family, family_params={family: SMALL_PARAMS.get(family, {})})
    model = train_final(dataset_7d, config)
    pred = model.predict(latest_7d)
    assert pred["probability"].between(0, 1).all()
    assert pred["probability_estimate"].between(0, 1).all()
    raw = model.estimator.predict_proba(latest_7d)
    order = np.argsort(raw)
    assert np.all(np.diff(pred["probability"].to_numpy()[order]) >= -1e-12)  # monotone in raw
