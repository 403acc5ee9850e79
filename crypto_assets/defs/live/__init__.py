"""Live candles: each hour's CLOSED 1h candles from Kraken's WebSocket (ccxt.pro), one hourly
partition per candle open hour, so the 1h / 24h views can refresh intraday.

The stream only shows recent candles (its subscription snapshot and what trades while it
watches), so an hour can be filled only shortly after it closed; older hours come from the
REST history (``ohlcv_hourly``), never from here. Stored candles win over re-fetched ones and
each disagreement is reported (the same rule as the REST candles). Resource keys needed:
``market_stream`` (``resources.market_stream.KrakenStream``), ``duckdb``, ``io_manager``.
Merged only when the market source is live (``crypto_assets.definitions``): a demo never opens
the exchange's WebSocket. The hourly schedule starts stopped.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import Partitions
from crypto_assets.market.sanitation import merge_new_candles
from crypto_assets.market.schemas import OHLCV_COLUMNS, validation_failures
from crypto_assets.resources.market_stream import KrakenStream
from crypto_assets.resources.storage import DuckDBStore

LIVE_GROUP = "live"
LIVE_ASSETS = ("live_ohlcv_hourly",)  # what this domain stores (not part of a demo)


def hourly_partitions(partitions: Partitions) -> dg.HourlyPartitionsDefinition:
    """Same first day as the daily partitions; the newest partition is the last complete hour."""
    return dg.HourlyPartitionsDefinition(
        start_date=partitions.daily.start.strftime("%Y-%m-%d-%H:%M"), timezone="UTC", end_offset=0
    )


class LiveCandlesConfig(dg.Config):
    """Which coins to stream: ``symbols``, or else the newest day's universe (``exchange_markets``
    rows with ``in_universe``), cut to ``max_symbols`` when set."""

    symbols: list[str] | None = None
    max_symbols: int | None = None


def _universe(duckdb: DuckDBStore, config: LiveCandlesConfig) -> list[str]:
    if config.symbols:
        symbols = sorted(dict.fromkeys(config.symbols))
    else:
        markets = duckdb.read_table(
            "exchange_markets", "day = (select max(day) from crypto.exchange_markets)"
        )
        symbols = sorted(markets.loc[markets["in_universe"], "symbol"]) if len(markets) else []
    return symbols[: config.max_symbols] if config.max_symbols else symbols


def live_ohlcv_asset(partitions_def: dg.HourlyPartitionsDefinition) -> dg.AssetsDefinition:
    """The asset over ``partitions_def`` (tests use an earlier start than the product)."""

    @dg.asset(
        name="live_ohlcv_hourly",
        group_name=LIVE_GROUP,
        partitions_def=partitions_def,
        deps=["exchange_markets"],
        metadata={"partition_expr": "date"},
        check_specs=[dg.AssetCheckSpec("live_ohlcv_schema", asset="live_ohlcv_hourly")],
        kinds={"ccxt", "duckdb"},
    )
    def live_ohlcv_hourly(
        context: dg.AssetExecutionContext,
        config: LiveCandlesConfig,
        market_stream: KrakenStream,
        duckdb: DuckDBStore,
    ) -> Iterator:
        """The closed 1h candles that opened in this partition's hour, as streamed by Kraken's
        WebSocket (never a forming candle), validated by the REST candles' Pandera schema."""
        stream = market_stream
        window = context.partition_time_window
        start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
        symbols = _universe(duckdb, config)
        result = stream.watch_closed_candles(symbols, "1h") if symbols else None
        fetched = result.candles if result is not None else pd.DataFrame(columns=OHLCV_COLUMNS)
        fetched = fetched[(fetched["date"] >= start) & (fetched["date"] < end)]
        stored = duckdb.read_window("live_ohlcv_hourly", "date", start, end)
        merged, conflicts = merge_new_candles(stored, fetched)
        missing = sorted(set(symbols) - set(merged["symbol"])) if len(merged) else symbols
        failures = validation_failures(merged, "1h", now=result.as_of) if len(merged) else []
        context.log.info(
            f"live_ohlcv_hourly {start:%Y-%m-%d %H:%M}: {len(fetched)} closed candles streamed for "
            f"{len(symbols)} symbols, {len(missing)} without one, {len(conflicts)} conflicts kept"
        )
        yield dg.Output(
            merged,
            metadata={
                "rows": len(merged),
                "symbols_requested": len(symbols),
                "without_candle": len(missing),
                "without_candle_symbols": ", ".join(missing[:50]) or "-",
                "stream_failures": dg.MetadataValue.md(result.failures.head(20).to_markdown())
                if result is not None and len(result.failures)
                else "-",
                "conflicts_kept_as_stored": len(conflicts),
                "source": result.source if result else stream.describe(),
                "as_of": str(result.as_of) if result else "-",
            },
        )
        yield dg.AssetCheckResult(
            check_name="live_ohlcv_schema",
            passed=len(failures) == 0,
            description="The REST candles' Pandera schema: nothing forming, prices > 0, aligned.",
            metadata={"violations": len(failures)},
        )

    return live_ohlcv_hourly


def build_defs(partitions: Partitions) -> dg.Definitions:
    hourly = hourly_partitions(partitions)
    live_candles_job = dg.define_asset_job(
        "live_candles_job",
        selection=dg.AssetSelection.assets("live_ohlcv_hourly"),
        partitions_def=hourly,
        description="The last closed hour's candles from Kraken's WebSocket.",
    )
    live_candles_schedule = dg.build_schedule_from_partitioned_job(
        live_candles_job, minute_of_hour=1, name="live_candles_hourly"
    )
    return dg.Definitions(
        assets=[live_ohlcv_asset(hourly)],
        jobs=[live_candles_job],
        schedules=[live_candles_schedule],
    )
