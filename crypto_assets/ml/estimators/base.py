"""The one interface every signal-model family implements (LightGBM, XGBoost, a deep model...).

Shaped after Qlib's narrow ``Model.fit / predict``: an estimator learns from a training frame and
scores other frames; everything around it — the dataset, the purged walk-forward, calibration,
the return mapping, persistence of the wrapper, MLflow — is shared code that never looks inside.
Adding a family means adding one module here and one line in ``estimators/__init__.py``; the
shared estimator tests (crypto_assets_tests/ml/test_estimator_contract.py) then run on it.

The training frame holds ``symbol``, ``date`` (candle open time, UTC), the feature columns and
three targets computed by the caller from the NET forward return (``ml.dataset.add_targets``):

* ``y_rank``   the return's percentile rank among coins at the same date (0..1]: what
  ``predict`` learns. Ranking is the product's job and a rank target ignores the fat tails that
  dominate a squared loss on raw returns (measured in benchmarks/README.md, "The signal edge");
* ``y_up``     1.0 when the net return is positive: what ``predict_proba`` learns;
* ``y_return`` the net forward return itself (for families that want it).

Frames passed to ``predict`` / ``predict_proba`` / ``explain`` carry ``symbol``, ``date`` and the
features; a sequence model may use the rows of earlier dates in the same frame as history, but
must return one value per row in the frame's order and never use a row dated after the row it
scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd

Output = Literal["score", "proba"]
TARGETS: tuple[str, ...] = ("y_rank", "y_up", "y_return")


@runtime_checkable
class SignalEstimator(Protocol):
    """A model family behind the product's signals (see the module docstring)."""

    family: ClassVar[str]
    device: str  # where it trained: "cpu", "cuda", ... (logged to MLflow)

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        """Learn the ranking score from ``y_rank`` and the raw probability from ``y_up``."""
        ...

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Ranking score per row: higher means a better expected return relative to the other
        coins of the same date (not a return; ``ml.model`` maps it to one)."""
        ...

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Uncalibrated P(net return > 0) per row, in [0, 1]."""
        ...

    def explain(self, frame: pd.DataFrame, output: Output = "score") -> pd.DataFrame:
        """Per-row additive contributions (SHAP) of every feature to ``predict`` (``"score"``)
        or to the probability model's raw output (``"proba"``), plus a ``bias`` column: the
        features' columns sum with ``bias`` to the model's output on its own scale."""
        ...

    def params(self) -> dict[str, object]:
        """The hyper-parameters used (logged as MLflow params)."""
        ...

    def save(self, directory: Path) -> None:
        """Write everything ``load`` needs into ``directory`` (created by the caller)."""
        ...

    @classmethod
    def load(cls, directory: Path) -> Self:
        """The estimator ``save`` wrote."""
        ...
