"""The feature frame every model sees, built one way for the assets and the backtest:
technical features (``indicators``), on daily candles the return profile (``returns``), the
cross-sectional ranks of both, and market-regime features (``regime``).

Features come in VIEWS that a model family may fit separately and average (the daily ranking
score averages a technical-view model and a return-profile-view model; see
``ml.estimators.lightgbm``): ``feature_views`` names them.
"""

from __future__ import annotations

import pandas as pd

from crypto_assets.features.indicators import (
    XRANK_SUFFIX,
    add_cross_sectional_ranks,
    build_technical_features,
    technical_feature_names,
)
from crypto_assets.features.regime import add_regime_features, regime_feature_names
from crypto_assets.features.returns import add_return_features, return_feature_names


def _base_names(timeframe: str) -> tuple[list[str], list[str]]:
    technical = technical_feature_names(timeframe)
    profile = return_feature_names() if timeframe == "1d" else []
    return technical, profile


def _ranked(names: list[str]) -> list[str]:
    return [*names, *(f"{n}{XRANK_SUFFIX}" for n in names)]


def feature_views(timeframe: str) -> dict[str, list[str]]:
    """Named groups of model inputs: ``technical`` (indicators and their ranks), ``returns``
    (daily only: the yardstick's return profile, reusing the technical returns it shares) and
    ``regime`` (market state, the same for every coin at a time)."""
    technical, profile = _base_names(timeframe)
    views = {"technical": _ranked(technical)}
    if profile:
        shared = [c for c in ("ret_24h", "ret_7d", "ret_30d", "vol_30d") if c in technical]
        views["returns"] = _ranked([*shared, *profile])
    views["regime"] = regime_feature_names(technical)
    return views


def feature_names(timeframe: str) -> list[str]:
    """Model-input columns of ``build_feature_frame`` for ``timeframe``, in order."""
    technical, profile = _base_names(timeframe)
    return [*_ranked(technical), *_ranked(profile), *regime_feature_names(technical)]


def build_feature_frame(candles: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """symbol, date and ``feature_names(timeframe)`` for every candle (no look-ahead)."""
    technical, profile = _base_names(timeframe)
    frame = build_technical_features(candles, timeframe)
    if profile:
        frame = add_return_features(frame, candles)
    ranked = add_cross_sectional_ranks(frame, [*technical, *profile])
    return add_regime_features(ranked)[["symbol", "date", *feature_names(timeframe)]]
