"""Both sources work as Dagster resources under the key "market_source" (config-only swap)."""

import dagster as dg
import pandas as pd

from crypto_assets.resources.market_source import ExchangeResource, SnapshotSource
from crypto_assets_tests.replay_server import DATA_DIR, KrakenReplayServer


@dg.asset(required_resource_keys={"market_source"})
def probe(context: dg.AssetExecutionContext) -> pd.DataFrame:
    source = context.resources.market_source
    markets = source.fetch_markets()
    symbol = "BTC/USD" if "BTC/USD" in set(markets["symbol"]) else "BTC/USDT"
    end = source.now().floor("D") - pd.Timedelta(days=1)  # both sources: the clock
    result = source.fetch_ohlcv([symbol], "1h", end - pd.Timedelta(hours=6), end)
    context.add_output_metadata({"source": source.describe(), "requests": result.requests})
    return result.candles


def _materialize(source: dg.ConfigurableResource) -> pd.DataFrame:
    result = dg.materialize([probe], resources={"market_source": source})
    assert result.success
    return result.output_for_node("probe")


def test_exchange_resource_in_dagster(kraken_server: KrakenReplayServer) -> None:
    kraken_server.now = pd.Timestamp("2022-12-01T12:30:00Z")
    source = ExchangeResource(
        api_url=kraken_server.url, rate_limit_ms=5, frozen_clock="2022-12-01T12:30:00+00:00"
    )
    candles = _materialize(source)
    assert candles["date"].tolist() == list(
        pd.date_range("2022-11-29T18:00Z", "2022-11-29T23:00Z", freq="h")
    )
    assert kraken_server.count("/0/public/AssetPairs") == 1  # markets reused within the run


def test_snapshot_source_in_dagster() -> None:
    source = SnapshotSource(snapshot_dir=str(DATA_DIR / "market" / "binance_2024"))
    candles = _materialize(source)
    assert candles["date"].tolist() == list(
        pd.date_range("2024-09-05T18:00Z", "2024-09-05T23:00Z", freq="h")
    )
    assert set(candles["symbol"]) == {"BTC/USDT"}
