"""Probability calibration: make "80 % confident" mean right about 80 % of the time.

Gradient-boosted classifiers rank well but their raw scores are not frequencies, and the product
filters on ``confidence >= 0.80``, so the score must be calibrated. The calibrator must be fit
only on OUT-OF-FOLD predictions (scores from models that never saw those rows), otherwise it
learns the model's in-sample over-confidence. Isotonic regression needs many samples to avoid
overfitting its steps, so small samples get Platt (sigmoid) scaling instead.

Rows are not independent observations. The coins' outcomes at one moment move together (one
market crash or rebound decides most of them), and the model's most extreme scores come
exactly from such moments: in the binance_2024 backtest the 45 hourly ">= 80 %" calls of the
old calibrator came from 10 hours on 4 days, and came true 49 % of the time. An isotonic step
fitted on 30 rows from one crash hour is one observation, not thirty. So each isotonic step
("block") is valued at a CONSERVATIVE estimate of its hit rate: the ``bound_quantile`` quantile
(lower above the prior, upper below it) of a Beta posterior (Jeffreys) whose sample size is the
number of distinct ``groups`` (independent periods, e.g. days) in the block, never the number
of rows. A block that no longer rises above its lower neighbour once bounded is pooled with it
(pool-adjacent-violators on the bounded values), so a high probability is only ever claimed
from a pool of many independent periods that were mostly right. Sigmoid fits are clamped into
the range the bounded isotonic fit supports.

The market-wide move also drifts between regimes, and a calibration sample holds only as many
independent draws of it as non-overlapping regime periods it spans. So the result is also
shrunk toward the prior by ``n_independent / (n_independent + prior_strength)``: a calibrator
that has seen one bull month does not promise 95 % next month. The prior is the calibration
sample's base rate ("no information beyond the average outcome"; a net-of-cost 1h return is
positive far less often than half the time, so 0.5 would bias every probability upward), itself
pulled toward 0.5 by ``prior_strength`` pseudo-periods when the sample holds few independent
periods (a 30-day calibration sample spanning two months is two draws of the market).

Pooling must not erase the model's ranking: a pooled step gives every coin in it the same bound
(a higher raw score never gets a lower one), so beside the bound the calibrator keeps an
uncollapsed point ESTIMATE (Platt scaling of the same scores, shrunk the same way), strictly
increasing in the raw score wherever the scores showed any slope. The threshold applies to the
bound; the estimate orders coins the bound ties and is shown next to it.

The fitted calibrator is plain numbers (thresholds or coefficients), so it serialises to JSON
with the model and needs no pickle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.stats import beta as beta_dist
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

ISOTONIC_MIN_SAMPLES = 1000
MIN_SAMPLES = 30  # below this (or with one class only) calibration is not attempted
# One-sided 95 %: a block claims no more than its hit rate's lower 5 % credible bound.
BOUND_QUANTILE = 0.05
_EPS = 1e-6
# A calibrated probability is an estimate from finite data: never claim certainty.
PROB_FLOOR, PROB_CEIL = 0.001, 0.999

Method = Literal["isotonic", "sigmoid", "identity"]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """Maps raw classifier scores to calibrated probabilities."""

    method: Method
    n_samples: int = 0
    x: list[float] = field(default_factory=list)  # isotonic thresholds
    y: list[float] = field(default_factory=list)
    a: float = 1.0  # sigmoid: p = 1 / (1 + exp(-(a * logit(raw) + b)))
    b: float = 0.0
    shrink: float = 1.0  # weight of the fitted map; the rest goes to ``prior``
    prior: float = 0.5
    # The range the calibration data supports (bounded isotonic fit); applied before shrinking.
    low: float = 0.0
    high: float = 1.0
    n_groups: int = 0  # independent periods the calibrator was fitted on
    # the uncollapsed Platt estimate: p = 1 / (1 + exp(-(est_a * logit(raw) + est_b)))
    est_a: float = 0.0
    est_b: float = 0.0

    def predict(self, prob: np.ndarray) -> np.ndarray:
        """The conservative calibrated probability (what the threshold is applied to)."""
        raw = np.asarray(prob, dtype=float)
        if self.method == "isotonic":
            out = np.interp(raw, np.asarray(self.x), np.asarray(self.y))
        elif self.method == "sigmoid":
            out = 1.0 / (1.0 + np.exp(-(self.a * _logit(raw) + self.b)))
        else:
            out = raw.copy()
        out = np.clip(out, self.low, self.high)
        return self._shrunk(out)

    def estimate(self, prob: np.ndarray) -> np.ndarray:
        """The uncollapsed point estimate beside the bound: strictly increasing in the raw
        score wherever the calibration data showed any slope (ties in ``predict`` keep their
        order here)."""
        raw = np.asarray(prob, dtype=float)
        if self.method == "identity":
            return self._shrunk(np.clip(raw, self.low, self.high))
        return self._shrunk(1.0 / (1.0 + np.exp(-(self.est_a * _logit(raw) + self.est_b))))

    def _shrunk(self, out: np.ndarray) -> np.ndarray:
        out = self.shrink * out + (1.0 - self.shrink) * self.prior
        return np.clip(out, PROB_FLOOR, PROB_CEIL)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "n_samples": self.n_samples,
            "x": list(map(float, self.x)),
            "y": list(map(float, self.y)),
            "a": float(self.a),
            "b": float(self.b),
            "shrink": float(self.shrink),
            "prior": float(self.prior),
            "low": float(self.low),
            "high": float(self.high),
            "n_groups": int(self.n_groups),
            "est_a": float(self.est_a),
            "est_b": float(self.est_b),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(
            method=data["method"],
            n_samples=int(data.get("n_samples", 0)),
            x=list(data.get("x", [])),
            y=list(data.get("y", [])),
            a=float(data.get("a", 1.0)),
            b=float(data.get("b", 0.0)),
            shrink=float(data.get("shrink", 1.0)),
            prior=float(data.get("prior", 0.5)),
            low=float(data.get("low", 0.0)),
            high=float(data.get("high", 1.0)),
            n_groups=int(data.get("n_groups", 0)),
            est_a=float(data.get("est_a", 0.0)),
            est_b=float(data.get("est_b", 0.0)),
        )


def conservative_rate(
    hits: float, n: float, n_independent: float, prior: float, quantile: float = BOUND_QUANTILE
) -> float:
    """A hit rate no further from ``prior`` than ``n_independent`` observations support.

    ``hits`` of ``n`` rows came true, but the rows hold only ``n_independent`` independent
    observations (e.g. distinct days): the observed rate is scaled to that sample size and the
    ``quantile`` (lower side above the prior, upper side below it) of the Jeffreys Beta
    posterior is returned, never crossing the prior. ``quantile`` 0.5 is ~the posterior median.
    """
    if n <= 0:
        return prior
    rate = hits / n
    n_eff = max(0.0, min(float(n), float(n_independent)))
    a, b = rate * n_eff + 0.5, (1.0 - rate) * n_eff + 0.5
    if rate > prior:
        return float(max(prior, beta_dist.ppf(quantile, a, b)))
    if rate < prior:
        return float(min(prior, beta_dist.ppf(1.0 - quantile, a, b)))
    return float(prior)


@dataclass
class _Block:
    lo: float  # smallest raw score in the block
    hi: float  # largest raw score
    n: int
    hits: float
    groups: np.ndarray  # distinct group ids
    value: float = 0.0


def _bounded_isotonic(
    prob: np.ndarray, y: np.ndarray, groups: np.ndarray, prior: float, quantile: float
) -> list[_Block]:
    """Isotonic steps valued at their conservative hit rate, re-pooled until monotone."""
    order = np.argsort(prob, kind="stable")
    p, t, g = prob[order], y[order], groups[order]
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True).fit_transform(p, t)
    # a new step wherever the fitted value changes (equal raw scores always share a value)
    starts = np.flatnonzero(np.r_[True, np.diff(fitted) != 0])
    ends = np.r_[starts[1:], len(p)]

    def value(block: _Block) -> float:
        return conservative_rate(block.hits, block.n, len(block.groups), prior, quantile)

    stack: list[_Block] = []
    for s, e in zip(starts, ends, strict=True):
        block = _Block(
            float(p[s]), float(p[e - 1]), int(e - s), float(t[s:e].sum()), np.unique(g[s:e])
        )
        block.value = value(block)
        stack.append(block)
        while len(stack) > 1 and stack[-1].value <= stack[-2].value:
            top, below = stack.pop(), stack.pop()
            merged = _Block(
                below.lo,
                top.hi,
                below.n + top.n,
                below.hits + top.hits,
                np.union1d(below.groups, top.groups),
            )
            merged.value = value(merged)
            stack.append(merged)
    return stack


def fit_calibrator(
    prob: np.ndarray,
    y: np.ndarray,
    *,
    isotonic_min_samples: int = ISOTONIC_MIN_SAMPLES,
    method: Method | None = None,
    n_independent: float | None = None,
    prior_strength: float = 0.0,
    groups: np.ndarray | None = None,
    bound_quantile: float = BOUND_QUANTILE,
    prior: float | None = None,
) -> Calibrator:
    """Fit on out-of-fold scores ``prob`` and binary outcomes ``y``.

    Isotonic when there are at least ``isotonic_min_samples`` rows, Platt scaling below that,
    identity when there are too few rows or only one class (nothing to learn from).
    ``groups`` labels each row's independent period (rows of one group, e.g. one day, count as
    one observation; None: every row is independent); each isotonic step is bounded by
    ``bound_quantile`` as described in the module docstring (0.5 turns the bound ~off).
    ``n_independent`` (independent regime periods in the sample) with ``prior_strength`` > 0
    shrinks the result toward ``prior`` (default: the sample's base rate, pulled toward 0.5 by
    ``prior_strength`` pseudo-periods against ``len(unique(groups))`` real ones).
    """
    prob = np.asarray(prob, dtype=float)
    y = np.asarray(y, dtype=float)
    if prob.shape != y.shape:
        raise ValueError(f"prob and y differ in shape: {prob.shape} vs {y.shape}")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(f"groups and y differ in shape: {groups.shape} vs {y.shape}")
    if not 0.0 < bound_quantile <= 0.5:
        raise ValueError(f"bound_quantile must be in (0, 0.5], got {bound_quantile}")
    ok = np.isfinite(prob) & np.isfinite(y)
    prob, y = prob[ok], y[ok]
    groups = np.arange(len(y)) if groups is None else groups[ok]
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must be binary (0/1)")
    n = len(y)
    n_groups = len(np.unique(groups))
    if prior is None:
        # the base rate, itself estimated from n_groups independent periods: pulled toward 0.5
        # by the same pseudo-periods of "no idea" that shrink the map (one period of all-up
        # outcomes is no evidence that the next period will be up too)
        strength = max(0.0, prior_strength)
        prior = 0.5
        if n:
            prior = (float(y.mean()) * n_groups + 0.5 * strength) / (n_groups + strength)
    if method is None:
        if n < MIN_SAMPLES or len(np.unique(y)) < 2:
            method = "identity"
        else:
            method = "isotonic" if n >= isotonic_min_samples else "sigmoid"
    shrink = 1.0
    if n_independent is not None and prior_strength > 0:
        shrink = max(0.0, n_independent) / (max(0.0, n_independent) + prior_strength)
    common = {"n_samples": n, "shrink": shrink, "prior": prior, "n_groups": n_groups}
    if method == "identity":
        if n == 0:
            return Calibrator("identity", **common)
        # nothing to fit a map on: allow no claim beyond what the outcomes themselves support
        rate = conservative_rate(y.sum(), n, n_groups, prior, bound_quantile)
        high = max(rate, prior)
        return Calibrator("identity", low=min(rate, prior), high=high, **common)
    blocks = _bounded_isotonic(prob, y, groups, prior, bound_quantile)
    low, high = blocks[0].value, blocks[-1].value
    platt = LogisticRegression(C=1e4).fit(_logit(prob).reshape(-1, 1), y)
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    if a <= 0:  # scores that do not rise with the outcome carry no order worth showing
        a, b = 0.0, float(_logit(np.array([y.mean()]))[0])
    common.update(low=low, high=high, est_a=a, est_b=b)
    if method == "isotonic":
        xs: list[float] = []
        ys: list[float] = []
        for block in blocks:
            for x in (block.lo, block.hi) if block.hi > block.lo else (block.lo,):
                xs.append(x)
                ys.append(block.value)
        return Calibrator("isotonic", x=xs, y=ys, **common)
    return Calibrator("sigmoid", a=a, b=b, **common)


@dataclass
class ReturnMap:
    """Expected NET return from a ranking score: the market's expected move (``drift``, the mean
    over training dates of the cross-sectional mean net return: an honest unconditional estimate
    of the common part) plus the expected EXCESS return of a coin at that within-date score rank,
    learned out of fold (decile means made monotone). A flat map (no skill shown out of fold)
    says every coin expects the market's move."""

    x: list[float] = field(default_factory=lambda: [0.0, 1.0])  # within-date score rank
    y: list[float] = field(default_factory=lambda: [0.0, 0.0])  # expected excess return
    drift: float = 0.0

    def predict(self, score_rank: np.ndarray) -> np.ndarray:
        rank = np.asarray(score_rank, dtype=float)
        return self.drift + np.interp(rank, np.asarray(self.x), np.asarray(self.y))

    def to_dict(self) -> dict[str, Any]:
        return {"x": list(map(float, self.x)), "y": list(map(float, self.y)), "drift": self.drift}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReturnMap:
        return cls(list(data["x"]), list(data["y"]), float(data["drift"]))


def fit_return_map(
    score_rank: np.ndarray, excess: np.ndarray, drift: float, bins: int = 10, min_rows: int = 200
) -> ReturnMap:
    """Monotone map from within-date score rank to mean excess return, from out-of-fold rows."""
    rank = np.asarray(score_rank, dtype=float)
    target = np.asarray(excess, dtype=float)
    ok = np.isfinite(rank) & np.isfinite(target)
    rank, target = rank[ok], target[ok]
    if len(rank) < min_rows:
        return ReturnMap(drift=float(drift))
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, rank, side="left") - 1, 0, bins - 1)
    centres, means, weights = [], [], []
    for b in range(bins):
        inside = which == b
        if inside.sum():
            centres.append(float(rank[inside].mean()))
            means.append(float(target[inside].mean()))
            weights.append(float(inside.sum()))
    fitted = IsotonicRegression(increasing=True).fit_transform(
        centres, means, sample_weight=weights
    )
    fitted = fitted - np.average(fitted, weights=weights)  # excess averages to zero
    return ReturnMap([float(c) for c in centres], [float(v) for v in fitted], float(drift))
