"""Market-data assets: the exchange's (or snapshot's) market list, raw candles, sanitised candles.

Thin by design: the source resource fetches (through the domain contract
``crypto_assets.market.source.MarketSource``), pure functions in ``crypto_assets.market`` decide,
the DuckDB IO manager stores. Every partition carries the metadata a user reads in the UI. The
asset bodies are plain functions; ``build_assets`` binds them to the code location's partitions.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from crypto_assets.defs.checks import source_status_check
from crypto_assets.defs.partitions import Partitions, partition_days
from crypto_assets.frames import objects_as_text, utc, utc_columns
from crypto_assets.market.sanitation import merge_new_candles, sanitize_ohlcv
from crypto_assets.market.schemas import validation_failures
from crypto_assets.market.source import MarketSource
from crypto_assets.market.universe import diff_universe, filter_universe
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.resources.storage import DuckDBStore

MARKET_GROUP = "market"
LOOKBACK_DAYS = 30  # window over which gaps are judged for a day's sanitation
SOURCE = dg.ResourceParam[MarketSource]


class UniverseConfig(dg.Config):
    """Which markets form the universe (default: active spot markets quoted in USD/USDT/USDC)."""

    quotes: list[str] | None = None  # None: settings.quote_currencies
    symbols_allow: list[str] | None = None
    symbols_deny: list[str] | None = None
    max_symbols: int | None = None  # cap for quick runs; None = the whole universe
    exclude_pegged: bool = False  # drop stablecoins/fiat/gold from the data (never in top list)


def _universe_of_day(
    markets: pd.DataFrame, day: pd.Timestamp, config: UniverseConfig, quotes: list[str]
) -> pd.DataFrame:
    universe = filter_universe(
        markets,
        config.quotes or quotes,
        symbols_allow=config.symbols_allow,
        symbols_deny=config.symbols_deny,
        exclude_pegged=config.exclude_pegged,
    )
    if config.max_symbols:
        universe = universe.sort_values("symbol").head(config.max_symbols)
    return markets.assign(day=day, in_universe=markets["symbol"].isin(universe["symbol"]))


def _universe_check(previous: pd.DataFrame, frame: pd.DataFrame) -> dg.AssetCheckResult:
    """Markets that appeared, disappeared or went inactive, day after day."""
    appeared: list[str] = []
    disappeared: list[str] = []
    inactive: list[str] = []
    for day in sorted(frame["day"].unique()):
        current = frame[frame["day"] == day]
        if not previous.empty:
            change = diff_universe(previous, current)
            appeared += change.appeared
            disappeared += change.disappeared
            inactive += change.went_inactive
        previous = current
    return dg.AssetCheckResult(
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


def exchange_markets(
    context: dg.AssetExecutionContext,
    config: UniverseConfig,
    settings: PipelineSettings,
    market_source: SOURCE,
    duckdb: DuckDBStore,
) -> Iterator:
    """The full market list of the exchange (or snapshot) per day, never a hard-coded symbol
    list, with ``in_universe`` marking the markets the pipeline follows. A live exchange only
    knows today's list: every day of a multi-day run gets it, stamped with its fetch time."""
    days = partition_days(context.partition_time_window)
    frame = pd.concat(
        [
            _universe_of_day(
                market_source.fetch_markets(as_of=day + pd.Timedelta(days=1)),
                day,
                config,
                settings.quote_currencies,
            )
            for day in days
        ],
        ignore_index=True,
    )
    frame = objects_as_text(frame)
    previous = duckdb.read_table(
        "exchange_markets", "day = ?", [(days[0] - pd.Timedelta(days=1)).to_pydatetime()]
    )
    latest = frame[frame["day"] == days[-1]]
    yield dg.Output(
        frame,
        metadata={
            "markets": len(latest),
            "universe": int(latest["in_universe"].sum()),
            "days": len(days),
            "source": market_source.describe(),
            "as_of": str(latest["as_of"].max()),
            "preview": dg.MetadataValue.md(
                latest[latest["in_universe"]].head(20)[["symbol", "status"]].to_markdown()
            ),
        },
    )
    yield _universe_check(previous, frame)


def _ohlcv_body(name: str, timeframe: str):
    def fetch_candles(
        context: dg.AssetExecutionContext,
        exchange_markets: pd.DataFrame,
        market_source: SOURCE,
        duckdb: DuckDBStore,
    ) -> Iterator:
        window = context.partition_time_window
        now = market_source.now()
        start, end = utc(window.start), min(utc(window.end), now)
        symbols = sorted(exchange_markets.loc[exchange_markets["in_universe"], "symbol"].unique())
        since = duckdb.latest_candle_by_symbol(name)
        result = market_source.fetch_ohlcv(symbols, timeframe, start, end, since_by_symbol=since)
        stored = duckdb.read_window(name, "date", start, window.end)
        merged, conflicts = merge_new_candles(stored, result.candles)
        context.log.info(
            f"{name}: {len(result.candles)} new candles for {len(symbols)} symbols, "
            f"{len(result.failures)} failed symbols, {len(conflicts)} conflicts kept as stored"
        )
        yield dg.Output(merged, metadata=_candle_metadata(merged, result, len(conflicts)))
        yield from _candle_checks(merged, timeframe, now, end)
        yield source_status_check("source_status", result.status(len(symbols)))

    fetch_candles.__doc__ = (
        f"Raw {timeframe} candles of the universe, fetched incrementally (only candles newer than "
        "those stored; stored candles are never overwritten, conflicts are reported)."
    )
    return fetch_candles


