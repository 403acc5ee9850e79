"""Metrics on small inline frames whose right answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from crypto_assets.ml import metrics

T1, T2 = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-02", tz="UTC")


def test_rank_ic_per_timestamp_not_pooled() -> None:
    # t1: prediction orders the 5 coins perfectly; t2: exactly reversed.
    dates = [T1] * 5 + [T2] * 5
    pred = [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    target = [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.4, 0.3, 0.2, 0.1]
    series = metrics.rank_ic_series(pred, target, dates)
    assert series.loc[T1] == pytest.approx(1.0)
    assert series.loc[T2] == pytest.approx(-1.0)
    assert metrics.rank_ic(pred, target, dates) == pytest.approx(0.0)


def test_rank_ic_ignores_timestamps_with_fewer_than_5_coins() -> None:
    dates = [T1] * 5 + [T2] * 4
    pred = [1, 2, 3, 4, 5, 4, 3, 2, 1]
    target = [1, 2, 3, 4, 5, 1, 2, 3, 4]
    assert list(metrics.rank_ic_series(pred, target, dates).index) == [T1]
    assert metrics.rank_ic(pred, target, dates) == pytest.approx(1.0)
    assert math.isnan(metrics.rank_ic([1, 2], [1, 2], [T1, T1]))


def test_rank_ic_ir_is_mean_over_std() -> None:
    dates = [T1] * 5 + [T2] * 5
    pred = [1, 2, 3, 4, 5] * 2
    target = [1, 2, 3, 4, 5, 1, 2, 3, 5, 4]  # IC 1.0 and 0.9
    assert metrics.rank_ic_ir(pred, target, dates) == pytest.approx(
        0.95 / np.std([1.0, 0.9], ddof=1)
    )


def test_brier_and_ece_by_hand() -> None:
    prob = np.array([0.85, 0.85, 0.85, 0.85, 0.15, 0.15])
    y = np.array([1, 1, 1, 0, 0, 0])
    assert metrics.brier(prob, y) == pytest.approx((3 * 0.15**2 + 0.85**2 + 2 * 0.15**2) / 6)
    # bin 8: mean prob .85 vs hit rate .75 (4 rows); bin 1: .15 vs 0 (2 rows)
    assert metrics.ece(prob, y) == pytest.approx((4 * 0.10 + 2 * 0.15) / 6)


def test_hit_rate_and_calls_at_threshold() -> None:
    prob = np.array([0.9, 0.8, 0.79, 0.2])
    y = np.array([1, 0, 1, 1])
    assert metrics.n_calls_at(prob, 0.8) == 2
    assert metrics.hit_rate_at(prob, y, 0.8) == pytest.approx(0.5)
    assert metrics.hit_rate_at(prob, y, 0.95) is None


def test_call_times_count_moments_not_rows() -> None:
    prob = np.array([0.9, 0.85, 0.95, 0.81, 0.2])
    dates = [T1, T1, T1, T2, T2]  # three calls at one moment are one market move
    assert metrics.n_calls_at(prob, 0.8) == 4
    assert metrics.n_call_times(prob, dates, 0.8) == 2
    assert metrics.n_call_times(prob, dates, 0.99) == 0
    with pytest.raises(ValueError, match="shape"):
        metrics.n_call_times(prob, dates[:2])


def test_portfolio_returns_use_non_overlapping_rebalances() -> None:
    dates = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    rows = []
    for i, day in enumerate(dates):
        for coin in range(10):
            rows.append((day, coin, coin / 100 + i**2))  # best-predicted coin earns the most
    frame = pd.DataFrame(rows, columns=["date", "pred", "ret"])
    # every timestamp: top coin earns 0.09 + i^2, equal weight 0.045 + i^2 (i^2: 0, 1, 4)
    assert metrics.top_decile_return(frame.pred, frame.ret, frame.date) == pytest.approx(
        0.09 + 5 / 3
    )
    assert metrics.equal_weight_return(frame.ret, frame.date) == pytest.approx(0.045 + 5 / 3)
    # a 2-day step keeps days 0 and 2 only
    step = pd.Timedelta(days=2)
    assert list(metrics.rebalance_dates(frame.date, step)) == [dates[0], dates[2]]
    assert metrics.top_decile_return(frame.pred, frame.ret, frame.date, step=step) == (
        pytest.approx(0.09 + 2)
    )
    assert metrics.equal_weight_return(frame.ret, frame.date, step=step) == pytest.approx(2.045)
