"""Evaluation metrics for cross-sectional coin signals.

The product ranks coins against each other at one time, so the headline metric is the rank IC:
Spearman correlation between predicted and realised return ACROSS coins at each timestamp,
averaged over timestamps (a pooled correlation would mostly measure the market's up and down
days). Probabilities are judged by Brier score, expected calibration error and the hit rate of
the ">= 80 %" calls the dashboard shows. Portfolio figures use non-overlapping rebalance dates
(one every horizon), because averaging overlapping 30-day returns sampled daily would count the
same month thirty times and overstate how much independent evidence there is.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

MIN_COINS = 5


def _frame(pred: object, target: object, dates: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "pred": np.asarray(pred, dtype=float),
            "target": np.asarray(target, dtype=float),
            "date": np.asarray(dates),
        }
    )
    return frame[np.isfinite(frame["pred"]) & np.isfinite(frame["target"])]


def rank_ic_series(
    pred: np.ndarray | pd.Series,
    target: np.ndarray | pd.Series,
    dates: np.ndarray | pd.Series,
    *,
    min_coins: int = MIN_COINS,
) -> pd.Series:
    """Spearman correlation across coins per timestamp (timestamps with >= ``min_coins``)."""
    frame = _frame(pred, target, dates)
    if frame.empty:
        return pd.Series(dtype=float)
    counts = frame.groupby("date")["pred"].transform("size")
    frame = frame[counts >= min_coins]
    if frame.empty:
        return pd.Series(dtype=float)
    grouped = frame.groupby("date")
    rp = grouped["pred"].rank()
    rt = grouped["target"].rank()
    ranks = pd.DataFrame({"date": frame["date"], "rp": rp, "rt": rt})
    ranks["rp"] -= ranks.groupby("date")["rp"].transform("mean")
    ranks["rt"] -= ranks.groupby("date")["rt"].transform("mean")
    ranks["xy"] = ranks["rp"] * ranks["rt"]
    ranks["xx"] = ranks["rp"] ** 2
    ranks["yy"] = ranks["rt"] ** 2
    sums = ranks.groupby("date")[["xy", "xx", "yy"]].sum()
    denom = np.sqrt(sums["xx"] * sums["yy"])
    ic = sums["xy"] / denom.where(denom > 0)
    return ic.dropna()


def rank_ic(
    pred: np.ndarray | pd.Series,
    target: np.ndarray | pd.Series,
    dates: np.ndarray | pd.Series,
    *,
    min_coins: int = MIN_COINS,
) -> float:
    """Mean per-timestamp rank IC; NaN when no timestamp has enough coins."""
    series = rank_ic_series(pred, target, dates, min_coins=min_coins)
    return float(series.mean()) if len(series) else math.nan


def rank_ic_ir(
    pred: np.ndarray | pd.Series,
    target: np.ndarray | pd.Series,
    dates: np.ndarray | pd.Series,
    *,
    min_coins: int = MIN_COINS,
) -> float:
    """Mean / standard deviation of the per-timestamp rank IC (its consistency)."""
    series = rank_ic_series(pred, target, dates, min_coins=min_coins)
    if len(series) < 2:
        return math.nan
    std = float(series.std(ddof=1))
    return float(series.mean()) / std if std > 0 else math.nan


def _binary(prob: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(prob, dtype=float)
    t = np.asarray(y, dtype=float)
    ok = np.isfinite(p) & np.isfinite(t)
    return p[ok], t[ok]


def brier(prob: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of the probability against the 0/1 outcome."""
    p, t = _binary(prob, y)
    return float(np.mean((p - t) ** 2)) if len(p) else math.nan


