"""Drift measures on real features and the decision rules: PSI's edge cases, the baseline that
keeps a window inside the training period quiet, the performance band, and the four answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crypto_assets.feedback.decisions import decide, later_day
from crypto_assets.feedback.drift import (
    DriftMeasure,
    calibration_drift,
    feature_drift,
    feature_psi,
    performance_band,
    performance_drift,
    psi,
)
from crypto_assets_tests.feedback.conftest import policy_for_tests


def test_psi_edge_cases() -> None:
    values = np.arange(1000, dtype=float)
    assert psi(values, values) == pytest.approx(0.0)
    assert psi(values, values + 5000) > 5  # everything moved past the top bin
    with_gaps = values.copy()
    with_gaps[:300] = np.nan  # a feature going missing is drift too
    assert psi(values, with_gaps) > 0.25
    constant = np.full(500, 3.0)  # a constant training feature: bins "<= 3" and "> 3"
    assert psi(constant, constant) == pytest.approx(0.0)
    assert psi(constant, constant + 1) > 5
    all_missing = np.full(100, np.nan)
    assert psi(all_missing, all_missing) == pytest.approx(0.0)
    assert np.isnan(psi(values, np.array([])))


def windows(features: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    return features[
        (features["date"] >= pd.Timestamp(start, tz="UTC"))
        & (features["date"] < pd.Timestamp(end, tz="UTC"))
    ]


def test_feature_drift_quiet_inside_training_fires_on_q2(real_world) -> None:
    names, policy = real_world.feature_names, policy_for_tests()
    training = windows(real_world.features, "2024-01-01", "2024-04-01")
    common = {"horizon": "1h", "model_version": "1", "policy": policy}

    itself = feature_psi(training, training, names, block_days=30)
    assert itself["psi"].max() == pytest.approx(0.0)
    assert feature_drift(itself, day="2024-03-31", **common).status == "within"

    late_march = windows(real_world.features, "2024-03-02", "2024-04-01")
    inside = feature_psi(training, late_march, names, block_days=30)
    # a month looks unlike the pooled quarter (slow features; the quarter's first month lacks
    # the history of 30-day features)...
    assert (inside["psi"] > policy.psi_bound).sum() >= 10
    assert feature_drift(inside, day="2024-03-31", **common).status == "within"  # ...as it did

    june = windows(real_world.features, "2024-06-01", "2024-07-01")
    measure = feature_drift(
        feature_psi(training, june, names, block_days=30), day="2024-06-30", **common
    )
    assert measure.status == "breach" and measure.value >= policy.psi_feature_share
    assert {"mkt_ret_30d", "ret_30d"} <= set(measure.detail["shifted"])  # Q1 rally, Q2 fall
    assert not any(f.endswith("_xrank") for f in measure.detail["shifted"])

    too_few = feature_psi(training, june.head(50), names, block_days=30)
    assert feature_drift(too_few, day="2024-06-30", **common).status == "insufficient"


def test_performance_band_from_fold_results() -> None:
    folds = [0.05, 0.057, 0.067, 0.054]  # the world's 1h model (its four walk-forward folds)
    band = performance_band(folds, k=1.0, min_folds=3)
    assert band.n_folds == 4
    assert band.lower() == pytest.approx(np.mean(folds) - np.std(folds, ddof=1))
    # a live estimate's own standard error widens it
    assert band.lower(0.05) == pytest.approx(
        np.mean(folds) - np.sqrt(np.var(folds, ddof=1) + 0.05**2)
    )
    assert performance_band(folds[:2], k=1.0, min_folds=3) is None
    assert performance_band([0.1, np.nan, None, 0.2, 0.3], k=2, min_folds=3).n_folds == 3


def test_performance_and_calibration_measures() -> None:
    policy = policy_for_tests()
    band = performance_band([0.05, 0.057, 0.067, 0.054], 1.0, 3)  # tight: lower edge +0.050
    common = {"horizon": "24h", "model_version": "1", "day": "2024-06-30", "policy": policy}
    low = {
        "status": "ok",
        "n_outcomes": 1800,
        "n_dates": 90,
        "n_independent": 90.0,
        "rank_ic": -0.14,
        "rank_ic_std": 0.2,
        "ece": 0.27,
    }
    assert performance_drift(low, band, None, **common).status == "breach"
    assert performance_drift({**low, "rank_ic": 0.06}, band, None, **common).status == "within"
    # a slightly low IC over 90 daily cross-sections is drift; from 4 it rests on too little
    slightly = {**low, "rank_ic": -0.03}
    assert performance_drift(slightly, band, None, **common).status == "breach"
    noisy = {**slightly, "n_dates": 4, "n_independent": 4.0}
    measured = performance_drift(noisy, band, None, **common)
    assert measured.status == "within" and measured.detail["live_se"] == pytest.approx(0.1)
    # overlapping 7d outcomes of daily predictions count once per week
    weekly = {**low, "rank_ic": -0.09, "n_independent": 12.9}
    assert performance_drift(weekly, band, None, **common).detail["live_se"] == pytest.approx(
        0.2 / np.sqrt(12)
    )
    no_band = performance_drift(low, None, None, **common)
    assert no_band.status == "insufficient" and "fold" in no_band.reason
    thin = {"status": "insufficient", "reason": "measured too little: 12 outcomes"}
    assert performance_drift(thin, band, None, **common).status == "insufficient"
    hit_band = performance_band([0.9, 0.85, 0.95], 1.0, 3)
    calls = {**low, "rank_ic": 0.05, "hit_rate": 0.4, "n_call_times": 10}
    assert performance_drift(calls, band, hit_band, **common).status == "breach"
    few_calls = {**calls, "n_call_times": 2}
    assert performance_drift(few_calls, band, hit_band, **common).status == "within"
    assert calibration_drift(low, **common).status == "breach"
    assert calibration_drift({**low, "ece": 0.03}, **common).status == "within"
    assert calibration_drift(None, **common).status == "insufficient"


def measure(status: str, day: str = "2024-06-30", cooldown: int = 14) -> DriftMeasure:
    return DriftMeasure(
        kind="performance",
        horizon="24h",
        model_version="1",
        day=day,
        status=status,
        value=-0.14 if status != "insufficient" else None,
        bound=-0.07,
        n=1800,
        reason="rolling rank IC below the band",
        cooldown_days=cooldown,
    )


def test_decisions_fire_quiet_insufficient_cooldown() -> None:
    fired = decide(measure("breach"), None)
    assert fired.fire and fired.magnitude == pytest.approx(0.07)
    assert decide(measure("within"), None).answer == "quiet"
    not_yet = decide(measure("insufficient"), None)
    assert not_yet.answer == "insufficient" and not not_yet.fire
    assert "not enough evidence" in not_yet.reason
    cooling = decide(measure("breach"), "2024-06-25")
    assert cooling.answer == "cooldown" and "5 day(s) earlier" in cooling.reason
    assert decide(measure("breach"), "2024-06-16").fire  # 14 days later: allowed again
    assert decide(measure("breach", cooldown=0), "2024-06-30").fire
    assert later_day(None, "2024-06-01", "2024-05-01") == "2024-06-01" and later_day() is None


def test_measure_round_trips_through_json_metadata() -> None:
    original = measure("breach")
    again = DriftMeasure.from_dict(json.loads(json.dumps(original.to_dict())))
    assert again == original and again.excess == pytest.approx(0.07)
