"""Drift measures: is the world the model sees, or the way it performs, still the one it was
trained and evaluated on?

- Feature drift: population stability index (PSI) of each feature's live distribution against
  the model's training window, on bins cut at the training window's quantiles (so each bin holds
  ~1/bins of the training rows). Missing values are a bin of their own: a feature going missing
  is drift too. A constant training feature gets the two bins "<= c" and "> c". PSI =
  sum((live - ref) * ln(live / ref)) over bins, shares floored at ``EPS``. A feature has
  shifted when its live PSI exceeds both the bound and the largest PSI a window of the same
  length inside the training period had (its baseline); the horizon's measure is the share of
  shifted features (one feature that always grows, such as a listing age, cannot fire it).
- Performance drift: the live rolling rank IC below the band the model's own walk-forward gave:
  the fold rank ICs' mean minus ``k`` times their spread, widened by the live figure's own
  standard error (a window of daily predictions holds far fewer cross-sections than a fold); the
  hit rate of confident calls is held to the same kind of band where enough calls were made.
- Calibration drift: live ECE above a bound.

Each measure says ``breach``, ``within`` or ``insufficient`` (too little evidence to say), with
the value, the bound, how many observations it rests on and a sentence; ``decisions`` turns
that into fire or not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from crypto_assets.features.indicators import XRANK_SUFFIX
from crypto_assets.feedback.policy import FeedbackPolicy

EPS = 1e-4  # floor of a bin's share: an empty bin counts as 0.01 % instead of log(0)
MAX_BASELINE_BLOCKS = 24  # newest training-window blocks a feature's PSI baseline looks at
PSI_TABLE_COLUMNS = [
    "feature",
    "psi",
    "baseline",
    "reference_rows",
    "live_rows",
    "reference_missing",
    "live_missing",
]
Kind = Literal["feature", "performance", "calibration"]
Status = Literal["breach", "within", "insufficient"]


@dataclass(frozen=True)
class DriftMeasure:
    """One drift measurement for one horizon and the model version in use on one day."""

    kind: Kind
    horizon: str
    model_version: str | None
    day: str  # ISO date the measurement is for (the daily partition)
    status: Status
    value: float | None  # the measured statistic (PSI share, rank IC, ECE)
    bound: float | None  # the bound it was held against
    n: int  # observations behind it (rows for PSI, outcomes otherwise)
    reason: str
    cooldown_days: int  # the policy in force when measured (the sensor applies it)
    detail: dict = field(default_factory=dict)

    @property
    def excess(self) -> float | None:
        """How far past its bound the value is (positive on a breach)."""
        if self.value is None or self.bound is None:
            return None
        if self.kind == "performance":
            return self.bound - self.value
        return self.value - self.bound

    def to_dict(self) -> dict:
        """Plain JSON types (every float is finite or None by construction)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DriftMeasure:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _common(
    kind: Kind, horizon: str, model_version: str | None, day: str, policy: FeedbackPolicy
) -> dict:
    """The fields every measure of one kind, horizon and day shares."""
    return {
        "kind": kind,
        "horizon": horizon,
        "model_version": model_version,
        "day": day,
        "cooldown_days": policy.cooldown_days,
    }


def _finite_or_none(value: object) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# --- feature drift ---------------------------------------------------------------------------


