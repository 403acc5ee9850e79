"""Risk assets: the order books of the day's top list (and the watch list), the risk verdict per
coin, and the risk-checked top list.

Thin by design: the ``order_book_source`` resource fetches (live Kraken Depth, ccxt.pro
WebSocket, or the recorded books), ``risk_rules`` carries the settings' rules as data, the pure
functions in ``crypto_assets.risk`` decide, the DuckDB IO manager stores. The rules are stated
in ``crypto_assets/risk/rules.py``. Resource keys needed: ``order_book_source``, ``risk_rules``,
``duckdb``, ``io_manager``.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import daily_partitions, partition_days
from crypto_assets.defs.storage import SCHEMA, delete_rows, read_table
from crypto_assets.ml.selection import TOP_COLUMNS
from crypto_assets.risk.assess import CHECKED_TOP_COLUMNS, RISK_COLUMNS, check_top_list, typed_risk
from crypto_assets.risk.source import (
    BOOK_COLUMNS,
    SYMBOL_STATUS_COLUMNS,
    OrderBookFetch,
    OrderBookUnavailable,
    empty_books,
    symbol_status_frame,
    typed_books,
)

RISK_GROUP = "risk"
BOOK_STATUS_COLUMNS = ["day", "source", *SYMBOL_STATUS_COLUMNS]
DAY = pd.Timedelta(days=1)


def _window(context: dg.AssetExecutionContext) -> tuple[pd.Timestamp, pd.Timestamp]:
    window = context.partition_time_window
    return pd.Timestamp(window.start).tz_convert("UTC"), pd.Timestamp(window.end).tz_convert("UTC")


def _day_rows(duckdb, table: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows of ``table`` with ``day`` in [start, end), ``day`` as UTC (empty if no table)."""
    frame = read_table(
        duckdb, table, "day >= ? and day < ?", [start.to_pydatetime(), end.to_pydatetime()]
    )
    if len(frame):
        frame["day"] = pd.to_datetime(frame["day"], utc=True)
    return frame


def _status_frame(fetch_rows: pd.DataFrame, day: pd.Timestamp, source: str) -> pd.DataFrame:
    frame = fetch_rows.assign(day=day, source=source)[BOOK_STATUS_COLUMNS]
    frame["day"] = pd.to_datetime(frame["day"], utc=True).astype("datetime64[ns, UTC]")
    frame["source"] = frame["source"].astype("string")
    return frame.reset_index(drop=True)


def _fetch(source, symbols: list[str], depth: int) -> tuple[OrderBookFetch | None, str]:
    """The source's books, or None and the one-line reason it could not be used."""
    if not symbols:
        return None, "no symbols requested: the top list is empty and the watch list too"
    try:
        return source.fetch_order_books(symbols, depth=depth), ""
    except OrderBookUnavailable as exc:
        return None, str(exc)


def _books_for_day(fetch: OrderBookFetch, day_end: pd.Timestamp, max_age: pd.Timedelta):
    """(levels to store for the day, status rows): a LIVE book only belongs to a day whose end
    is within ``max_age`` of when it was read (a backfill never files today's book under an old
    day); a replayed book is stored with its recording time, which says how old it is."""
    books, rows = fetch.books, fetch.symbols.copy()
    if fetch.status == "replay" or books.empty:
        return books, rows
    fresh = (books["as_of"] - day_end).abs() <= max_age
    stale_symbols = set(books.loc[~fresh, "symbol"])
    for symbol in stale_symbols:
        mask = rows["symbol"] == symbol
        read_at = books.loc[books["symbol"] == symbol, "as_of"].iloc[0]
        rows.loc[mask, "status"] = "unavailable"
        rows.loc[mask, "reason"] = (
            f"a live book shows only the present: read at {read_at:%Y-%m-%d %H:%M}, "
            f"the day ended {day_end:%Y-%m-%d %H:%M} UTC"
        )
    return books[fresh], rows


