"""Market-data assets: the exchange's universe, raw candles, and the sanitised candles.

Thin by design: the source resource fetches, pure functions in ``crypto_assets.market`` decide,
the DuckDB IO manager stores. Every partition carries the metadata a user reads in the UI.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import daily_partitions, partition_days
from crypto_assets.defs.storage import latest_candle_by_symbol, read_table
from crypto_assets.market.sanitation import merge_new_candles, sanitize_ohlcv
from crypto_assets.market.schemas import validation_failures
from crypto_assets.market.universe import diff_universe, filter_universe
from crypto_assets.resources.market_source import SnapshotSource
from crypto_assets.settings import get_settings

MARKET_GROUP = "market"
LOOKBACK_DAYS = 30  # window over which gaps are judged for a day's sanitation


class UniverseConfig(dg.Config):
    """Which markets form the universe (default: active spot markets quoted in USD/USDT/USDC)."""

    quotes: list[str] | None = None  # None: settings.quote_currencies
    symbols_allow: list[str] | None = None
    symbols_deny: list[str] | None = None
    max_symbols: int | None = None  # cap for quick runs; None = the whole universe
    exclude_pegged: bool = False  # drop stablecoins/fiat/gold from the data (never in top list)


def _utc_now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def _source_now(source: object) -> pd.Timestamp:
    """The source's clock: a snapshot is 'now' at its end, a live exchange at wall time."""
    now = getattr(source, "now", None)
    if not now:
        return _utc_now()
    stamp = pd.Timestamp(now)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dg.asset(
    group_name=MARKET_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    required_resource_keys={"market_source", "duckdb"},
    metadata={"partition_expr": "day"},
    check_specs=[dg.AssetCheckSpec("universe_changes", asset="kraken_markets")],
    kinds={"ccxt", "duckdb"},
)
def kraken_markets(context: dg.AssetExecutionContext, config: UniverseConfig) -> Iterator:
    """The full market list of the exchange per day (never a hard-coded symbol list), with
    ``in_universe`` marking the markets the pipeline follows."""
    source = context.resources.market_source
    days = partition_days(context.partition_time_window)
    frames: list[pd.DataFrame] = []
    live_list: pd.DataFrame | None = None
    for day in days:
        if isinstance(source, SnapshotSource):
            markets = source.fetch_markets(as_of=day + pd.Timedelta(days=1))
        else:  # a live exchange only knows today's list: fetch once, stamp with fetch time
            live_list = source.fetch_markets() if live_list is None else live_list
            markets = live_list
        universe = filter_universe(
            markets,
            config.quotes or get_settings().quote_currencies,
            symbols_allow=config.symbols_allow,
            symbols_deny=config.symbols_deny,
            exclude_pegged=config.exclude_pegged,
        )
        if config.max_symbols:
            universe = universe.sort_values("symbol").head(config.max_symbols)
        markets = markets.assign(day=day, in_universe=markets["symbol"].isin(universe["symbol"]))
        frames.append(markets)
    frame = pd.concat(frames, ignore_index=True)
    for column in frame.select_dtypes("object").columns:  # text stays text, even if all None
        frame[column] = frame[column].astype("string")

    previous = read_table(
        context.resources.duckdb,
        "kraken_markets",
        "day = ?",
        [(days[0] - pd.Timedelta(days=1)).to_pydatetime()],
    )
    appeared: list[str] = []
    disappeared: list[str] = []
    inactive: list[str] = []
    for day in days:
        current = frame[frame["day"] == day]
        if not previous.empty:
            change = diff_universe(previous, current)
            appeared += change.appeared
            disappeared += change.disappeared
            inactive += change.went_inactive
        previous = current
    latest = frame[frame["day"] == days[-1]]
    yield dg.Output(
        frame,
        metadata={
            "markets": len(latest),
            "universe": int(latest["in_universe"].sum()),
            "days": len(days),
            "source": source.describe(),
            "as_of": str(latest["as_of"].max()),
            "preview": dg.MetadataValue.md(
                latest[latest["in_universe"]].head(20)[["symbol", "status"]].to_markdown()
            ),
        },
    )
    yield dg.AssetCheckResult(
        check_name="universe_changes",
        passed=not disappeared,
        severity=dg.AssetCheckSeverity.WARN,
        description="Markets that appeared, disappeared or went inactive since the previous day.",
        metadata={
            "appeared": len(appeared),
            "disappeared": len(disappeared),
            "went_inactive": len(inactive),
            "appeared_symbols": ", ".join(sorted(set(appeared))[:50]) or "-",
            "disappeared_symbols": ", ".join(sorted(set(disappeared))[:50]) or "-",
            "inactive_symbols": ", ".join(sorted(set(inactive))[:50]) or "-",
        },
    )


