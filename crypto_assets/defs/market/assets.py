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
from crypto_assets.horizons import TIMEFRAMES
from crypto_assets.market.history import describe_missing, missing_history
from crypto_assets.market.sanitation import describe_conflicts, merge_new_candles, sanitize_ohlcv
from crypto_assets.market.schemas import validation_failures
from crypto_assets.market.source import FetchResult, MarketSource
from crypto_assets.market.universe import diff_universe, filter_universe, malformed_symbols
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
    malformed = malformed_symbols(frame)
    yield dg.AssetCheckResult(
        check_name="well_formed_symbols",
        passed=not malformed,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(malformed)} listed symbol(s) are not BASE/QUOTE and stay out of the universe: "
            + ", ".join(repr(m) for m in malformed[:10])
            if malformed
            else "every listed symbol is BASE/QUOTE"
        ),
        metadata={"malformed": len(malformed)},
    )


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
        # the whole window, not only what is newer than the newest stored candle: what is
        # missing at either end or inside is filled where the source still has it, and every
        # stored candle of the window is compared with the source's current answer
        result = market_source.fetch_ohlcv(symbols, timeframe, start, end)
        stored = duckdb.read_window(name, "date", start, window.end)
        merged, conflicts = merge_new_candles(stored, result.candles)
        failed = set(result.failures["symbol"]) if len(result.failures) else set()
        gaps = missing_history(
            merged,
            [s for s in symbols if s not in failed],
            timeframe,
            start,
            min(utc(window.end), now.floor(TIMEFRAMES[timeframe])),
            result.available_from,
        )
        new_rows = len(merged) - len(stored)
        context.log.info(
            f"{name}: {new_rows} new candles for {len(symbols)} symbols, {len(failed)} failed "
            f"symbols, {len(conflicts)} revisions kept as stored, "
            f"{int(gaps['candles'].sum()) if len(gaps) else 0} candles missing"
        )
        yield dg.Output(
            merged, metadata=_candle_metadata(merged, result, new_rows, conflicts, gaps)
        )
        yield from _candle_checks(merged, timeframe, now, end)
        yield source_status_check("source_status", result.status(len(symbols)))
        yield from _fetch_checks(
            timeframe, len(symbols), result.failures, conflicts, gaps, result.available_from
        )

    fetch_candles.__doc__ = (
        f"Raw {timeframe} candles of the universe. Each run asks the source for its whole window, "
        "so candles missing at either end of the stored history or inside it are filled where "
        "the source still has them; stored candles are never overwritten: every one the source "
        "now gives differently is kept and reported (check `no_revisions`), and history the "
        "source cannot give is reported (check `history_complete`)."
    )
    return fetch_candles


def _examples(frame: pd.DataFrame, limit: int = 50) -> dg.MetadataValue | str:
    if frame.empty:
        return "-"
    more = f"\n\n... and {len(frame) - limit} more" if len(frame) > limit else ""
    return dg.MetadataValue.md(frame.head(limit).to_markdown(index=False) + more)


def _candle_metadata(
    merged: pd.DataFrame,
    result: FetchResult,
    new_rows: int,
    conflicts: pd.DataFrame,
    gaps: pd.DataFrame,
) -> dict:
    return {
        "rows": len(merged),
        "new_rows": new_rows,
        "fetched_rows": len(result.candles),
        "coins": int(merged["symbol"].nunique()) if len(merged) else 0,
        "first_candle": str(merged["date"].min()) if len(merged) else "-",
        "last_candle": str(merged["date"].max()) if len(merged) else "-",
        "requests": result.requests,
        "failed_symbols": len(result.failures),
        "failures": _examples(result.failures),
        "conflicts_kept_as_stored": len(conflicts),
        "conflicts": _examples(conflicts),
        "missing_candles": int(gaps["candles"].sum()) if len(gaps) else 0,
        "missing_history": _examples(gaps),
        "available_from": str(result.available_from) if result.available_from else "-",
        "source": result.source,
        "as_of": str(result.as_of),
        "notes": "; ".join(result.notes) or "-",
    }


