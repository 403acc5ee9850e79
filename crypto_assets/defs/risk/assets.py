"""Risk assets: the order books of the day's top list (and the watch list), the risk verdict per
coin, and the risk-checked top list.

Thin by design: the ``order_book_source`` resource fetches (live Kraken Depth, ccxt.pro
WebSocket, or the recorded books), ``risk_rules`` carries the settings' rules as data, the pure
functions in ``crypto_assets.risk`` decide, the IO manager stores (an empty frame clears the
day). The rules are stated in ``crypto_assets/risk/rules.py``.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from crypto_assets.defs.checks import source_status_check
from crypto_assets.defs.partitions import Partitions, partition_days
from crypto_assets.frames import utc, utc_columns
from crypto_assets.ml.selection import TOP_COLUMNS
from crypto_assets.resources.risk_rules import RiskRulesResource
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.risk.assess import CHECKED_TOP_COLUMNS, RISK_COLUMNS, check_top_list, typed_risk
from crypto_assets.risk.rules import RiskRules
from crypto_assets.risk.source import (
    BOOK_COLUMNS,
    SYMBOL_STATUS_COLUMNS,
    OrderBookFetch,
    OrderBookSource,
    OrderBookUnavailable,
    empty_books,
    symbol_status_frame,
    typed_books,
)
from crypto_assets.sources import SourceStatus

RISK_GROUP = "risk"
BOOK_STATUS_COLUMNS = ["day", "source", *SYMBOL_STATUS_COLUMNS]
DAY = pd.Timedelta(days=1)
BOOKS = dg.ResourceParam[OrderBookSource]


def _window(context: dg.AssetExecutionContext) -> tuple[pd.Timestamp, pd.Timestamp]:
    window = context.partition_time_window
    return utc(window.start), utc(window.end)


def _day_rows(duckdb: DuckDBStore, table: str, start, end) -> pd.DataFrame:
    """Rows of ``table`` with ``day`` in [start, end), ``day`` as UTC (empty if no table)."""
    frame = duckdb.read_window(table, "day", start, end)
    return utc_columns(frame, "day") if len(frame) else frame


def _status_frame(fetch_rows: pd.DataFrame, day: pd.Timestamp, source: str) -> pd.DataFrame:
    frame = fetch_rows.assign(day=day, source=source)[BOOK_STATUS_COLUMNS]
    frame["day"] = pd.to_datetime(frame["day"], utc=True).astype("datetime64[ns, UTC]")
    frame["source"] = frame["source"].astype("string")
    return frame.reset_index(drop=True)


def _fetch(source: OrderBookSource, symbols: list[str], depth: int):
    """(the source's books or None, the house's status row of the attempt)."""
    now = pd.Timestamp.now(tz="UTC")
    if not symbols:
        reason = "no symbols requested: the top list is empty and the watch list too"
        return None, SourceStatus(source.describe(), "ok", reason, now, 0)
    try:
        fetch = source.fetch_order_books(symbols, depth=depth)
    except OrderBookUnavailable as exc:
        return None, SourceStatus(source.describe(), "unavailable", str(exc), now, 0)
    return fetch, fetch.source_status()


def _books_for_day(fetch: OrderBookFetch, day_end: pd.Timestamp, max_age: pd.Timedelta):
    """(levels to store for the day, status rows): a LIVE book only belongs to a day whose end
    is within ``max_age`` of when it was read (a backfill never files today's book under an old
    day); a replayed book is stored with its recording time, which says how old it is."""
    books, rows = fetch.books, fetch.symbols.copy()
    if fetch.status == "replay" or books.empty:
        return books, rows
    fresh = (books["as_of"] - day_end).abs() <= max_age
    for symbol in set(books.loc[~fresh, "symbol"]):
        mask = rows["symbol"] == symbol
        read_at = books.loc[books["symbol"] == symbol, "as_of"].iloc[0]
        rows.loc[mask, "status"] = "unavailable"
        rows.loc[mask, "reason"] = (
            f"a live book shows only the present: read at {read_at:%Y-%m-%d %H:%M}, "
            f"the day ended {day_end:%Y-%m-%d %H:%M} UTC"
        )
    return books[fresh], rows


def _books_and_status(fetch, status: SourceStatus, top, watch, days, max_age):
    level_parts, status_parts = [], []
    for day in days:
        day_top = top[top["day"] == day]["symbol"].tolist() if len(top) else []
        symbols = sorted(set(day_top) | set(watch))
        if fetch is None:
            state = status.status if symbols else "ok"
            rows = [
                {"symbol": s, "exchange": "", "status": state, "reason": status.reason}
                for s in symbols or [""]
            ]
            status_parts.append(_status_frame(symbol_status_frame(rows), day, status.source))
            continue
        books, rows = _books_for_day(fetch, day + DAY, max_age)
        level_parts.append(books[books["symbol"].isin(symbols)].assign(day=day))
        status_parts.append(_status_frame(rows[rows["symbol"].isin(symbols)], day, fetch.source))
    levels = (
        pd.concat(level_parts, ignore_index=True) if level_parts else empty_books().assign(day=None)
    )
    levels = typed_books(levels).assign(
        day=pd.to_datetime(levels["day"], utc=True).astype("datetime64[ns, UTC]")
    )
    return levels[["day", *BOOK_COLUMNS]], pd.concat(status_parts, ignore_index=True)


def order_books(
    context: dg.AssetExecutionContext,
    order_book_source: BOOKS,
    risk_rules: RiskRulesResource,
    duckdb: DuckDBStore,
) -> Iterator:
    """Order-book levels (best first, ``book_depth`` per side) of every coin on the day's top
    list plus the watch list, and one status row per coin saying where its book came from or
    why there is none (a recorded book keeps its recording time as ``as_of``)."""
    start, end = _window(context)
    top = _day_rows(duckdb, "top_coins", start, end)
    watch = list(risk_rules.watch_list or [])
    wanted = sorted(set(top["symbol"]) | set(watch)) if len(top) else sorted(set(watch))
    fetch, source_state = _fetch(order_book_source, wanted, risk_rules.book_depth)
    levels, status = _books_and_status(
        fetch,
        source_state,
        top,
        watch,
        partition_days(context.partition_time_window),
        pd.Timedelta(hours=risk_rules.rules().book_max_age_hours),
    )
    missing = status[~status["status"].isin(["ok", "replay"])]
    books = int(levels[["day", "symbol", "exchange"]].drop_duplicates().shape[0])
    yield dg.Output(
        levels,
        output_name="order_books",
        metadata={
            "rows": len(levels),
            "books": books,
            "source": source_state.source,
            "status": source_state.status,
            "as_of": str(source_state.as_of),
            "requests": fetch.requests if fetch else 0,
        },
    )
    yield dg.Output(
        status,
        output_name="order_book_status",
        metadata={
            "by_status": dg.MetadataValue.json(status["status"].value_counts().to_dict()),
            "preview": dg.MetadataValue.md(
                status.drop(columns=["source"]).head(30).to_markdown(index=False)
            ),
        },
    )
    yield source_status_check("source_reachable", source_state, asset_key="order_book_status")
    yield dg.AssetCheckResult(
        check_name="books_from_source",
        asset_key="order_books",
        passed=missing.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description="Every coin of the top list and the watch list has a book from the source.",
        metadata={
            "without_book": len(missing),
            "reasons": dg.MetadataValue.md(
                missing[["day", "symbol", "status", "reason"]].head(30).to_markdown(index=False)
                if len(missing)
                else "none"
            ),
        },
    )


def _daily_candles(duckdb: DuckDBStore, start, end, lookback_days: int):
    """Clean daily candles opened in [start - lookback, end), and each coin's first stored
    daily candle (for the listing age)."""
    frame = duckdb.read_window(
        "clean_ohlcv",
        "date",
        start - pd.Timedelta(days=lookback_days),
        end,
        "timeframe = ?",
        ["1d"],
    )
    if frame.empty:
        return frame, pd.Series(dtype="datetime64[ns, UTC]")
    first = pd.Series(duckdb.first_candle_by_symbol("1d"), dtype="datetime64[ns, UTC]")
    return utc_columns(frame, "date"), first


def risk_assessment(
    context: dg.AssetExecutionContext, risk_rules: RiskRulesResource, duckdb: DuckDBStore
) -> Iterator:
    """Per coin (top list + watch list): spread, depth within 1 % / 2 %, slippage of the
    ticket, volatility, dollar volume, listing age, correlation cluster, suggested allocation,
    warnings and hard-rule verdicts; and the day's top list with those columns, in its own
    order, held-back coins listed with their reason."""
    rules = risk_rules.rules()
    start, end = _window(context)
    top = _day_rows(duckdb, "top_coins", start, end)
    books = _day_rows(duckdb, "order_books", start, end)
    candles, first = _daily_candles(duckdb, start, end, rules.lookback_days)
    metric_parts, checked_parts = [], []
    for day in partition_days(context.partition_time_window):
        day_top = (
            top[top["day"] == day][TOP_COLUMNS] if len(top) else pd.DataFrame(columns=TOP_COLUMNS)
        )
        day_books = books[books["day"] == day].drop(columns="day") if len(books) else empty_books()
        checked, metrics = check_top_list(
            day_top,
            candles,
            typed_books(day_books),
            day + DAY,
            rules,
            risk_rules.watch_list or [],
            first,
        )
        metric_parts.append(metrics.assign(day=day))
        checked_parts.append(checked.assign(day=day))
    metrics = typed_risk(pd.concat(metric_parts, ignore_index=True), ["day", *RISK_COLUMNS])
    checked = typed_risk(pd.concat(checked_parts, ignore_index=True), CHECKED_TOP_COLUMNS)
    yield from _assessment_outputs(metrics, checked, top, rules)


def _metrics_output(metrics: pd.DataFrame, rules: RiskRules) -> dg.Output:
    columns = ["symbol", "role", "spread", "buy_slippage", "dollar_volume_usd", "cluster"]
    return dg.Output(
        metrics,
        output_name="risk_metrics",
        metadata={
            "coins": len(metrics),
            "with_current_book": int(metrics["book_current"].sum()),
            "rules": dg.MetadataValue.json(rules.as_dict()),
            "preview": dg.MetadataValue.md(
                metrics[[*columns, "risk_flags"]].head(30).to_markdown(index=False)
                if len(metrics)
                else "no coins to judge"
            ),
        },
    )


def _assessment_outputs(metrics: pd.DataFrame, checked: pd.DataFrame, top, rules: RiskRules):
    held = checked[checked["held_back"]]
    preview_cols = ["symbol", "suggested_allocation", "cluster", "held_back_reason", "risk_flags"]
    yield _metrics_output(metrics, rules)
    yield dg.Output(
        checked,
        output_name="risk_checked_top_coins",
        metadata={
            "coins": len(checked),
            "held_back": len(held),
            "allocated": float(checked["suggested_allocation"].sum()) if len(checked) else 0.0,
            "preview": dg.MetadataValue.md(
                checked[preview_cols].head(30).to_markdown(index=False)
                if len(checked)
                else "empty top list"
            ),
        },
    )
    per_day = (
        checked.groupby("day")["suggested_allocation"].sum()
        if len(checked)
        else pd.Series(dtype=float)
    )
    listed = {f"{d:%Y-%m-%d} {s}" for d, s in zip(checked["day"], checked["symbol"], strict=True)}
    expected = [
        f"{d:%Y-%m-%d} {s}" for d, s in zip(top.get("day", []), top.get("symbol", []), strict=True)
    ]
    dropped = [key for key in expected if key not in listed]
    allocated_held = held[held["suggested_allocation"] > 0]
    yield dg.AssetCheckResult(
        check_name="every_top_coin_listed",
        asset_key="risk_checked_top_coins",
        passed=not dropped and allocated_held.empty and bool((per_day <= 1 + 1e-9).all()),
        description="No top-list coin is dropped; held-back coins get no allocation; each day's "
        "allocations sum to at most 100 %.",
        metadata={
            "dropped": ", ".join(dropped) or "-",
            "max_day_total": float(per_day.max()) if len(per_day) else 0.0,
        },
    )
    top_rows = metrics[metrics["role"] == "top"]
    stale = top_rows[~top_rows["book_current"]]
    yield dg.AssetCheckResult(
        check_name="current_books",
        asset_key="risk_metrics",
        passed=stale.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description="Every top-list coin was judged on a current order book (slippage/spread "
        "rules are not enforced without one).",
        metadata={"without_current_book": ", ".join(stale["symbol"].head(50)) or "-"},
    )


def build_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """The risk assets on the code location's daily partitions."""
    daily = {
        "group_name": RISK_GROUP,
        "partitions_def": partitions.daily,
        "backfill_policy": dg.BackfillPolicy.single_run(),
    }
    day = {"partition_expr": "day"}
    books = dg.multi_asset(
        deps=["top_coins"],
        outs={
            "order_books": dg.AssetOut(metadata=day, kinds={"ccxt", "duckdb"}),
            "order_book_status": dg.AssetOut(metadata=day, kinds={"duckdb"}),
        },
        check_specs=[
            dg.AssetCheckSpec("books_from_source", asset="order_books"),
            dg.AssetCheckSpec("source_reachable", asset="order_book_status"),
        ],
        **daily,
    )(order_books)
    assessment = dg.multi_asset(
        deps=["top_coins", "order_books", "clean_ohlcv"],
        outs={
            "risk_metrics": dg.AssetOut(metadata=day, kinds={"duckdb"}),
            "risk_checked_top_coins": dg.AssetOut(metadata=day, kinds={"duckdb"}),
        },
        check_specs=[
            dg.AssetCheckSpec("every_top_coin_listed", asset="risk_checked_top_coins"),
            dg.AssetCheckSpec("current_books", asset="risk_metrics"),
        ],
        **daily,
    )(risk_assessment)
    return [books, assessment]