def _edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges at the reference's quantiles (ties merged)."""
    finite = reference[~np.isnan(reference)]
    cuts = np.linspace(0, 1, bins + 1)[1:-1]
    return np.unique(np.quantile(finite, cuts)) if len(finite) else np.empty(0)


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` per bin ("<= e1", ..., "> ek", missing), floored at ``EPS``."""
    missing = np.isnan(values)
    index = np.searchsorted(edges, values[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, missing.sum())
    return np.maximum(counts / len(values), EPS)


def _psi(ref_shares: np.ndarray, values: np.ndarray, edges: np.ndarray) -> float:
    if not len(values):
        return math.nan
    now = _shares(values, edges)
    return float(np.sum((now - ref_shares) * np.log(now / ref_shares)))


def psi(reference: np.ndarray | pd.Series, live: np.ndarray | pd.Series, bins: int = 10) -> float:
    """Population stability index of ``live`` against ``reference`` (NaN when either is empty)."""
    ref = np.asarray(reference, dtype=float)
    if not len(ref):
        return math.nan
    edges = _edges(ref, bins)
    return _psi(_shares(ref, edges), np.asarray(live, dtype=float), edges)


def _blocks(reference: pd.DataFrame, days: int, max_blocks: int) -> list[pd.DataFrame]:
    """Consecutive ``days``-long slices of the reference, newest first, each fully inside it."""
    if reference.empty or "date" not in reference.columns:
        return []
    dates = pd.to_datetime(reference["date"], utc=True)
    first, end = dates.min(), dates.max() + pd.Timedelta(microseconds=1)
    width = pd.Timedelta(days=days)
    blocks = []
    while end - width >= first and len(blocks) < max_blocks:
        inside = (dates >= end - width) & (dates < end)
        blocks.append(reference[inside.to_numpy()])
        end -= width
    return blocks


def feature_psi(
    reference: pd.DataFrame,
    live: pd.DataFrame,
    features: list[str],
    bins: int = 10,
    block_days: int | None = None,
) -> pd.DataFrame:
    """PSI per feature, largest first: feature, psi, baseline, reference_rows, live_rows and the
    share of missing values on each side.

    ``baseline`` is the largest PSI that any ``block_days``-long window INSIDE the reference had
    against the whole reference (NaN without ``block_days`` or a full block). Slow features make
    any short window look unlike a long pooled one (14 days of late March 2024 against Q1 2024,
    20 Binance coins: median PSI 2.4 with no regime change at all), so a live PSI only means
    drift when it exceeds what the model's own training period already showed.
    """
    blocks = _blocks(reference, block_days, MAX_BASELINE_BLOCKS) if block_days else []
    rows = []
    for feature in features:
        ref = pd.to_numeric(reference[feature], errors="coerce").to_numpy(dtype=float)
        now = pd.to_numeric(live[feature], errors="coerce").to_numpy(dtype=float)
        edges = _edges(ref, bins)
        ref_shares = _shares(ref, edges) if len(ref) else np.empty(0)
        inside = [
            _psi(ref_shares, pd.to_numeric(b[feature], errors="coerce").to_numpy(float), edges)
            for b in blocks
        ]
        inside = [v for v in inside if math.isfinite(v)]
        rows.append(
            {
                "feature": feature,
                "psi": _psi(ref_shares, now, edges) if len(ref) else math.nan,
                "baseline": max(inside) if inside else math.nan,
                "reference_rows": len(ref),
                "live_rows": len(now),
                "reference_missing": float(np.isnan(ref).mean()) if len(ref) else math.nan,
                "live_missing": float(np.isnan(now).mean()) if len(now) else math.nan,
            }
        )
    frame = pd.DataFrame(rows, columns=PSI_TABLE_COLUMNS)
    return frame.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


def feature_drift(
    table: pd.DataFrame,
    *,
    horizon: str,
    model_version: str | None,
    day: str,
    policy: FeedbackPolicy,
    why_not: str | None = None,
) -> DriftMeasure:
    """Feature drift of a horizon from its PSI table: the share of features that shifted.

    A feature has shifted when its PSI exceeds both the bound and its training baseline.
    Cross-sectional ranks (``*_xrank``) stay in the table but out of the share: they are uniform
    across coins at every timestamp by construction, so their pooled distribution says nothing
    about the market's regime. ``why_not`` marks the measure insufficient with that reason (no
    model in use, no training window); too few rows on either side is insufficient too.
    """
    base = _common("feature", horizon, model_version, day, policy)
    base["bound"] = policy.psi_feature_share
    ref_rows = int(table["reference_rows"].max()) if len(table) else 0
    live_rows = int(table["live_rows"].max()) if len(table) else 0
    if why_not is None and (ref_rows < policy.psi_min_rows or live_rows < policy.psi_min_rows):
        why_not = (
            f"measured too little: {ref_rows} training-window rows and {live_rows} live rows "
            f"(needs >= {policy.psi_min_rows} each)"
        )
    psi_values = pd.to_numeric(table["psi"], errors="coerce").astype(float)
    rank = table["feature"].astype(str).str.endswith(XRANK_SUFFIX)
    judged = table[np.isfinite(psi_values) & ~rank]
    if why_not is None and judged.empty:
        why_not = "no feature could be measured"
    if why_not is not None:
        return DriftMeasure(**base, status="insufficient", value=None, n=live_rows, reason=why_not)
    limit = judged["baseline"].fillna(0).clip(lower=policy.psi_bound)
    shifted = judged[judged["psi"] > limit]
    share = len(shifted) / len(judged)
    breach = share >= policy.psi_feature_share
    top = ", ".join(
        f"{r.feature} {r.psi:.2f} (baseline {r.baseline:.2f})" for r in shifted.head(3).itertuples()
    )
    reason = (
        f"{len(shifted)} of {len(judged)} features beyond PSI max({policy.psi_bound:g}, their "
        f"training baseline): share {share:.2f} {'>=' if breach else '<'} "
        f"{policy.psi_feature_share:g}" + (f"; largest: {top}" if top else "")
    )
    return DriftMeasure(
        **base,
        status="breach" if breach else "within",
        value=share,
        n=live_rows,
        reason=reason,
        detail={
            "shifted": shifted["feature"].tolist(),
            "max_psi": _finite_or_none(judged["psi"].max()),
            "median_psi": _finite_or_none(judged["psi"].median()),
        },
    )


# --- performance and calibration -------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """ "Normal" from walk-forward folds: the fold mean and the spread between folds (ddof=1).

    A live figure is measured on far fewer cross-sections than a fold (one prediction per coin
    and day against a fold's every candle), so its own sampling error widens the band: the
    lower edge for a live estimate with standard error ``se`` is
    ``mean - k * sqrt(std ** 2 + se ** 2)`` (``se = 0``: the folds' band alone).
    """

    mean: float
    std: float
    k: float
    n_folds: int

    def lower(self, se: float = 0.0) -> float:
        return self.mean - self.k * math.sqrt(self.std**2 + se**2)


def performance_band(fold_values: list[float], k: float, min_folds: int) -> Band | None:
    """Band from the model's own fold results; None with fewer than ``min_folds`` finite ones."""
    values = np.asarray([v for v in fold_values if v is not None], dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < max(2, min_folds):
        return None
    return Band(float(values.mean()), float(values.std(ddof=1)), float(k), len(values))


def _insufficient_health(health: dict | None) -> str | None:
    if health is None:
        return "no outcomes of the model in use yet"
    if health.get("status") != "ok":
        return str(health.get("reason") or "insufficient outcomes")
    return None


def performance_drift(
    health: dict | None,
    ic_band: Band | None,
    hit_band: Band | None,
    *,
    horizon: str,
    model_version: str | None,
    day: str,
    policy: FeedbackPolicy,
) -> DriftMeasure:
    """Live rank IC (and hit rate of confident calls, when measurable) against the bands."""
    base = _common("performance", horizon, model_version, day, policy)
    n = int((health or {}).get("n_outcomes") or 0)
    why_not = _insufficient_health(health)
    if why_not is None and ic_band is None:
        why_not = f"the model in use has fewer than {policy.min_folds} walk-forward fold rank ICs"
    ic = _finite_or_none((health or {}).get("rank_ic"))
    if why_not is None and ic is None:
        why_not = "no rank IC could be measured in the window"
    if why_not is not None:
        return DriftMeasure(
            **base, status="insufficient", value=ic, bound=None, n=n, reason=why_not
        )
    ic_se = _ic_standard_error(health)
    ic_lower = ic_band.lower(ic_se)
    detail = {
        "band_mean": ic_band.mean,
        "band_std": ic_band.std,
        "band_folds": ic_band.n_folds,
        "live_se": ic_se,
    }
    hit = _finite_or_none(health.get("hit_rate"))
    call_times = int(health.get("n_call_times") or 0)
    hit_breach = False
    if hit_band is not None and hit is not None and call_times >= policy.min_call_times:
        hit_lower = hit_band.lower(math.sqrt(hit * (1 - hit) / call_times))
        hit_breach = hit < hit_lower
        detail.update(hit_rate=hit, hit_band_lower=hit_lower, call_times=call_times)
    ic_breach = ic < ic_lower
    reason = (
        f"rolling rank IC {ic:+.4f} {'<' if ic_breach else '>='} band {ic_lower:+.4f} "
        f"(fold mean {ic_band.mean:+.4f} - {ic_band.k:g} x sqrt(fold std {ic_band.std:.4f}^2 "
        f"+ live s.e. {ic_se:.4f}^2), {ic_band.n_folds} folds)"
    )
    if hit_breach:
        reason += f"; hit rate {hit:.2f} < band {detail['hit_band_lower']:.2f}"
    return DriftMeasure(
        **base,
        status="breach" if ic_breach or hit_breach else "within",
        value=ic,
        bound=ic_lower,
        n=n,
        reason=reason,
        detail=detail,
    )


def _ic_standard_error(health: dict) -> float:
    """Standard error of the live mean rank IC: the spread of its per-time ICs over the
    independent prediction times (overlapping horizons count once per horizon length)."""
    std = _finite_or_none(health.get("rank_ic_std"))
    times = min(float(health.get("n_dates") or 0), float(health.get("n_independent") or 0))
    if std is None or times < 1:
        return 0.0
    return std / math.sqrt(math.floor(times))


def calibration_drift(
    health: dict | None,
    *,
    horizon: str,
    model_version: str | None,
    day: str,
    policy: FeedbackPolicy,
) -> DriftMeasure:
    """Live ECE against the bound."""
    base = _common("calibration", horizon, model_version, day, policy)
    base["bound"] = policy.ece_bound
    n = int((health or {}).get("n_outcomes") or 0)
    ece = _finite_or_none((health or {}).get("ece"))
    why_not = _insufficient_health(health)
    if why_not is None and ece is None:
        why_not = "no ECE could be measured in the window"
    if why_not is not None:
        return DriftMeasure(**base, status="insufficient", value=ece, n=n, reason=why_not)
    breach = ece > policy.ece_bound
    base_rate = _finite_or_none(health.get("base_rate_up"))
    mean_prob = _finite_or_none(health.get("mean_probability"))
    reason = f"live ECE {ece:.3f} {'>' if breach else '<='} bound {policy.ece_bound:g}"
    if base_rate is not None and mean_prob is not None:
        reason += f" (mean probability {mean_prob:.2f}, share that went up {base_rate:.2f})"
    return DriftMeasure(
        **base, status="breach" if breach else "within", value=ece, n=n, reason=reason
    )
