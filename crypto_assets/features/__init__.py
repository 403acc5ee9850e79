"""Pure feature and label layer: technical features, cross-sectional ranks, forward returns."""

from crypto_assets.features.indicators import (
    TIMEFRAME_SPECS,
    add_cross_sectional_ranks,
    build_technical_features,
    feature_columns,
    lookback,
    lookback_bars,
    technical_feature_names,
    validate_ohlcv,
)
from crypto_assets.features.labels import (
    forward_returns,
    horizons_for,
    label_available_at,
    mask_unknown_labels,
    resample_ohlcv,
)

__all__ = [
    "TIMEFRAME_SPECS",
    "add_cross_sectional_ranks",
    "build_technical_features",
    "feature_columns",
    "forward_returns",
    "horizons_for",
    "label_available_at",
    "lookback",
    "lookback_bars",
    "mask_unknown_labels",
    "resample_ohlcv",
    "technical_feature_names",
    "validate_ohlcv",
]
