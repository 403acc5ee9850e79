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
* ``y_return`` the net forward return itself (for families that want it);
* ``y_rank_slow`` (optional) the rank of a LONGER horizon's return where it was known by the
  frame's cut, NaN elsewhere (``ml.dataset.add_targets``): the tree families fit their
  ``slow_views`` on it and average them into the ranking score; others may ignore it.

Frames passed to ``predict`` / ``predict_proba`` / ``explain`` carry ``symbol``, ``date`` and the
features; a sequence model may use the rows of earlier dates in the same frame as history, but
must return one value per row in the frame's order and never use a row dated after the row it
scores. ``context_bars`` says how many bars of a coin's history (the row itself included) a
family reads: 1 for the tree families; a caller scoring a block of dates passes that many bars
before the block as well (``ml.walkforward.with_context``) and keeps the block's outputs.

Training rows may carry a boolean ``FIT_ROW`` column: when present, only the rows where it is
true are learned from and the others serve as history (a sequence family thins its training
TARGETS without punching holes into the sequences; tree families never receive it).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import BaseModel

Output = Literal["score", "proba"]
TARGETS: tuple[str, ...] = ("y_rank", "y_up", "y_return")
FIT_ROW = "fit_row"


@runtime_checkable
class SignalEstimator(Protocol):
    """A model family behind the product's signals (see the module docstring)."""

    family: ClassVar[str]
    params_model: ClassVar[type[BaseModel]]  # the hyper-parameters it accepts (validated)
    device: str  # where it trained: "cpu", "cuda", ... (logged to MLflow)

    @property
    def context_bars(self) -> int:
        """Bars of a coin's history one output reads (the row itself included)."""
        ...

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

    def explain(
        self, frame: pd.DataFrame, output: Output = "score", rows: np.ndarray | None = None
    ) -> pd.DataFrame:
        """Per-row additive contributions (SHAP) of every feature to ``predict`` (``"score"``)
        or to the probability model's raw output (``"proba"``), plus a ``bias`` column: the
        features' columns sum with ``bias`` to the model's output on its own scale. ``rows``
        (a boolean mask over ``frame``) explains only those rows, indexed as in ``frame``; the
        others are history a sequence family reads (SHAP is costly for it, history is not)."""
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


def feature_matrix(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """``frame[features]`` as float32 (NaN kept), with a clear error naming absent columns."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ValueError(f"feature frame lacks columns {missing}")
    return frame[features].to_numpy(dtype=np.float32)


def place_contributions(values: np.ndarray, names: list[str], features: list[str]) -> np.ndarray:
    """A model's (rows, len(names) + 1) contributions (last column: bias) spread into the full
    ``features`` columns + bias, zero for the features that model did not see (one view)."""
    where = {name: i for i, name in enumerate(features)}
    full = np.zeros((len(values), len(features) + 1))
    full[:, [where[n] for n in names]] = values[:, :-1]
    full[:, -1] = values[:, -1]
    return full


def fit_rows(train: pd.DataFrame) -> pd.DataFrame:
    """The rows to learn from: those marked ``FIT_ROW`` when the column is there, else all."""
    if FIT_ROW not in train.columns:
        return train
    return train[train[FIT_ROW].to_numpy(dtype=bool)]


# Fewer rows with a known longer-horizon outcome than this: the slow models are left out (the
# first folds of a walk-forward, where a month's outcomes have barely begun to resolve).
MIN_SLOW_ROWS = 1000


def slow_rows(train: pd.DataFrame) -> pd.DataFrame | None:
    """The training rows with a known ``y_rank_slow``, or None when there are too few."""
    if "y_rank_slow" not in train.columns:
        return None
    known = train[train["y_rank_slow"].notna().to_numpy()]
    return known if len(known) >= MIN_SLOW_ROWS else None


def views_of(views: list[list[str]] | None, features: list[str]) -> list[list[str]]:
    """Feature views cut to the fitted features; one view of every feature when none is left."""
    chosen = [[c for c in view if c in features] for view in views or []]
    return [view for view in chosen if view] or [list(features)]


def score_fits(
    train: pd.DataFrame,
    features: list[str],
    views: list[list[str]] | None,
    slow_views: list[list[str]] | None,
) -> list[tuple[pd.DataFrame, list[str], np.ndarray]]:
    """(rows, view, target) of each ranking-score model of one seed, for the tree families:
    every view on ``y_rank``, then every slow view on ``y_rank_slow`` where enough rows know it
    (none when ``slow_views`` is None)."""
    fits = [(train, view, train["y_rank"].to_numpy(float)) for view in views_of(views, features)]
    slow = slow_rows(train) if slow_views is not None else None
    if slow is not None:
        target = slow["y_rank_slow"].to_numpy(float)
        fits += [(slow, view, target) for view in views_of(slow_views, features)]
    return fits


def explained_rows(frame: pd.DataFrame, rows: np.ndarray | None) -> pd.DataFrame:
    """The rows ``explain`` must explain (all when ``rows`` is None)."""
    if rows is None:
        return frame
    mask = np.asarray(rows, dtype=bool)
    if mask.shape != (len(frame),):
        raise ValueError(f"rows must be a boolean mask of {len(frame)} values")
    return frame[mask]


def own_params(estimator: SignalEstimator) -> dict[str, object]:
    """A fitted estimator's hyper-parameters as its params model accepts them (``params()``
    also reports what it resolved, e.g. the device)."""
    fields = estimator.params_model.model_fields
    return {k: v for k, v in estimator.params().items() if k in fields}
