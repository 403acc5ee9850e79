"""SHAP explanations of a real model trained on real daily candles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crypto_assets.ml.dataset import Dataset
from crypto_assets.ml.explain import (
    EXPLAIN_COLUMNS,
    explain,
    explain_frame,
    explain_rows,
    humanize_feature,
    shap_values,
)
from crypto_assets.ml.model import HorizonModel, train_final
from crypto_assets_tests.ml.conftest import small_config


@pytest.fixture(scope="module")
def model_7d(dataset_7d: Dataset) -> HorizonModel:
    return train_final(dataset_7d, small_config())


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("ret_7d_xrank", "7d return rank"),
        ("ret_30d", "30d return"),
        ("rsi_14", "RSI(14)"),
        ("vol_30d", "30d volatility"),
        ("dist_ema_50", "distance from EMA (50)"),
        ("obv_slope_7d_xrank", "7d OBV slope rank"),
        ("idio_vol_60d_xrank", "60d idiosyncratic volatility rank"),
        ("something_new", "something new"),
    ],
)
def test_feature_names_read_as_words(name: str, words: str) -> None:
    assert humanize_feature(name) == words


def test_shap_values_add_up_to_the_score(model_7d: HorizonModel, latest_7d) -> None:
    live = latest_7d.head(20)
    contrib = shap_values(model_7d, live)
    raw = model_7d.estimator.predict(live)
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), raw, rtol=1e-5, atol=1e-8)


def test_top_k_reasons_are_the_largest_contributions(model_7d: HorizonModel, latest_7d) -> None:
    live = latest_7d.head(10)
    rows = explain_rows(model_7d, live, k=3)
    contrib = shap_values(model_7d, live)[model_7d.features]
    for i, row in enumerate(rows):
        assert len(row.reasons) == 3 and len(row.contributions) == 3
        strongest = contrib.iloc[i].abs().sort_values(ascending=False).index[:3].tolist()
        assert [name for name, _ in row.contributions] == strongest
        first_name, first_value = row.contributions[0]
        assert row.reasons[0].startswith(humanize_feature(first_name))
        assert f"{first_value * 100:+.1f} pts" in row.reasons[0]
    texts = explain(model_7d, live, k=2)
    assert len(texts) == len(live) and all(t.count(";") == 1 for t in texts)
    frame = explain_frame(model_7d, live)
    assert list(frame.columns) == EXPLAIN_COLUMNS
    assert len(json.loads(frame["shap_top"].iloc[0])) == 3
    assert explain(model_7d, live.iloc[:0]) == []


def test_the_probability_is_explained_in_points_of_probability(
    model_7d: HorizonModel, latest_7d
) -> None:
    live = latest_7d.head(8)
    contrib = shap_values(model_7d, live, "proba")
    margin = contrib.sum(axis=1).to_numpy()
    prob = model_7d.estimator.predict_proba(live)
    np.testing.assert_allclose(1 / (1 + np.exp(-margin)), prob, atol=1e-6)
    rows = explain_rows(model_7d, live, k=2, output="proba")
    for i, row in enumerate(rows):
        name, value = row.contributions[0]
        assert value == pytest.approx(contrib.iloc[i][name])
        without = 1 / (1 + np.exp(-(margin[i] - value)))
        assert f"{(prob[i] - without) * 100:+.1f} pts" in row.reasons[0]
    frame = explain_frame(model_7d, live, k=2)
    assert frame["explanation_probability"].tolist() == [r.text for r in rows]
    assert frame["explanation_probability"].iloc[0] != frame["explanation"].iloc[0]


def test_only_the_masked_rows_are_explained(model_7d: HorizonModel, latest_7d) -> None:
    mask = np.zeros(len(latest_7d), dtype=bool)
    mask[[1, 3]] = True
    frame = explain_frame(model_7d, latest_7d, rows=mask)
    assert frame["symbol"].tolist() == latest_7d["symbol"].iloc[[1, 3]].tolist()
    whole = explain_frame(model_7d, latest_7d)
    assert frame["explanation"].tolist() == whole["explanation"].iloc[[1, 3]].tolist()
    pred = model_7d.predict(latest_7d, rows=mask)
    assert pred["symbol"].tolist() == frame["symbol"].tolist()
