"""SnapshotSource on the real recorded snapshots in ../shared/data/market (read in place)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crypto_assets.market.source import MarketSource
from crypto_assets.market.universe import MARKET_COLUMNS
from crypto_assets.resources.market_source import SnapshotSource
from crypto_assets_tests.replay_server import DATA_DIR

BINANCE = DATA_DIR / "market" / "binance_2024"
KRAKEN = DATA_DIR / "market" / "kraken_btc_eth"


@pytest.fixture(scope="module")
def binance() -> SnapshotSource:
    return SnapshotSource(snapshot_dir=str(BINANCE))


@pytest.fixture(scope="module")
def raw_hourly() -> pd.DataFrame:
    return pd.read_parquet(BINANCE / "ohlcv_1h.parquet")


def test_markets_at_snapshot_end(binance: SnapshotSource, raw_hourly: pd.DataFrame) -> None:
    assert isinstance(binance, MarketSource)
    markets = binance.fetch_markets()
    assert list(markets.columns) == MARKET_COLUMNS
    assert len(markets) == raw_hourly["symbol"].nunique() == 136
    assert markets["active"].all() and set(markets["status"]) == {"online"}
    btc = markets.set_index("symbol").loc["BTC/USDT"]
    assert (btc.base, btc.quote, btc.source) == ("BTC", "USDT", "snapshot binance_2024")
    assert markets["as_of"].iloc[0] == raw_hourly["date"].max() + pd.Timedelta(hours=1)
    assert binance.now() == markets["as_of"].iloc[0]  # the snapshot's clock


def test_markets_as_of_listing_and_activity(
    binance: SnapshotSource, raw_hourly: pd.DataFrame
) -> None:
    as_of = pd.Timestamp("2024-03-01", tz="UTC")
    first = raw_hourly.groupby("symbol")["date"].min()
    markets = binance.fetch_markets(as_of)
    assert set(markets["symbol"]) == set(first[first <= as_of].index)
    assert len(markets) < 136  # coins listed on Binance after March 2024 are not there yet
    later = binance.fetch_markets(pd.Timestamp("2024-10-01", tz="UTC"))
    assert len(later) == 136 and not later["active"].any()
    assert set(later["status"]) == {"delisted-in-snapshot"}


def test_window_since_and_unknown_symbol(binance: SnapshotSource, raw_hourly: pd.DataFrame) -> None:
    start, end = pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-02-02", tz="UTC")
    result = binance.fetch_ohlcv(
        ["BTC/USDT", "ETH/USDT", "NOPE/USDT"],
        "1h",
        start,
        end,
        since_by_symbol={"ETH/USDT": pd.Timestamp("2024-02-01T20:00", tz="UTC")},
    )
    counts = result.candles.groupby("symbol").size().to_dict()
    assert counts == {"BTC/USDT": 24, "ETH/USDT": 4}
    assert result.failures.to_dict("records") == [
        {
            "symbol": "NOPE/USDT",
            "error_type": "BadSymbol",
            "message": "NOPE/USDT is not in snapshot binance_2024",
        }
    ]
    expected = raw_hourly[
        (raw_hourly.symbol == "BTC/USDT") & (raw_hourly.date >= start) & (raw_hourly.date < end)
    ]
    got = result.candles[result.candles.symbol == "BTC/USDT"]
    assert got["close"].tolist() == expected["close"].tolist()
    assert result.requests == 0 and result.source.endswith("(binance_2024)")
    daily = binance.fetch_ohlcv(["BTC/USDT"], "1d", start, end)
    assert daily.candles["date"].tolist() == [start]
    with pytest.raises(ValueError, match="timeframes"):
        binance.fetch_ohlcv(["BTC/USDT"], "4h", start, end)


def test_hourly_only_snapshot_gets_daily_by_resampling() -> None:
    source = SnapshotSource(snapshot_dir=str(KRAKEN))
    start, end = pd.Timestamp("2022-12-01", tz="UTC"), pd.Timestamp("2022-12-08", tz="UTC")
    daily = source.fetch_ohlcv(["BTC/USD"], "1d", start, end)
    assert daily.failures.empty
    hourly = source.fetch_ohlcv(["BTC/USD"], "1h", start, end).candles
    first_day = hourly[hourly.date < start + pd.Timedelta(days=1)]
    assert daily.candles["high"].iloc[0] == first_day["high"].max()
    assert daily.candles["volume"].iloc[0] == pytest.approx(first_day["volume"].sum())


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        SnapshotSource(snapshot_dir=str(tmp_path / "nope")).fetch_markets()
