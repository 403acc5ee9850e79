"""Small helpers shared by the source tests (recorded-data readers, independent of ccxt)."""

from __future__ import annotations

import functools

import pandas as pd

from crypto_assets.resources.market_source import ExchangeResource
from crypto_assets_tests.replay_server import KRAKEN_HOURLY, KrakenReplayServer, assetpairs_payload

USD_LIKE_IDS = {"ZUSD", "USDT", "USDC"}  # Kraken's raw quote asset ids


def raw_pairs(date: str) -> dict[str, dict]:
    """The recorded AssetPairs result of ``date``, read straight from the file (no ccxt)."""
    return assetpairs_payload(date)["result"]


def replay_markets(date: str) -> pd.DataFrame:
    """MARKET_COLUMNS of ``date`` loaded through ccxt's real Kraken parsing over HTTP."""
    return _replay_markets(date).copy()


@functools.lru_cache(maxsize=8)
def _replay_markets(date: str) -> pd.DataFrame:
    with KrakenReplayServer(assetpairs=date) as server:
        return client(server).fetch_markets()


def client(server: KrakenReplayServer, **overrides: object) -> ExchangeResource:
    """An ExchangeResource on the replay server, with tiny rate limit/backoff for fast tests."""
    config: dict[str, object] = {
        "api_url": server.url,
        "rate_limit_ms": 5,
        "backoff_base_s": 0.01,
        "max_retries": 3,
        "timeout_ms": 5000,
        "frozen_clock": server.now.isoformat(),
    }
    config.update(overrides)
    return ExchangeResource(**config)


def recorded_hourly(kraken_pair: str) -> pd.DataFrame:
    """The real Kraken hourly candles of one pair (altname), canonical columns."""
    frame = pd.read_parquet(KRAKEN_HOURLY)
    frame = frame.loc[frame["kraken_pair"] == kraken_pair]
    frame = frame.assign(date=pd.to_datetime(frame["time"], unit="s", utc=True))
    return frame[["symbol", "date", "open", "high", "low", "close", "volume"]].reset_index(
        drop=True
    )
