"""The return profile of a coin on daily candles: trailing returns over 1 to 60 days, realised
volatility, a dollar-volume z-score and the drawdown from the 60-day closing high.

These are the features of the project's forty-line yardstick (``shared/bench/minimal_lgbm.py``).
The daily signal model averages a model on this view with one on the technical view
(``indicators``): on binance_2024 the average ranked coins better than either alone on every
coin cut (benchmarks/README.md, "The signal edge"), and it keeps a view whose value is known
on other exchanges and eras.

Every value is an exact function of the coin's trailing window (numpy sliding windows, no
running sums), so it does not depend on where the stored history starts, and uses only candles
at or before its row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

RETURN_BARS: dict[str, int] = {"3d": 3, "14d": 14, "60d": 60}
VOLATILITY_BARS: dict[str, int] = {"14d": 14}
DOLLAR_VOLUME_Z_BARS = 30
DRAWDOWN_BARS = 60
LOOKBACK_BARS = 61  # the longest window above, plus the candle before it


def return_feature_names() -> list[str]:
    """The columns ``build_return_features`` adds, in order."""
    return [
        *(f"ret_{k}" for k in RETURN_BARS),
        *(f"vol_{k}" for k in VOLATILITY_BARS),
        f"log_dollar_volume_z_{DOLLAR_VOLUME_Z_BARS}d",
        f"close_drawdown_{DRAWDOWN_BARS}d",
    ]


def _trailing(values: np.ndarray, bars: int, reduce: str) -> np.ndarray:
    """``reduce`` over each full trailing window of ``bars`` values (NaN until full)."""
    out = np.full(len(values), np.nan)
    if len(values) >= bars:
        windows = sliding_window_view(values, bars)
        if reduce == "std":
            out[bars - 1 :] = windows.std(axis=1, ddof=1)
        elif reduce == "mean":
            out[bars - 1 :] = windows.mean(axis=1)
        else:
            out[bars - 1 :] = windows.max(axis=1)
    return out


def _shifted(values: np.ndarray, bars: int) -> np.ndarray:
    out = np.full(len(values), np.nan)
    if len(values) > bars:
        out[bars:] = values[:-bars]
    return out


def _coin_features(close: np.ndarray, volume: np.ndarray) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for key, bars in RETURN_BARS.items():
            out[f"ret_{key}"] = close / _shifted(close, bars) - 1.0
        log_return = np.log(close / _shifted(close, 1))
        for key, bars in VOLATILITY_BARS.items():
            out[f"vol_{key}"] = _trailing(log_return, bars, "std")
        dollar = np.log1p(close * volume)
        mean = _trailing(dollar, DOLLAR_VOLUME_Z_BARS, "mean")
        std = _trailing(dollar, DOLLAR_VOLUME_Z_BARS, "std")
        out[f"log_dollar_volume_z_{DOLLAR_VOLUME_Z_BARS}d"] = np.where(
            std > 0, (dollar - mean) / std, np.nan
        )
        # partial windows allowed here, as in the yardstick: a young coin's high so far
        high = pd.Series(close).rolling(DRAWDOWN_BARS, min_periods=1).max().to_numpy()
        out[f"close_drawdown_{DRAWDOWN_BARS}d"] = close / high - 1.0
    return out


def add_return_features(features: pd.DataFrame, candles: pd.DataFrame) -> pd.DataFrame:
    """``features`` (symbol, date, ... one row per candle of ``candles``) plus the return
    profile. Lookbacks count bars and assume regular candles (sanitation drops gappy coins)."""
    names = return_feature_names()
    ordered = candles[["symbol", "date", "close", "volume"]].sort_values(
        ["symbol", "date"], kind="stable"
    )
    columns: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for _, coin in ordered.groupby("symbol", sort=False):
        values = _coin_features(
            coin["close"].to_numpy(dtype=float), coin["volume"].to_numpy(dtype=float)
        )
        for name in names:
            columns[name].append(values[name])
    profile = ordered[["symbol", "date"]].reset_index(drop=True)
    for name in names:
        profile[name] = np.concatenate(columns[name]) if columns[name] else np.empty(0)
    return features.merge(profile, on=["symbol", "date"], how="left", validate="one_to_one")