@dg.multi_asset(
    group_name=RISK_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["top_coins"],
    required_resource_keys={"order_book_source", "risk_rules", "duckdb"},
    outs={
        "order_books": dg.AssetOut(metadata={"partition_expr": "day"}, kinds={"ccxt", "duckdb"}),
        "order_book_status": dg.AssetOut(metadata={"partition_expr": "day"}, kinds={"duckdb"}),
    },
    check_specs=[dg.AssetCheckSpec("books_from_source", asset="order_books")],
)
def order_books(context: dg.AssetExecutionContext) -> Iterator:
    """Order-book levels (best first, ``book_depth`` per side) of every coin on the day's top
    list plus the watch list, and one status row per coin saying where its book came from or
    why there is none (a recorded book keeps its recording time as ``as_of``)."""
    source = context.resources.order_book_source
    settings = context.resources.risk_rules
    duckdb = context.resources.duckdb
    start, end = _window(context)
    top = _day_rows(duckdb, "top_coins", start, end)
    watch = list(settings.watch_list or [])
    max_age = pd.Timedelta(hours=settings.book_max_age_hours)
    wanted = sorted(set(top["symbol"]) | set(watch)) if len(top) else sorted(set(watch))
    fetch, failure = _fetch(source, wanted, settings.book_depth)
    level_parts, status_parts = [], []
    for day in partition_days(context.partition_time_window):
        day_top = top[top["day"] == day]["symbol"].tolist() if len(top) else []
        symbols = sorted(set(day_top) | set(watch))
        if fetch is None:
            status = "unavailable" if symbols else "ok"
            rows = [
                {"symbol": s, "exchange": "", "status": status, "reason": failure}
                for s in symbols or [""]
            ]
            status_parts.append(_status_frame(symbol_status_frame(rows), day, source.describe()))
            continue
        books, rows = _books_for_day(fetch, day + DAY, max_age)
        books = books[books["symbol"].isin(symbols)]
        level_parts.append(books.assign(day=day))
        status_parts.append(_status_frame(rows[rows["symbol"].isin(symbols)], day, fetch.source))
    levels = (
        pd.concat(level_parts, ignore_index=True) if level_parts else empty_books().assign(day=None)
    )
    levels = typed_books(levels).assign(
        day=pd.to_datetime(levels["day"], utc=True).astype("datetime64[ns, UTC]")
    )
    levels = levels[["day", *BOOK_COLUMNS]]
    status = pd.concat(status_parts, ignore_index=True)
    missing = status[~status["status"].isin(["ok", "replay"])]
    yield dg.Output(
        levels,
        output_name="order_books",
        metadata={
            "rows": len(levels),
            "books": int(levels[["day", "symbol", "exchange"]].drop_duplicates().shape[0]),
            "source": fetch.source if fetch else source.describe(),
            "as_of": str(fetch.as_of) if fetch else "-",
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


def _daily_candles(duckdb, start: pd.Timestamp, end: pd.Timestamp, lookback_days: int):
    """Clean daily candles opened in [start - lookback, end), and each coin's first stored
    daily candle (for the listing age)."""
    frame = read_table(
        duckdb,
        "clean_ohlcv",
        "timeframe = ? and date >= ? and date < ?",
        ["1d", (start - pd.Timedelta(days=lookback_days)).to_pydatetime(), end.to_pydatetime()],
    )
    if frame.empty:
        return frame, pd.Series(dtype="datetime64[ns, UTC]")
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    with duckdb.get_connection() as conn:
        first = conn.execute(
            f'select symbol, min(date) as first from {SCHEMA}."clean_ohlcv" '
            "where timeframe = '1d' group by symbol"
        ).df()
    return frame, pd.to_datetime(first.set_index("symbol")["first"], utc=True)


@dg.multi_asset(
    group_name=RISK_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["top_coins", "order_books", "clean_ohlcv"],
    required_resource_keys={"risk_rules", "duckdb"},
    outs={
        "risk_metrics": dg.AssetOut(metadata={"partition_expr": "day"}, kinds={"duckdb"}),
        "risk_checked_top_coins": dg.AssetOut(metadata={"partition_expr": "day"}, kinds={"duckdb"}),
    },
    check_specs=[
        dg.AssetCheckSpec("every_top_coin_listed", asset="risk_checked_top_coins"),
        dg.AssetCheckSpec("current_books", asset="risk_metrics"),
    ],
)
def risk_assessment(context: dg.AssetExecutionContext) -> Iterator:
    """Per coin (top list + watch list): spread, depth within 1 % / 2 %, slippage of the
    ticket, volatility, dollar volume, listing age, correlation cluster, suggested allocation,
    warnings and hard-rule verdicts; and the day's top list with those columns, in its own
    order, held-back coins listed with their reason."""
    settings = context.resources.risk_rules
    rules = settings.rules()
    duckdb = context.resources.duckdb
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
            settings.watch_list or [],
            first,
        )
        metric_parts.append(metrics.assign(day=day))
        checked_parts.append(checked.assign(day=day))
    metrics = typed_risk(pd.concat(metric_parts, ignore_index=True), ["day", *RISK_COLUMNS])
    checked = typed_risk(pd.concat(checked_parts, ignore_index=True), CHECKED_TOP_COLUMNS)
    for table, frame in (("risk_metrics", metrics), ("risk_checked_top_coins", checked)):
        if frame.empty:  # the IO manager skips empty frames: clear stale rows of these days
            delete_rows(duckdb, table, "day", start, end)
    yield from _assessment_outputs(metrics, checked, top, rules)


def _assessment_outputs(metrics: pd.DataFrame, checked: pd.DataFrame, top: pd.DataFrame, rules):
    held = checked[checked["held_back"]]
    preview_cols = ["symbol", "suggested_allocation", "cluster", "held_back_reason", "risk_flags"]
    yield dg.Output(
        metrics,
        output_name="risk_metrics",
        metadata={
            "coins": len(metrics),
            "with_current_book": int(metrics["book_current"].sum()),
            "rules": dg.MetadataValue.json(rules.as_dict()),
            "preview": dg.MetadataValue.md(
                metrics[
                    [
                        "symbol",
                        "role",
                        "spread",
                        "buy_slippage",
                        "dollar_volume_usd",
                        "cluster",
                        "risk_flags",
                    ]
                ]
                .head(30)
                .to_markdown(index=False)
                if len(metrics)
                else "no coins to judge"
            ),
        },
    )
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


risk_job = dg.define_asset_job(
    "risk_job",
    selection=dg.AssetSelection.assets(
        "order_books", "order_book_status", "risk_metrics", "risk_checked_top_coins"
    ),
    partitions_def=daily_partitions,
    description="Order books and the risk check of one day's top list.",
)


@dg.asset_sensor(asset_key=dg.AssetKey("top_coins"), job=risk_job, name="risk_after_top_coins")
def risk_after_top_coins(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    """Check a day's risk as soon as its top list is written (same partition)."""
    partition = asset_event.dagster_event.partition if asset_event.dagster_event else None
    if partition:
        yield dg.RunRequest(
            run_key=f"risk-{partition}-{asset_event.run_id}", partition_key=partition
        )


defs = dg.Definitions(
    assets=[order_books, risk_assessment],
    jobs=[risk_job],
    sensors=[risk_after_top_coins],
)
