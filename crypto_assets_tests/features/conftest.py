"""Real recorded candles (read in place from ../shared/data) for the feature and label tests."""

from __future__ import annotations

import pandas as pd
import pytest

from crypto_assets.settings import SHARED_DATA_DIR

BINANCE = SHARED_DATA_DIR / "market" / "binance_2024"
OHLCV = ["symbol", "date", "open", "high", "low", "close", "volume"]
# Large and small caps, a sub-cent price (PEPE) and a coin listed inside the window (ENA).
HOURLY_COINS = ["BTC/USDT", "ETH/USDT", "PEPE/USDT", "BURGER/USDT", "ENA/USDT"]
HOURLY_START, HOURLY_END = "2024-03-01", "2024-05-10"


def _read(name: str, symbols: list[str] | None = None) -> pd.DataFrame:
    path = BINANCE / f"ohlcv_{name}.parquet"
    if not path.exists():
        pytest.skip(f"real market data not found at {path}")
    filters = [("symbol", "in", symbols)] if symbols else None
    return pd.read_parquet(path, columns=OHLCV, filters=filters)


@pytest.fixture(scope="session")
def hourly_real() -> pd.DataFrame:
    """~1,700 real hourly candles each of 5 Binance coins, March to May 2024."""
    frame = _read("1h", HOURLY_COINS)
    keep = (frame["date"] >= pd.Timestamp(HOURLY_START, tz="UTC")) & (
        frame["date"] < pd.Timestamp(HOURLY_END, tz="UTC")
    )
    return frame.loc[keep].reset_index(drop=True)


@pytest.fixture(scope="session")
def daily_real() -> pd.DataFrame:
    """All real daily candles of the 136 Binance coins, 2024-01-01..2024-09-06."""
    return _read("1d").reset_index(drop=True)


@pytest.fixture(scope="session")
def hourly_full_few() -> pd.DataFrame:
    """The whole real hourly history of three coins (one listed mid-way), 2024-01..09."""
    return _read("1h", ["BTC/USDT", "BURGER/USDT", "ENA/USDT"]).reset_index(drop=True)