def ece(prob: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: 10 equal-width bins, |mean prob - hit rate| weighted by size."""
    p, t = _binary(prob, y)
    if not len(p):
        return math.nan
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        total += in_bin.sum() * abs(p[in_bin].mean() - t[in_bin].mean())
    return float(total / len(p))


def n_calls_at(prob: np.ndarray, threshold: float = 0.80) -> int:
    """How many predictions claim at least ``threshold`` confidence."""
    p = np.asarray(prob, dtype=float)
    return int(np.sum(p >= threshold))


def n_call_times(
    prob: np.ndarray | pd.Series, dates: np.ndarray | pd.Series, threshold: float = 0.80
) -> int:
    """Distinct timestamps among the ``prob >= threshold`` calls.

    Calls made for many coins at one moment ride one market move: 45 calls from 10 hours are
    ~10 observations, not 45, and this says how much evidence a hit rate rests on.
    """
    p = np.asarray(prob, dtype=float)
    when = np.asarray(dates)
    if p.shape != when.shape:
        raise ValueError(f"prob and dates differ in shape: {p.shape} vs {when.shape}")
    return len(pd.unique(when[p >= threshold]))


def hit_rate_at(prob: np.ndarray, y: np.ndarray, threshold: float = 0.80) -> float | None:
    """Share of ``prob >= threshold`` calls that came true; None when there were no calls."""
    p, t = _binary(prob, y)
    calls = p >= threshold
    return float(t[calls].mean()) if calls.any() else None


def rebalance_dates(dates: np.ndarray | pd.Series, step: pd.Timedelta) -> pd.DatetimeIndex:
    """Non-overlapping rebalance timestamps: the first date, then the first date >= prev + step."""
    unique = pd.DatetimeIndex(pd.unique(pd.to_datetime(np.asarray(dates), utc=True))).sort_values()
    chosen: list[pd.Timestamp] = []
    next_allowed: pd.Timestamp | None = None
    for ts in unique:
        if next_allowed is None or ts >= next_allowed:
            chosen.append(ts)
            next_allowed = ts + step
    return pd.DatetimeIndex(chosen)


def _on_rebalances(
    frame: pd.DataFrame, step: pd.Timedelta | None
) -> pd.core.groupby.DataFrameGroupBy:
    if step is not None and len(frame):
        keep = rebalance_dates(frame["date"], step)
        frame = frame[pd.to_datetime(frame["date"], utc=True).isin(keep)]
    return frame.groupby("date")


def top_decile_return(
    pred: np.ndarray | pd.Series,
    fwd_return: np.ndarray | pd.Series,
    dates: np.ndarray | pd.Series,
    *,
    step: pd.Timedelta | None = None,
    quantile: float = 0.10,
) -> float:
    """Mean net forward return of the top-decile coins by prediction, averaged over rebalances.

    At least one coin is held per rebalance. ``step`` (the horizon) keeps rebalances
    non-overlapping; None uses every timestamp.
    """
    frame = _frame(pred, fwd_return, dates)
    if frame.empty:
        return math.nan

    def top(group: pd.DataFrame) -> float:
        k = max(1, math.ceil(len(group) * quantile))
        return float(group.nlargest(k, "pred")["target"].mean())

    per_date = [top(g) for _, g in _on_rebalances(frame, step)]
    return float(np.mean(per_date)) if per_date else math.nan


def equal_weight_return(
    fwd_return: np.ndarray | pd.Series,
    dates: np.ndarray | pd.Series,
    *,
    step: pd.Timedelta | None = None,
) -> float:
    """Mean over rebalances of the cross-sectional mean net forward return (the benchmark)."""
    target = np.asarray(fwd_return, dtype=float)
    frame = _frame(np.zeros(len(target)), target, dates)
    if frame.empty:
        return math.nan
    return float(_on_rebalances(frame, step)["target"].mean().mean())


def reliability_curve(prob: np.ndarray, y: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Per equal-width probability bin with rows: mean predicted probability, observed hit rate
    and row count (the points of a reliability diagram; ``ece`` is their weighted gap)."""
    p, t = _binary(prob, y)
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "p": p, "t": t})
    grouped = frame.groupby("bin").agg(
        mean_probability=("p", "mean"), hit_rate=("t", "mean"), n=("t", "size")
    )
    return grouped.reset_index(drop=True)
