"""Signal-model families behind one interface (``base.SignalEstimator``).

A new family is one module implementing the Protocol plus one entry in ``FAMILIES``; the shared
estimator tests, the walk-forward, calibration, persistence and MLflow then work for it.
"""

from __future__ import annotations

from typing import Any

from crypto_assets.ml.estimators.base import TARGETS, Output, SignalEstimator
from crypto_assets.ml.estimators.lightgbm import LGBMParams, LightGBMEstimator, lightgbm_device

FAMILIES: dict[str, type[SignalEstimator]] = {
    LightGBMEstimator.family: LightGBMEstimator,
}


def estimator_class(family: str) -> type[SignalEstimator]:
    try:
        return FAMILIES[family]
    except KeyError:
        raise ValueError(f"unknown model family {family!r}; known: {sorted(FAMILIES)}") from None


def make_estimator(family: str, params: dict[str, Any] | None = None, device: str = "auto"):
    """A fresh, unfitted estimator of ``family``."""
    return estimator_class(family)(params, device=device)


__all__ = [
    "FAMILIES",
    "TARGETS",
    "LGBMParams",
    "LightGBMEstimator",
    "Output",
    "SignalEstimator",
    "estimator_class",
    "lightgbm_device",
    "make_estimator",
]
