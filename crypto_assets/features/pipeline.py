"""The feature frame every model sees, built one way for the assets and the backtest:
technical features (``indicators``, including on daily candles the yardstick's return profile),
on daily candles the risk factors (``factors``), their cross-sectional ranks, and
market-regime features (``regime``).

Features come in VIEWS that a model family may fit separately and average (the daily ranking
score averages a technical-view model and a return-profile-view model; see
``ml.estimators.lightgbm``): ``feature_views`` names them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from crypto_assets.features.factors import build_factor_features, factor_feature_names
from crypto_assets.features.indicators import (
    TIMEFRAME_SPECS,
    XRANK_SUFFIX,
    add_cross_sectional_ranks,
    build_technical_features,
    return_profile_names,
    technical_feature_names,
)
from crypto_assets.features.regime import regime_columns, regime_feature_names


def _ranked(names: list[str]) -> list[str]:
    return [*names, *(f"{n}{XRANK_SUFFIX}" for n in names)]


def feature_views(timeframe: str) -> dict[str, list[str]]:
    """Named groups of model inputs: ``technical`` (indicators and their ranks), ``returns``
    (daily only: the yardstick's return profile, with the technical returns and volatility it
    shares), ``factors`` (daily only: beta, idiosyncratic volatility, skewness, largest day,
    illiquidity, and their ranks) and ``regime`` (market state, the same for every coin at a
    time)."""
    profile = return_profile_names(timeframe)
    technical = [n for n in technical_feature_names(timeframe) if n not in profile]
    views = {"technical": _ranked(technical)}
    if profile:
        shared = [c for c in ("ret_24h", "ret_7d", "ret_30d", "vol_30d") if c in technical]
        views["returns"] = _ranked([*shared, *profile])
    factors = factor_feature_names(timeframe)
    if factors:
        views["factors"] = _ranked(factors)
    views["regime"] = regime_feature_names(technical)
    return views


def feature_names(timeframe: str) -> list[str]:
    """Model-input columns of ``build_feature_frame`` for ``timeframe``, in order."""
    names = technical_feature_names(timeframe)
    return [*_ranked([*names, *factor_feature_names(timeframe)]), *regime_feature_names(names)]


# The stored column that says which feature set computed a row (``feature_set_id``).
FEATURE_SET = "feature_set"


def feature_set_id(timeframe: str) -> str:
    """A fingerprint of ``timeframe``'s model-input columns and the windows that define them.

    Stored with every feature row (``FEATURE_SET``), it tells rows written by code with another
    feature set (a store from an older version, before a feature was added: the new column is
    missing on its old days) from rows where a feature is missing for a reason (too little
    history, too few coins). It changes when a column is added, removed or renamed or a window
    of the timeframe's spec changes, not when only a formula does."""
    text = repr((feature_names(timeframe), TIMEFRAME_SPECS.get(timeframe)))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def stale_feature_rows(features: pd.DataFrame, timeframe: str) -> dict[str, Any] | None:
    """What of a stored feature frame of ``timeframe`` another feature set computed (no mark,
    or another ``feature_set_id``): rows, days, first and last day; None when every row is
    current."""
    if features.empty:
        return None
    marks = features.get(FEATURE_SET, pd.Series(pd.NA, index=features.index, dtype="string"))
    stale = marks.astype("string").fillna("") != feature_set_id(timeframe)
    if not stale.any():
        return None
    days = pd.to_datetime(features.loc[stale, "date"], utc=True).dt.normalize()
    return {
        "rows": int(stale.sum()),
        "days": int(days.nunique()),
        "first": days.min(),
        "last": days.max(),
    }


def build_feature_frame(
    candles: pd.DataFrame,
    timeframe: str,
    *,
    start: pd.Timestamp | None = None,
    first_candle: Mapping[str, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """symbol, date and ``feature_names(timeframe)`` for every candle dated at or after
    ``start`` (no look-ahead; ``start`` and ``first_candle`` as in
    ``indicators.build_technical_features``)."""
    names = technical_feature_names(timeframe)
    frame = build_technical_features(candles, timeframe, start=start, first_candle=first_candle)
    factors = factor_feature_names(timeframe)
    if factors:
        frame = frame.merge(
            build_factor_features(candles, timeframe, start=start),
            on=["symbol", "date"],
            how="left",
            validate="one_to_one",
        )
    ranked = add_cross_sectional_ranks(frame, [*names, *factors])
    del frame
    # One float block filled column by column: adding the regime columns to a copy and then
    # selecting the model inputs copied every feature column twice (years of hourly candles
    # ran out of memory there; benchmarks/README.md, "Long histories").
    regime = regime_columns(ranked)
    columns = feature_names(timeframe)
    block = np.empty((len(columns), len(ranked)))
    for row, name in zip(block, columns, strict=True):
        row[:] = regime[name] if name in regime else ranked[name].to_numpy(dtype=np.float64)
    result = pd.DataFrame(block.T, columns=columns, index=ranked.index, copy=False)
    result.insert(0, "date", ranked["date"])
    result.insert(0, "symbol", ranked["symbol"])
    return result