def _ohlcv_asset(name: str, timeframe: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        group_name=MARKET_GROUP,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys={"market_source", "duckdb"},
        metadata={"partition_expr": "date"},
        check_specs=[
            dg.AssetCheckSpec("ohlcv_schema", asset=name),
            dg.AssetCheckSpec("gaps_and_staleness", asset=name),
        ],
        kinds={"ccxt", "duckdb"},
    )
    def _asset(context: dg.AssetExecutionContext, kraken_markets: pd.DataFrame) -> Iterator:
        source = context.resources.market_source
        window = context.partition_time_window
        now = _source_now(source)
        start = pd.Timestamp(window.start).tz_convert("UTC")
        end = min(pd.Timestamp(window.end).tz_convert("UTC"), now)
        symbols = sorted(kraken_markets.loc[kraken_markets["in_universe"], "symbol"].unique())
        since = latest_candle_by_symbol(context.resources.duckdb, name)
        result = source.fetch_ohlcv(symbols, timeframe, start, end, since_by_symbol=since)
        stored = read_table(
            context.resources.duckdb,
            name,
            "date >= ? and date < ?",
            [start.to_pydatetime(), pd.Timestamp(window.end).to_pydatetime()],
        )
        merged, conflicts = merge_new_candles(stored, result.candles)
        failures = validation_failures(merged, timeframe, now=now)
        _, quality = (
            sanitize_ohlcv(merged, timeframe, as_of=end) if len(merged) else (None, pd.DataFrame())
        )
        gappy = quality[quality["missing_candles"] > 0] if len(quality) else quality
        stale = quality[quality["reason"].str.startswith("stale")] if len(quality) else quality
        context.log.info(
            f"{name}: {len(result.candles)} new candles for {len(symbols)} symbols, "
            f"{len(result.failures)} failed symbols, {len(conflicts)} conflicts kept as stored"
        )
        yield dg.Output(
            merged,
            metadata={
                "rows": len(merged),
                "new_rows": len(result.candles),
                "coins": int(merged["symbol"].nunique()) if len(merged) else 0,
                "first_candle": str(merged["date"].min()) if len(merged) else "-",
                "last_candle": str(merged["date"].max()) if len(merged) else "-",
                "requests": result.requests,
                "failed_symbols": len(result.failures),
                "failures": dg.MetadataValue.md(result.failures.head(20).to_markdown())
                if len(result.failures)
                else "-",
                "conflicts_kept_as_stored": len(conflicts),
                "source": result.source,
                "as_of": str(result.as_of),
            },
        )
        yield dg.AssetCheckResult(
            check_name="ohlcv_schema",
            passed=failures.empty,
            description="Pandera: prices > 0, high/low bound open/close, volume >= 0, unique "
            "(symbol, time), times aligned, nothing in the future or still forming.",
            metadata={
                "violations": len(failures),
                "by_check": dg.MetadataValue.json(
                    failures["check"].value_counts().to_dict() if len(failures) else {}
                ),
            },
        )
        yield dg.AssetCheckResult(
            check_name="gaps_and_staleness",
            passed=stale.empty,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "coins_with_gaps": len(gappy),
                "missing_candles": int(gappy["missing_candles"].sum()) if len(gappy) else 0,
                "stale_coins": ", ".join(stale["symbol"].head(50)) if len(stale) else "-",
            },
        )

    return _asset


ohlcv_hourly = _ohlcv_asset("ohlcv_hourly", "1h")
ohlcv_daily = _ohlcv_asset("ohlcv_daily", "1d")

