"""The sequence view of a feature frame: for each (symbol, date) row, the same coin's last
``length`` rows up to and including that date, for models that read a coin's recent history.

Built once per frame as an index matrix (row positions, -1 where a step is missing) instead of
a dense (rows x length x features) array: an hourly training set of 200k rows and 60 features
over 24 steps would take over a gigabyte dense, while the index takes 200k x 24 integers and a
model gathers the values of one mini-batch at a time.

No look-ahead by construction: step ``k`` of a row dated t points to the row of the same symbol
dated exactly t - (length - 1 - k) bars, never later; a step whose row is absent from the frame
(a gap, or before the coin's first candle) is -1, which ``gather`` turns into NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def sequence_index(frame: pd.DataFrame, length: int, bar: pd.Timedelta) -> np.ndarray:
    """(len(frame), length) int64 positions into ``frame`` (0-based, -1 = missing step); the
    last column is the row itself. ``frame`` needs ``symbol`` and ``date`` (one row per pair)."""
    if length < 1:
        raise ValueError(f"sequence length must be >= 1, got {length}")
    n = len(frame)
    if n == 0:
        return np.empty((0, length), dtype=np.int64)
    codes = pd.factorize(frame["symbol"], sort=False)[0].astype(np.int64)
    stamps = pd.DatetimeIndex(pd.to_datetime(frame["date"], utc=True)).asi8
    step = np.int64(bar.value)
    if np.any(stamps % step != stamps[0] % step):
        raise ValueError(f"dates are not aligned to one {bar} grid")
    bars = (stamps - stamps.min()) // step
    span = int(bars.max()) + length + 1
    keys = codes * span + bars
    lookup = pd.Index(keys)
    if not lookup.is_unique:
        raise ValueError("the frame holds more than one row per (symbol, date)")
    out = np.empty((n, length), dtype=np.int64)
    for k in range(length):
        out[:, k] = lookup.get_indexer(keys - (length - 1 - k))
    return out


def gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(rows, length, features) float32 of ``values`` (the frame's feature matrix) at ``index``
    (a slice of ``sequence_index``), NaN where a step is missing."""
    out = values[np.maximum(index, 0)].astype(np.float32, copy=False)
    out[index < 0] = np.nan
    return out