def _fetch_checks(
    timeframe: str,
    symbols: int,
    failures: pd.DataFrame,
    conflicts: pd.DataFrame,
    gaps: pd.DataFrame,
    available_from: pd.Timestamp | None,
) -> Iterator[dg.AssetCheckResult]:
    """What the fetch could not do, each a WARN check a user sees (the CLI prints it): pairs
    that failed, stored candles the source now gives differently, history it cannot give."""
    failed = ", ".join(
        f"{r.symbol} ({r.error_type}: {r.message})" for r in failures.head(5).itertuples()
    )
    yield dg.AssetCheckResult(
        check_name="every_symbol_fetched",
        passed=failures.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(failures)} of {symbols} pair(s) failed to fetch: {failed}"
        + (" ..." if len(failures) > 5 else "")
        + "; their stored candles are kept, the next run asks again"
        if len(failures)
        else f"all {symbols} pairs fetched",
        metadata={"failed": len(failures), "symbols": symbols},
    )
    yield dg.AssetCheckResult(
        check_name="no_revisions",
        passed=conflicts.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=describe_conflicts(conflicts, timeframe),
        metadata={"conflicts_kept_as_stored": len(conflicts)},
    )
    yield dg.AssetCheckResult(
        check_name="history_complete",
        passed=gaps.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=describe_missing(gaps, timeframe, available_from),
        metadata={"missing_candles": int(gaps["candles"].sum()) if len(gaps) else 0},
    )


def _candle_checks(
    merged: pd.DataFrame, timeframe: str, now: pd.Timestamp, end: pd.Timestamp
) -> Iterator[dg.AssetCheckResult]:
    failures = validation_failures(merged, timeframe, now=now)
    _, quality = (
        sanitize_ohlcv(merged, timeframe, as_of=end) if len(merged) else (None, pd.DataFrame())
    )
    gappy = quality[quality["missing_candles"] > 0] if len(quality) else quality
    stale = quality[quality["reason"].str.startswith("stale")] if len(quality) else quality
    rules = (
        "Pandera: symbol BASE/QUOTE, prices > 0, high/low bound open/close, volume >= 0, unique "
        "(symbol, time), times aligned, nothing in the future or still forming"
    )
    # a row-wise check (e.g. low <= min(open, close)) reports each column of a bad row: count
    # candles, not failure cases
    distinct = failures.astype({"check": str}).drop_duplicates(["check", "index"])
    by_check = distinct["check"].value_counts()
    yield dg.AssetCheckResult(
        check_name="ohlcv_schema",
        passed=failures.empty,
        description=(
            f"{distinct['index'].nunique(dropna=False)} raw candle(s) break the schema: "
            + ", ".join(f"{check} x{n}" for check, n in by_check.head(5).items())
            + "; sanitation keeps their coins out of clean_ohlcv (see excluded_coins)"
            if len(failures)
            else rules
        ),
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
    yield _excluded_check(quality_all)


def _excluded_check(quality: pd.DataFrame, examples: int = 8) -> dg.AssetCheckResult:
    """Which coins sanitation excluded and why: the last day's verdicts, and how many coin-days
    the run excluded in all (a coin excluded is missing from every downstream asset)."""
    excluded = quality[quality["excluded"]] if len(quality) else quality
    if excluded.empty:
        return dg.AssetCheckResult(
            check_name="excluded_coins",
            asset_key="clean_ohlcv",
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description="no coin excluded",
        )
    last_day = quality["day"].max()
    latest = excluded[excluded["day"] == last_day]
    shown = "; ".join(
        f"{r.symbol} {r.timeframe} ({r.reason})" for r in latest.head(examples).itertuples()
    )
    text = (
        f"{latest['symbol'].nunique()} coin(s) excluded on {utc(last_day):%Y-%m-%d}: {shown}"
        + (" ..." if len(latest) > examples else "")
        if len(latest)
        else f"no coin excluded on {utc(last_day):%Y-%m-%d}"
    )
    days = quality["day"].nunique()
    if days > 1:
        text += f"; {len(excluded)} coin-day(s) excluded over the run's {days} days"
    return dg.AssetCheckResult(
        check_name="excluded_coins",
        asset_key="clean_ohlcv",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=text,
        metadata={
            "excluded_on_last_day": int(latest["symbol"].nunique()),
            "excluded_coin_days": len(excluded),
            "by_reason": dg.MetadataValue.json(
                excluded["reason"].str.split(":").str[0].value_counts().to_dict()
            ),
        },
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
        check_specs=[
            dg.AssetCheckSpec("universe_changes", asset="exchange_markets"),
            dg.AssetCheckSpec("well_formed_symbols", asset="exchange_markets"),
        ],
        kinds={"ccxt", "duckdb"},
        **daily,
    )(exchange_markets)
    candles = [
        dg.asset(
            name=name,
            metadata={"partition_expr": "date"},
            check_specs=[
                dg.AssetCheckSpec(check, asset=name)
                for check in (
                    "ohlcv_schema",
                    "gaps_and_staleness",
                    "source_status",
                    "every_symbol_fetched",
                    "no_revisions",
                    "history_complete",
                )
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
        check_specs=[
            dg.AssetCheckSpec("clean_schema", asset="clean_ohlcv"),
            dg.AssetCheckSpec("excluded_coins", asset="clean_ohlcv"),
        ],
        **daily,
    )(clean_ohlcv)
    return [markets, *candles, clean]
