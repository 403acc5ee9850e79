"""Probability calibration: make "80 % confident" mean right about 80 % of the time.

Gradient-boosted classifiers rank well but their raw scores are not frequencies, and the product
filters on ``confidence >= 0.80``, so the score must be calibrated. The calibrator must be fit
only on OUT-OF-FOLD predictions (scores from models that never saw those rows), otherwise it
learns the model's in-sample over-confidence. Isotonic regression needs many samples to avoid
overfitting its steps, so small samples get Platt (sigmoid) scaling instead.

The market-wide move dominates whether a coin's return is positive, and a calibration sample
holds only as many independent draws of that move as non-overlapping horizons it spans (60 days
of rows hold two independent 30-day market moves, however many coins there are). So the
calibrated probability is shrunk toward 0.5 by ``n_independent / (n_independent +
prior_strength)``: a calibrator that has seen one bull month does not promise 95 % next month.

The fitted calibrator is plain numbers (thresholds or two coefficients), so it serialises to
JSON with the model and needs no pickle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

ISOTONIC_MIN_SAMPLES = 1000
MIN_SAMPLES = 30  # below this (or with one class only) calibration is not attempted
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

    def predict(self, prob: np.ndarray) -> np.ndarray:
        raw = np.asarray(prob, dtype=float)
        if self.method == "isotonic":
            out = np.interp(raw, np.asarray(self.x), np.asarray(self.y))
        elif self.method == "sigmoid":
            out = 1.0 / (1.0 + np.exp(-(self.a * _logit(raw) + self.b)))
        else:
            out = raw.copy()
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
        )


def fit_calibrator(
    prob: np.ndarray,
    y: np.ndarray,
    *,
    isotonic_min_samples: int = ISOTONIC_MIN_SAMPLES,
    method: Method | None = None,
    n_independent: float | None = None,
    prior_strength: float = 0.0,
) -> Calibrator:
    """Fit on out-of-fold scores ``prob`` and binary outcomes ``y``.

    Isotonic when there are at least ``isotonic_min_samples`` rows, Platt scaling below that,
    identity when there are too few rows or only one class (nothing to learn from).
    ``n_independent`` (independent outcome periods in the sample) with ``prior_strength`` > 0
    shrinks the result toward 0.5 as described in the module docstring.
    """
    prob = np.asarray(prob, dtype=float)
    y = np.asarray(y, dtype=float)
    if prob.shape != y.shape:
        raise ValueError(f"prob and y differ in shape: {prob.shape} vs {y.shape}")
    ok = np.isfinite(prob) & np.isfinite(y)
    prob, y = prob[ok], y[ok]
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must be binary (0/1)")
    n = len(y)
    if method is None:
        if n < MIN_SAMPLES or len(np.unique(y)) < 2:
            method = "identity"
        else:
            method = "isotonic" if n >= isotonic_min_samples else "sigmoid"
    shrink = 1.0
    if n_independent is not None and prior_strength > 0:
        shrink = max(0.0, n_independent) / (max(0.0, n_independent) + prior_strength)
    if method == "identity":
        return Calibrator("identity", n_samples=n, shrink=shrink)
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(prob, y)
        return Calibrator(
            "isotonic",
            n_samples=n,
            x=iso.X_thresholds_.tolist(),
            y=iso.y_thresholds_.tolist(),
            shrink=shrink,
        )
    lr = LogisticRegression(C=1e4).fit(_logit(prob).reshape(-1, 1), y)
    return Calibrator(
        "sigmoid", n_samples=n, a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]), shrink=shrink
    )
