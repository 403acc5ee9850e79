"""Model health from real outcomes: the figures ml/metrics gives on the same rows, an explicit
"insufficient" when the window holds too little, users' verdicts counted apart."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crypto_assets.feedback.health import model_health, reliability_curve
from crypto_assets.feedback.outcomes import PREDICTION_KEY, latest_outcomes, record_outcomes
from crypto_assets.feedback.verdicts import current_verdicts, validate_verdicts
from crypto_assets.ml import metrics
from crypto_assets_tests.feedback.conftest import QUARTER, policy_for_tests

MARKET = ["rank_ic", "hit_rate", "ece", "brier", "top_decile_return", "equal_weight_return"]


@pytest.fixture(scope="module")
def log_to_june(real_world) -> pd.DataFrame:
    return record_outcomes(
        real_world.predictions,
        real_world.labels,
        pd.DataFrame(),
        start=pd.Timestamp("2024-04-01", tz="UTC"),
        end=pd.Timestamp("2024-07-01", tz="UTC"),
        recorded_at=pd.Timestamp("2026-01-01", tz="UTC"),
    )


def health_on(log: pd.DataFrame, day: str, verdicts: pd.DataFrame | None = None, **policy):
    when = pd.Timestamp(day, tz="UTC")
    return model_health(
        latest_outcomes(log, as_of_day=when),
        verdicts if verdicts is not None else pd.DataFrame(),
        day=when,
        policy=policy_for_tests(**{"health_window_days": QUARTER, **policy}),
        versions={"1h": "1", "24h": "1", "7d": "3"},
    ).set_index("horizon")


@pytest.mark.parametrize("horizon", ["1h", "24h"])
def test_health_matches_ml_metrics_on_the_same_outcomes(log_to_june, horizon) -> None:
    health = health_on(log_to_june, "2024-06-30")
    row = health.loc[horizon]
    end = pd.Timestamp("2024-07-01", tz="UTC")
    window = log_to_june[
        (log_to_june["horizon"] == horizon)
        & (log_to_june["label_end"] > end - pd.Timedelta(days=90))
        & (log_to_june["label_end"] <= end)
    ]
    up = (window["realised_return"] > 0).astype(float)
    assert row["status"] == "ok" and row["n_outcomes"] == len(window) > 1000
    assert row["n_dates"] == window["as_of"].nunique() == 90  # one cross-section a day
    assert row["rank_ic"] == pytest.approx(
        metrics.rank_ic(window["expected_return"], window["realised_return"], window["as_of"])
    )
    assert row["ece"] == pytest.approx(metrics.ece(window["probability"], up))
    assert row["brier"] == pytest.approx(metrics.brier(window["probability"], up))
    assert row["base_rate_up"] == pytest.approx(up.mean())
    curve = json.loads(row["reliability"])
    assert sum(b["n"] for b in curve) == len(window)


def test_too_few_outcomes_is_insufficient_never_healthy(log_to_june) -> None:
    health = health_on(log_to_june, "2024-04-05")
    row = health.loc["24h"]
    assert row["status"] == "insufficient"
    assert "measured too little" in row["reason"] and row["n_dates"] == 4
    # a version in use with no outcome at all still gets its row, saying so
    assert health.loc["7d", "status"] == "insufficient" and health.loc["7d", "n_outcomes"] == 0
    assert "30d" not in health.index  # no version in use, no outcome: nothing to say


def test_reliability_curve_bins() -> None:
    curve = reliability_curve(np.array([0.05, 0.07, 0.95, np.nan]), np.array([0, 1, 1, 1]), 10)
    assert [(b["n"], b["hit_rate"]) for b in curve] == [(2, 0.5), (1, 1.0)]


def test_user_verdicts_are_counted_apart_from_the_market(log_to_june) -> None:
    window = log_to_june[
        (log_to_june["horizon"] == "24h")
        & (log_to_june["label_end"] > pd.Timestamp("2024-05-01", tz="UTC"))
    ].head(6)
    raw = window[PREDICTION_KEY].assign(
        verdict=["good", "good", "bad", "BAD", "good", "bad"],
        note="",
        author="tester",
        created_at=pd.Timestamp("2024-06-01", tz="UTC"),
    )
    changed_mind = raw.iloc[[0]].assign(
        verdict="bad", created_at=pd.Timestamp("2024-06-02", tz="UTC")
    )
    hostile = raw.iloc[[1]].assign(symbol="../../etc/passwd")
    valid, rejected = validate_verdicts(pd.concat([raw, changed_mind, hostile]))
    assert len(rejected) == 1 and "symbol" in rejected["problem"].iloc[0]
    verdicts = current_verdicts(valid)
    with_users = health_on(log_to_june, "2024-06-30", verdicts)
    without = health_on(log_to_june, "2024-06-30")
    row = with_users.loc["24h"]
    assert (row["user_verdicts"], row["user_good"], row["user_bad"]) == (6, 2, 4)
    market_up = (window["realised_return"] > 0).to_numpy()
    good = np.array([False, True, False, False, True, False])
    assert row["user_market_agreement"] == pytest.approx(np.mean(good == market_up))
    pd.testing.assert_series_equal(
        with_users.loc["24h", MARKET], without.loc["24h", MARKET], check_names=False
    )
    assert without.loc["24h", "user_verdicts"] == 0
