"""Trailing windows whose every value is an EXACT function of the window's own candles.

Why: a daily partition reads only the look-back its features need, and must produce the very
same numbers (bit for bit) as a computation over the whole stored history. Recursive
indicators (TA-Lib's EMA, RSI, MACD, ATR) and running sums (cumulative-sum differences, pandas'
online rolling std) depend on where the frame starts: their rounding, or their seed, carries
the first candle's trace forever. Here every window is computed from values that depend only on
candles inside the window, with arithmetic whose order is fixed by absolute time:

* inputs are panels ``(coins, bars)`` on an ABSOLUTE time grid: column ``j`` holds the candle
  opened at bar ``origin + j`` counted from the Unix epoch (``date // step``); a missing candle
  is NaN, so a lag of ``k`` bars is ``k`` bars of time, never ``k`` rows across a hole;
* a window of ``k`` bars is split at absolute multiples of ``k``: the part in the current block
  (a prefix sum from the block start) and the part in the previous block (a suffix sum to its
  end), each accumulated sequentially within its block, then combined once. Both parts lie
  inside the window, and the blocks are the same whatever the frame, so the result is too;
* an EMA is a truncated exponential kernel over the last ``K`` bars, normalised by the weights
  of the candles present (so a hole or a young coin shortens it honestly), with ``K`` chosen so
  that the weight left out is below ``KERNEL_TOLERANCE`` (see ``kernel_length``).

Sums over windows with a missing candle are NaN (a window is complete or it is not), except the
EMA kernel, which averages over the candles present; counts of present candles are exact.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

# Weight an EMA kernel may leave out: (1 - alpha) ** K <= KERNEL_TOLERANCE. The difference to
# TA-Lib's recursive EMA after warm-up is of this order (benchmarks/README.md has the figures).
KERNEL_TOLERANCE = 1e-9


def kernel_length(alpha: float, tolerance: float = KERNEL_TOLERANCE) -> int:
    """Bars an exponential kernel with smoothing ``alpha`` needs so the weight left out is below
    ``tolerance``; e.g. EMA(168) -> 1,741 bars, Wilder(14) -> 280 bars."""
    return max(1, math.ceil(math.log(tolerance) / math.log(1.0 - alpha)))


def lag(panel: np.ndarray, bars: int) -> np.ndarray:
    """Each coin's value ``bars`` bars of time earlier (NaN before the panel or in a hole)."""
    shifted = np.full_like(panel, np.nan)
    if 0 < bars < panel.shape[1]:
        shifted[:, bars:] = panel[:, :-bars]
    elif bars == 0:
        shifted[:] = panel
    return shifted


def _blocks(x: np.ndarray, k: int, origin: int, fill: float) -> tuple[np.ndarray, int]:
    """``x`` padded so that its columns split into blocks of ``k`` at absolute multiples of
    ``k``; returns (coins, blocks, k) and the left padding."""
    left = origin % k
    right = (-(left + x.shape[1])) % k
    padded = np.pad(x, ((0, 0), (left, right)), constant_values=fill)
    return padded.reshape(x.shape[0], -1, k), left


def _trailing(x: np.ndarray, k: int, origin: int, op: np.ufunc, fill: float) -> np.ndarray:
    """``op`` over each trailing window of ``k`` bars (``fill`` is op's identity: a window that
    starts before the panel covers only the bars it has; callers check completeness)."""
    blocks, left = _blocks(x, k, origin, fill)
    coins = x.shape[0]
    prefix = op.accumulate(blocks, axis=2).reshape(coins, -1)
    suffix = op.accumulate(blocks[..., ::-1], axis=2)[..., ::-1].reshape(coins, -1)
    out = prefix.copy()
    t = np.arange(prefix.shape[1])
    inside = ((t + 1) % k != 0) & (t >= k - 1)  # the window reaches into the previous block
    out[:, inside] = op(prefix[:, inside], suffix[:, t[inside] - k + 1])
    return out[:, left : left + x.shape[1]]


def present_count(panel: np.ndarray, k: int, origin: int) -> np.ndarray:
    """How many of the last ``k`` bars hold a value (exact: sums of ones)."""
    return _trailing((~np.isnan(panel)).astype(np.float64), k, origin, np.add, 0.0)


def window_sum(panel: np.ndarray, k: int, origin: int) -> np.ndarray:
    """Sum over the last ``k`` bars; NaN unless all ``k`` hold a value."""
    total = _trailing(np.nan_to_num(panel, nan=0.0), k, origin, np.add, 0.0)
    return np.where(present_count(panel, k, origin) == k, total, np.nan)


def window_mean_var(
    panel: np.ndarray, k: int, origin: int, ddof: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance (``ddof`` 0: population, 1: sample) over the last ``k`` bars, from the
    window's sum and sum of squares; NaN unless the window is complete."""
    total = window_sum(panel, k, origin)
    squares = window_sum(panel * panel, k, origin)
    mean = total / k
    var = np.maximum((squares - total * mean) / (k - ddof), 0.0)  # rounding never below 0
    return mean, var


def window_max(panel: np.ndarray, k: int, origin: int) -> np.ndarray:
    """Maximum over the last ``k`` bars; NaN unless all ``k`` hold a value."""
    high = _trailing(np.nan_to_num(panel, nan=-np.inf), k, origin, np.maximum, -np.inf)
    return np.where(present_count(panel, k, origin) == k, high, np.nan)


@lru_cache(maxsize=64)
def _powers(decay: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """decay**pos and decay**-pos for positions 0..k-1 of a block (the same in every frame)."""
    pos = np.arange(k, dtype=np.float64)
    return np.power(decay, pos), np.power(decay, -pos)


def _kernel_sum(values: np.ndarray, decay: float, k: int, origin: int) -> np.ndarray:
    """sum_{j<k} decay**j * values[t - j] for every t (values without NaN)."""
    up, down = _powers(decay, k)
    blocks, left = _blocks(values, k, origin, 0.0)
    coins = values.shape[0]
    # prefix: sum over the block start..t of decay**(t-i) v_i = decay**pos_t * cumsum(v_i d**-pos_i)
    prefix = (up * np.cumsum(blocks * down, axis=2)).reshape(coins, -1)
    # suffix: sum over s..block end of decay**(end-i) v_i (a reversed cumulative sum)
    weighted = blocks * up[::-1]
    suffix = np.cumsum(weighted[..., ::-1], axis=2)[..., ::-1].reshape(coins, -1)
    out = prefix.copy()
    t = np.arange(prefix.shape[1])
    inside = ((t + 1) % k != 0) & (t >= k - 1)
    carry = np.tile(up * decay, prefix.shape[1] // k)  # decay**(t - end of previous block)
    out[:, inside] = prefix[:, inside] + carry[inside] * suffix[:, t[inside] - k + 1]
    return out[:, left : left + values.shape[1]]


def kernel_ema(
    panel: np.ndarray, alpha: float, origin: int, min_periods: int, k: int | None = None
) -> np.ndarray:
    """Exponential moving average as a kernel over the last ``k`` bars (``kernel_length`` by
    default), weights ``(1 - alpha) ** lag`` normalised over the candles present; NaN until
    ``min_periods`` of those bars hold a value."""
    k = k or kernel_length(alpha)
    decay = 1.0 - alpha
    present = ~np.isnan(panel)
    numerator = _kernel_sum(np.where(present, panel, 0.0), decay, k, origin)
    weights = _kernel_sum(present.astype(np.float64), decay, k, origin)
    enough = present_count(panel, k, origin) >= min_periods
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(enough & (weights > 0), numerator / weights, np.nan)
