"""Model health from live outcomes: per horizon and model version, over a rolling window of
outcomes known by the day measured.

The figures are those the walk-forward reports (``ml/metrics.py``, reused here), now on what
the model in use actually predicted: rank IC across coins per prediction time, the hit rate of
calls at or above the confidence threshold, ECE with its reliability curve, Brier score, and the
top-decile versus equal-weight net return on non-overlapping rebalances. Every row says how much
evidence it rests on (``n_outcomes``, ``n_dates``, ``n_independent``); a window with fewer than
the configured minimum is ``insufficient`` and is never read as healthy.

Users' verdicts (good / bad marks) are counted in their own columns: they are another opinion,
not the market's outcome, and never enter the market figures.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from crypto_assets.feedback.outcomes import PREDICTION_KEY
from crypto_assets.feedback.policy import FeedbackPolicy
from crypto_assets.frames import pin_dtypes
from crypto_assets.horizons import HORIZONS
from crypto_assets.ml import metrics

HEALTH_KEY = ["day", "horizon", "model_version"]
HEALTH_COLUMNS = [
    *HEALTH_KEY,
    "status",  # "ok" | "insufficient"
    "reason",
    "window_days",
    "window_start",
    "window_end",
    "n_outcomes",
    "n_dates",
    "n_coins",
    "n_independent",  # non-overlapping horizons the window spans: the honest evidence count
    "rank_ic",
    "rank_ic_std",
    "hit_rate",
    "threshold",
    "n_calls",
    "n_call_times",
    "ece",
    "brier",
    "base_rate_up",
    "mean_probability",
    "top_decile_return",
    "equal_weight_return",
    "reliability",  # JSON list of {mean_probability, hit_rate, n} per probability bin
    "user_verdicts",
    "user_good",
    "user_bad",
    "user_good_share",
    "user_market_agreement",  # share of judged predictions where "good" == market went up
]
TEXT = ("horizon", "model_version", "status", "reason", "reliability")
TIMES = ("day", "window_start", "window_end")


def reliability_curve(prob: np.ndarray, up: np.ndarray, n_bins: int = 10) -> list[dict]:
    """The reliability diagram's points (``metrics.reliability_curve``: the bins ``metrics.ece``
    uses) as JSON-ready records: mean_probability, hit_rate, n per non-empty bin."""
    curve = metrics.reliability_curve(prob, up, n_bins)
    return [
        {"mean_probability": float(p), "hit_rate": float(h), "n": int(n)}
        for p, h, n in curve[["mean_probability", "hit_rate", "n"]].itertuples(index=False)
    ]


def _window(outcomes: pd.DataFrame, day_end: pd.Timestamp, days: int) -> pd.DataFrame:
    start = day_end - pd.Timedelta(days=days)
    return outcomes[(outcomes["label_end"] > start) & (outcomes["label_end"] <= day_end)]


def _market_figures(rows: pd.DataFrame, horizon: str, threshold: float, n_bins: int) -> dict:
    y = rows["realised_return"].to_numpy(dtype=float)
    up = (y > 0).astype(float)
    prob = rows["probability"].to_numpy(dtype=float)
    pred = rows["expected_return"].to_numpy(dtype=float)
    dates = rows["as_of"]
    ics = metrics.rank_ic_series(pred, y, dates)
    step = HORIZONS[horizon].duration
    span = (rows["as_of"].max() - rows["as_of"].min() + step) / step if len(rows) else 0.0
    return {
        "n_outcomes": len(rows),
        "n_dates": len(ics),
        "n_coins": int(rows["symbol"].nunique()),
        "n_independent": float(span),
        "rank_ic": float(ics.mean()) if len(ics) else math.nan,
        "rank_ic_std": float(ics.std(ddof=1)) if len(ics) > 1 else math.nan,
        "hit_rate": metrics.hit_rate_at(prob, up, threshold),
        "n_calls": metrics.n_calls_at(prob, threshold),
        "n_call_times": metrics.n_call_times(prob, dates.to_numpy(), threshold),
        "ece": metrics.ece(prob, up, n_bins),
        "brier": metrics.brier(prob, up),
        "base_rate_up": float(up.mean()) if len(up) else math.nan,
        "mean_probability": float(np.nanmean(prob)) if len(prob) else math.nan,
        "top_decile_return": metrics.top_decile_return(pred, y, dates, step=step),
        "equal_weight_return": metrics.equal_weight_return(y, dates, step=step),
        "reliability": json.dumps(reliability_curve(prob, up, n_bins)),
    }


def _user_figures(rows: pd.DataFrame, verdicts: pd.DataFrame) -> dict:
    """Counts of users' marks on the window's predictions, and how often they agree with the
    market (a "good" mark on a prediction whose net return came out positive, or "bad" on one
    that did not)."""
    if verdicts.empty or rows.empty:
        return {"user_verdicts": 0, "user_good": 0, "user_bad": 0}
    judged = rows[[*PREDICTION_KEY, "realised_return"]].merge(
        verdicts[[*PREDICTION_KEY, "verdict"]], on=PREDICTION_KEY, how="inner"
    )
    good = judged["verdict"] == "good"
    agree = good == (judged["realised_return"] > 0)
    return {
        "user_verdicts": len(judged),
        "user_good": int(good.sum()),
        "user_bad": int((~good).sum()),
        "user_good_share": float(good.mean()) if len(judged) else math.nan,
        "user_market_agreement": float(agree.mean()) if len(judged) else math.nan,
    }


def _status(figures: dict, policy: FeedbackPolicy) -> tuple[str, str]:
    n, dates = figures["n_outcomes"], figures["n_dates"]
    if n < policy.min_outcomes or dates < policy.min_dates:
        return (
            "insufficient",
            f"measured too little: {n} outcomes over {dates} prediction times in the window "
            f"(needs >= {policy.min_outcomes} and >= {policy.min_dates})",
        )
    return "ok", f"{n} outcomes over {dates} prediction times"


def model_health(
    outcomes: pd.DataFrame,
    verdicts: pd.DataFrame,
    *,
    day: pd.Timestamp,
    policy: FeedbackPolicy,
    versions: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One health row per horizon and model version over each horizon's rolling window.

    ``outcomes`` are the latest revisions as of ``day`` (``latest_outcomes``); the window holds
    the outcomes whose label became known in the ``policy.health_window(h)`` days up to the end
    of ``day``. ``versions`` (horizon -> version in use) adds an ``insufficient`` row for a
    version in use that has no outcome in its window yet, so "no evidence" is never a gap.
    """
    day = pd.Timestamp(day).normalize()
    day_end = day + pd.Timedelta(days=1)
    rows = []
    for horizon in HORIZONS:
        days = policy.health_window(horizon)
        window = _window(outcomes[outcomes["horizon"] == horizon], day_end, days)
        wanted = set(window["model_version"].dropna().astype(str))
        if versions and versions.get(horizon):
            wanted.add(str(versions[horizon]))
        for version in sorted(wanted):
            chosen = window[window["model_version"].astype(str) == version]
            threshold = policy.confidence_threshold
            figures = _market_figures(chosen, horizon, threshold, policy.reliability_bins)
            status, reason = _status(figures, policy)
            rows.append(
                {
                    "day": day,
                    "horizon": horizon,
                    "model_version": version,
                    "status": status,
                    "reason": reason,
                    "window_days": days,
                    "window_start": day_end - pd.Timedelta(days=days),
                    "window_end": day_end,
                    "threshold": threshold,
                    **figures,
                    **_user_figures(chosen, verdicts),
                }
            )
    return typed_health(pd.DataFrame(rows))


def typed_health(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with exactly ``HEALTH_COLUMNS`` and fixed dtypes, also when empty."""
    return pin_dtypes(frame, HEALTH_COLUMNS, times=TIMES, texts=TEXT).reset_index(drop=True)
