"""Fixtures of the storage fault-injection suite: real candles and a real DuckDB file holding
them, one daily partition per day."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crypto_assets.storage.tables import replace_partition
from crypto_assets_tests.fixtures import binance_1h, project_env  # noqa: F401
from crypto_assets_tests.storage.helpers import DAYS, day_filter


@pytest.fixture(scope="session")
def day_candles(binance_1h: pd.DataFrame) -> dict[str, pd.DataFrame]:  # noqa: F811
    """Real Binance hourly candles of every coin, one frame per day of ``DAYS``."""
    frames = {}
    for day in DAYS:
        start = pd.Timestamp(day, tz="UTC")
        mask = (binance_1h["date"] >= start) & (binance_1h["date"] < start + pd.Timedelta(days=1))
        frames[day] = binance_1h.loc[
            mask, ["symbol", "date", "open", "high", "low", "close", "volume"]
        ].reset_index(drop=True)
    return frames


@pytest.fixture
def stored_days(tmp_path: Path, day_candles: dict[str, pd.DataFrame]) -> Path:
    """A DuckDB file whose crypto.ohlcv_hourly holds the real candles of every day in DAYS."""
    database = tmp_path / "store.duckdb"
    for day, frame in day_candles.items():
        where, params = day_filter(day)
        replace_partition(database, "ohlcv_hourly", frame, where, params)
    return database