def _candle_metadata(merged: pd.DataFrame, result, conflicts: int) -> dict:
    return {
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
        "conflicts_kept_as_stored": conflicts,
        "source": result.source,
        "as_of": str(result.as_of),
        "notes": "; ".join(result.notes) or "-",
    }


def _candle_checks(
    merged: pd.DataFrame, timeframe: str, now: pd.Timestamp, end: pd.Timestamp
) -> Iterator[dg.AssetCheckResult]:
    failures = validation_failures(merged, timeframe, now=now)
    _, quality = (
        sanitize_ohlcv(merged, timeframe, as_of=end) if len(merged) else (None, pd.DataFrame())
    )
    gappy = quality[quality["missing_candles"] > 0] if len(quality) else quality
    stale = quality[quality["reason"].str.startswith("stale")] if len(quality) else quality
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


def _sanitize_days(
    raw: pd.DataFrame, timeframe: str, days: list[pd.Timestamp]
) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """Per day: its clean candles (judged on the trailing LOOKBACK_DAYS) and quality rows."""
    clean_parts, quality_parts = [], []
    raw = utc_columns(raw, "date")
    for day in days:
        day_end = day + pd.Timedelta(days=1)
        window = raw[
            (raw["date"] >= day - pd.Timedelta(days=LOOKBACK_DAYS)) & (raw["date"] < day_end)
        ]
        today = window[window["date"] >= day]
        window = window[window["symbol"].isin(today["symbol"].unique())]
        if window.empty:
            continue
        clean, quality = sanitize_ohlcv(window, timeframe, as_of=day_end)
        clean_parts.append(clean[clean["date"] >= day].assign(timeframe=timeframe))
        quality_parts.append(quality.assign(day=day))
    return clean_parts, quality_parts


def clean_ohlcv(
    context: dg.AssetExecutionContext, ohlcv_hourly: pd.DataFrame, ohlcv_daily: pd.DataFrame
) -> Iterator:
    """Candles fit for modelling (both timeframes, ``timeframe`` column) and, per day, coin and
    timeframe, the quality verdict with the reason a coin was excluded."""
    days = partition_days(context.partition_time_window)
    clean_parts: list[pd.DataFrame] = []
    quality_parts: list[pd.DataFrame] = []
    for timeframe, raw in (("1h", ohlcv_hourly), ("1d", ohlcv_daily)):
        if not raw.empty:
            clean, quality = _sanitize_days(raw, timeframe, days)
            clean_parts += clean
            quality_parts += quality
    columns = ["symbol", "date", "open", "high", "low", "close", "volume", "timeframe"]
    clean_all = (
        pd.concat(clean_parts, ignore_index=True) if clean_parts else pd.DataFrame(columns=columns)
    )
    quality_all = pd.concat(quality_parts, ignore_index=True) if quality_parts else pd.DataFrame()
    excluded = quality_all[quality_all["excluded"]] if len(quality_all) else quality_all
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
        quality_all, output_name="data_quality", metadata=_quality_metadata(quality_all)
    )


def _quality_metadata(quality: pd.DataFrame) -> dict:
    latest = quality[quality["day"] == quality["day"].max()] if len(quality) else quality
    excluded = latest[latest["excluded"]] if len(latest) else latest
    return {
        "coins_on_last_day": int(latest["symbol"].nunique()) if len(latest) else 0,
        "excluded_on_last_day": dg.MetadataValue.md(
            excluded[["symbol", "timeframe", "reason"]].to_markdown() if len(excluded) else "none"
        ),
    }


def build_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """The market assets on the code location's daily partitions."""
    daily = {
        "group_name": MARKET_GROUP,
        "partitions_def": partitions.daily,
        "backfill_policy": dg.BackfillPolicy.single_run(),
    }
    markets = dg.asset(
        name="exchange_markets",
        metadata={"partition_expr": "day"},
        check_specs=[dg.AssetCheckSpec("universe_changes", asset="exchange_markets")],
        kinds={"ccxt", "duckdb"},
        **daily,
    )(exchange_markets)
    candles = [
        dg.asset(
            name=name,
            metadata={"partition_expr": "date"},
            check_specs=[
                dg.AssetCheckSpec("ohlcv_schema", asset=name),
                dg.AssetCheckSpec("gaps_and_staleness", asset=name),
                dg.AssetCheckSpec("source_status", asset=name),
            ],
            kinds={"ccxt", "duckdb"},
            **daily,
        )(_ohlcv_body(name, timeframe))
        for name, timeframe in (("ohlcv_hourly", "1h"), ("ohlcv_daily", "1d"))
    ]
    lookback = dg.TimeWindowPartitionMapping(start_offset=-LOOKBACK_DAYS)
    clean = dg.multi_asset(
        name="clean_ohlcv",
        ins={
            "ohlcv_hourly": dg.AssetIn(partition_mapping=lookback),
            "ohlcv_daily": dg.AssetIn(partition_mapping=lookback),
        },
        outs={
            "clean_ohlcv": dg.AssetOut(metadata={"partition_expr": "date"}, kinds={"duckdb"}),
            "data_quality": dg.AssetOut(metadata={"partition_expr": "day"}, kinds={"duckdb"}),
        },
        check_specs=[dg.AssetCheckSpec("clean_schema", asset="clean_ohlcv")],
        **daily,
    )(clean_ohlcv)
    return [markets, *candles, clean]
