"""Market-regime features: the state of the whole market at each timestamp, the same for every
coin of that timestamp.

Whether a coin's 30-day NET return is positive depends more on where the market goes than on
the coin, so the probability model needs to see the market: its trend (median trailing return),
breadth (share of coins up), cross-sectional dispersion, realised volatility, and Bitcoin's own
trend. Each value at t is an aggregate over the coins' features at t, which use only candles at
or before t, so regime features inherit the no-look-ahead guarantee. With fewer than
``MIN_COINS`` coins at a timestamp the aggregates are NaN (one coin is not a market).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PREFIX = "mkt_"
MIN_COINS = 5
BTC_BASES = ("BTC", "XBT")


def regime_feature_names(columns: list[str] | pd.Index) -> list[str]:
    """The regime columns ``add_regime_features`` adds for a frame with these columns."""
    cols = set(columns)
    names: list[str] = []
    for ret in ("ret_7d", "ret_30d"):
        if ret in cols:
            names += [f"{PREFIX}{ret}", f"{PREFIX}breadth_{ret}"]
    if "ret_30d" in cols:
        names.append(f"{PREFIX}dispersion_ret_30d")
    for vol in ("vol_7d", "vol_30d"):
        if vol in cols:
            names.append(f"{PREFIX}{vol}")
    for col in ("ret_7d", "ret_30d", _ema_column(cols)):
        if col:
            names.append(f"{PREFIX}btc_{col}")
    return names


def _ema_column(cols: set[str]) -> str | None:
    emas = sorted(
        (c for c in cols if c.startswith("dist_ema_") and c[9:].isdigit()), key=lambda c: int(c[9:])
    )
    return emas[-1] if emas else None


def regime_columns(features: pd.DataFrame) -> dict[str, np.ndarray]:
    """The regime columns (``regime_feature_names``) for ``features`` (symbol, date, technical
    features), row for row; the caller places them (``features.pipeline`` builds its frame in
    one block instead of copying every feature column to add these)."""
    cols = set(features.columns)
    names = regime_feature_names(features.columns)
    if not names or features.empty:
        return {name: np.full(len(features), np.nan) for name in names}
    out: dict[str, np.ndarray] = {}
    by_date = features.groupby("date", sort=False)
    enough = by_date["symbol"].transform("size").to_numpy() >= MIN_COINS

    def where_enough(values: pd.Series) -> np.ndarray:
        return np.where(enough, values.to_numpy(dtype=np.float64), np.nan)

    for ret in ("ret_7d", "ret_30d"):
        if ret in cols:
            out[f"{PREFIX}{ret}"] = where_enough(by_date[ret].transform("median"))
            up = (features[ret] > 0).astype(float).where(features[ret].notna())
            out[f"{PREFIX}breadth_{ret}"] = where_enough(
                up.groupby(features["date"]).transform("mean")
            )
    if "ret_30d" in cols:
        out[f"{PREFIX}dispersion_ret_30d"] = where_enough(by_date["ret_30d"].transform("std"))
    for vol in ("vol_7d", "vol_30d"):
        if vol in cols:
            out[f"{PREFIX}{vol}"] = where_enough(by_date[vol].transform("median"))
    out.update(_btc(features, [c for c in ("ret_7d", "ret_30d", _ema_column(cols)) if c]))
    return {name: out[name] for name in names}


def _btc(features: pd.DataFrame, columns: list[str]) -> dict[str, np.ndarray]:
    """Bitcoin's own trend at each timestamp (NaN when the universe has no BTC market)."""
    base = features["symbol"].astype(str).str.split("/").str[0].str.upper()
    btc = features[base.isin(BTC_BASES)]
    if len(btc):  # one BTC market per timestamp: the first symbol in sort order
        btc = btc.sort_values(["date", "symbol"]).drop_duplicates("date")
    lookup = btc.set_index("date")
    out = {}
    for column in columns:
        values = lookup[column] if len(btc) else pd.Series(dtype=float)
        out[f"{PREFIX}btc_{column}"] = features["date"].map(values).to_numpy(dtype=np.float64)
    return out
