"""Walk-forward cross-validation with purge and embargo (de Prado, AFML ch. 7).

Forward-return labels overlap in time: a row at ``t`` with a 30-day label "knows" prices up to
``t + 30d``. A plain time split would let training rows whose label window reaches into the test
block leak test-period prices into the model. So each fold

* trains on an expanding window of rows strictly before the test block (walk-forward: the model
  never sees the future, which is also how it is retrained in production);
* PURGES training rows whose label interval ``[date, label_end]`` overlaps the test block, i.e.
  keeps only rows whose label was fully known at ``test_start``;
* EMBARGOES the last ``embargo`` (>= horizon) of time before the test block, so serial
  correlation between features just before and just after the cut cannot leak either. In an
  expanding window no training row lies after a test block, so de Prado's post-test embargo
  reduces to this gap; the previous test block joins the training set of the next fold only
  once its labels are known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto_assets.ml.dataset import utc_index


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold; ``train_idx``/``test_idx`` are positions into the input rows."""

    index: int
    train_idx: np.ndarray
    test_idx: np.ndarray
    train_end: pd.Timestamp  # latest row date in the training set
    test_start: pd.Timestamp  # inclusive
    test_end: pd.Timestamp  # exclusive

    @property
    def n_train(self) -> int:
        return len(self.train_idx)

    @property
    def n_test(self) -> int:
        return len(self.test_idx)


def _as_utc_index(values: pd.Series | np.ndarray | pd.Index, name: str) -> pd.DatetimeIndex:
    index = utc_index(values)
    if index.hasnans and name == "dates":
        raise ValueError("walk_forward_splits: dates contain NaT")
    return index


def walk_forward_splits(
    dates: pd.Series | np.ndarray,
    *,
    min_train: pd.Timedelta,
    retrain_every: pd.Timedelta,
    horizon: pd.Timedelta,
    embargo: pd.Timedelta | None = None,
    label_end: pd.Series | np.ndarray | None = None,
    min_train_rows: int = 1,
) -> list[Fold]:
    """Expanding-window folds with purge + embargo, in time order, deterministic.

    ``dates`` holds one timestamp per row (many rows share one: one per coin). Test blocks are
    ``[test_start, test_start + retrain_every)`` starting at ``first date + min_train``. A row is
    used for training only if ``label_end <= test_start`` (purge; ``label_end`` defaults to
    ``date + horizon``) and ``date <= test_start - embargo`` (embargo, default ``horizon``;
    it may not be shorter than the horizon). Folds with fewer than ``min_train_rows`` training
    rows or no test rows are dropped.
    """
    if retrain_every <= pd.Timedelta(0):
        raise ValueError("retrain_every must be positive")
    if horizon < pd.Timedelta(0) or min_train < pd.Timedelta(0):
        raise ValueError("horizon and min_train must not be negative")
    embargo = horizon if embargo is None else embargo
    if embargo < horizon:
        raise ValueError(f"embargo {embargo} is shorter than the horizon {horizon}")
    when = _as_utc_index(dates, "dates")
    if len(when) == 0:
        return []
    known = when + horizon if label_end is None else _as_utc_index(label_end, "label_end")
    if len(known) != len(when):
        raise ValueError("label_end must have one value per date")
    when_ns = when.asi8
    known_ns = np.where(known.isna(), np.iinfo(np.int64).max, known.asi8)

    first, last = when.min(), when.max()
    folds: list[Fold] = []
    test_start = first + min_train
    while test_start <= last:
        test_end = test_start + retrain_every
        test_mask = (when_ns >= test_start.value) & (when_ns < test_end.value)
        train_mask = (known_ns <= test_start.value) & (when_ns <= (test_start - embargo).value)
        train_idx = np.flatnonzero(train_mask)
        test_idx = np.flatnonzero(test_mask)
        if len(test_idx) and len(train_idx) >= max(min_train_rows, 1):
            folds.append(
                Fold(
                    index=len(folds),
                    train_idx=train_idx,
                    test_idx=test_idx,
                    train_end=pd.Timestamp(when_ns[train_idx].max(), tz="UTC"),
                    test_start=test_start,
                    test_end=test_end,
                )
            )
        test_start = test_end
    return folds
