"""Real recorded Binance candles (read in place from ../shared/data) for the ML tests.

The slices are small (tens of coins, months of daily candles) so the whole ML suite stays fast
on two cores while every model is a real LightGBM fitted on real prices.
"""

from __future__ import annotations

import pandas as pd
import pytest

from crypto_assets.features.pipeline import build_feature_frame
from crypto_assets.horizons import HORIZONS
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import Dataset, dataset_from_candles
from crypto_assets.settings import SHARED_DATA_DIR

BINANCE = SHARED_DATA_DIR / "market" / "binance_2024"
OHLCV = ["symbol", "date", "open", "high", "low", "close", "volume"]


def read_binance(timeframe: str, n_symbols: int | None = None) -> pd.DataFrame:
    path = BINANCE / f"ohlcv_{timeframe}.parquet"
    if not path.exists():
        pytest.skip(f"real market data not found at {path}")
    frame = pd.read_parquet(path, columns=OHLCV)
    if n_symbols is not None:
        # the coins with the most candles: listed the whole period
        keep = frame.groupby("symbol").size().sort_values(ascending=False, kind="stable")
        frame = frame[frame["symbol"].isin(sorted(keep.index[:n_symbols]))]
    return frame.sort_values(["symbol", "date"]).reset_index(drop=True)


@pytest.fixture(scope="session")
def daily_40() -> pd.DataFrame:
    """Real daily candles of 40 Binance coins, 2024-01-01..2024-09-06."""
    return read_binance("1d", 40)


@pytest.fixture(scope="session")
def dataset_7d(daily_40: pd.DataFrame) -> Dataset:
    return dataset_from_candles(daily_40, HORIZONS["7d"], 0.004)


@pytest.fixture(scope="session")
def latest_7d(daily_40: pd.DataFrame) -> pd.DataFrame:
    """The feature rows of the last day (what inference scores: their labels are unknown)."""
    features = build_feature_frame(daily_40, "1d")
    return features[features["date"] == features["date"].max()].reset_index(drop=True)


SMALL_LGBM = {"n_estimators": 40, "num_leaves": 7, "min_child_samples": 30, "num_threads": 1}


def small_config(**overrides: object) -> TrainConfig:
    """A small, fast configuration (the defaults are for the full backtest)."""
    values = {
        "family_params": {"lightgbm": dict(SMALL_LGBM)},
        "seeds": {"1h": 1, "24h": 1, "7d": 1, "30d": 1},
        "min_train_days": {"7d": 60, "30d": 90, "24h": 20, "1h": 20},
        "retrain_every_days": 30,
        "min_train_rows": 100,
        **overrides,
    }
    return TrainConfig(**values)