_lookback = dg.TimeWindowPartitionMapping(start_offset=-LOOKBACK_DAYS)


@dg.multi_asset(
    group_name=MARKET_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    ins={
        "ohlcv_hourly": dg.AssetIn(partition_mapping=_lookback),
        "ohlcv_daily": dg.AssetIn(partition_mapping=_lookback),
    },
    outs={
        "clean_ohlcv": dg.AssetOut(metadata={"partition_expr": "date"}, kinds={"duckdb"}),
        "data_quality": dg.AssetOut(metadata={"partition_expr": "day"}, kinds={"duckdb"}),
    },
    check_specs=[dg.AssetCheckSpec("clean_schema", asset="clean_ohlcv")],
)
def clean_ohlcv(
    context: dg.AssetExecutionContext, ohlcv_hourly: pd.DataFrame, ohlcv_daily: pd.DataFrame
) -> Iterator:
    """Candles fit for modelling (both timeframes, ``timeframe`` column) and, per day, coin and
    timeframe, the quality verdict with the reason a coin was excluded."""
    clean_parts: list[pd.DataFrame] = []
    quality_parts: list[pd.DataFrame] = []
    for timeframe, raw in (("1h", ohlcv_hourly), ("1d", ohlcv_daily)):
        if raw.empty:
            continue
        raw = raw.assign(date=pd.to_datetime(raw["date"], utc=True))
        for day in partition_days(context.partition_time_window):
            day_end = day + pd.Timedelta(days=1)
            window = raw[
                (raw["date"] >= day - pd.Timedelta(days=LOOKBACK_DAYS)) & (raw["date"] < day_end)
            ]
            if window.empty:
                continue
            today = window[window["date"] >= day]
            window = window[window["symbol"].isin(today["symbol"].unique())]
            if window.empty:
                continue
            clean, quality = sanitize_ohlcv(window, timeframe, as_of=day_end)
            clean_parts.append(clean[clean["date"] >= day].assign(timeframe=timeframe))
            quality_parts.append(quality.assign(day=day))
    columns = ["symbol", "date", "open", "high", "low", "close", "volume", "timeframe"]
    clean_all = (
        pd.concat(clean_parts, ignore_index=True) if clean_parts else pd.DataFrame(columns=columns)
    )
    quality_all = pd.concat(quality_parts, ignore_index=True) if quality_parts else pd.DataFrame()
    excluded = quality_all[quality_all["excluded"]] if len(quality_all) else quality_all
    last_day = quality_all["day"].max() if len(quality_all) else None
    latest = quality_all[quality_all["day"] == last_day] if last_day is not None else quality_all
    yield dg.Output(
        clean_all,
        output_name="clean_ohlcv",
        metadata={
            "rows": len(clean_all),
            "coins": int(clean_all["symbol"].nunique()) if len(clean_all) else 0,
            "first_candle": str(clean_all["date"].min()) if len(clean_all) else "-",
            "last_candle": str(clean_all["date"].max()) if len(clean_all) else "-",
            "excluded_coin_days": len(excluded),
        },
    )
    violations = {
        timeframe: len(validation_failures(part.drop(columns="timeframe"), timeframe))
        for timeframe, part in clean_all.groupby("timeframe")
    }
    yield dg.AssetCheckResult(
        check_name="clean_schema",
        asset_key="clean_ohlcv",
        passed=not any(violations.values()),
        description="What sanitation lets through must pass the candle schema, always.",
        metadata={f"violations_{tf}": n for tf, n in violations.items()},
    )
    yield dg.Output(
        quality_all,
        output_name="data_quality",
        metadata={
            "coins_on_last_day": int(latest["symbol"].nunique()) if len(latest) else 0,
            "excluded_on_last_day": dg.MetadataValue.md(
                latest.loc[latest["excluded"], ["symbol", "timeframe", "reason"]].to_markdown()
                if len(latest) and latest["excluded"].any()
                else "none"
            ),
        },
    )


market_assets = [kraken_markets, ohlcv_hourly, ohlcv_daily, clean_ohlcv]
