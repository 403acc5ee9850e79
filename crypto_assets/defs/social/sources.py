"""Source assets of the text domain: ``social_posts``, ``news_items`` and ``events`` (daily).

Each is a multi-asset with a ``*_status`` table beside it: one row per source per day (source,
status ok | no_key | unavailable | error | replay, reason, as_of, rows), and a WARN check
``sources_ok`` that fails with the reasons when a source could not deliver. A source without a
key or network therefore shows up as a status row and a failed check, never as invented posts.
Posts and headlines are deduplicated by id and linked to the coins of the day's universe.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import daily_partitions
from crypto_assets.defs.storage import read_table
from crypto_assets.news.classify import classify_headlines
from crypto_assets.social.linking import CoinLinker, explode_coins, link_frame
from crypto_assets.social.source import (
    GOOD_STATUSES,
    TextFetchResult,
    canonical_events,
    dedupe,
    empty_events,
    empty_posts,
    fetch_or_status,
)

SOCIAL_GROUP = "social"
NEWS_GROUP = "news"
UNIVERSE_TABLE = "kraken_markets"  # the market asset whose in_universe rows define the coins
SOCIAL_KEYS = ("reddit_source", "telegram_source", "discord_source", "x_source")
NEWS_KEYS = ("rss_source", "cryptopanic_source")
EVENT_KEYS = ("hacks_source", "unlocks_source", "pump_events_source")


def universe_for(context: dg.AssetExecutionContext, day: pd.Timestamp) -> tuple[CoinLinker, str]:
    """The linker for the newest stored universe on or before ``day`` (empty when none)."""
    markets = read_table(
        context.resources.duckdb, UNIVERSE_TABLE, "day <= ? and in_universe", [day.to_pydatetime()]
    )
    if markets.empty:
        return CoinLinker.for_universe(
            []
        ), f"no {UNIVERSE_TABLE} stored on or before {day:%Y-%m-%d}"
    latest = markets[markets["day"] == markets["day"].max()]
    note = f"{latest['symbol'].nunique()} markets of {pd.Timestamp(latest['day'].max()):%Y-%m-%d}"
    return CoinLinker.for_universe(latest["base"].dropna().unique()), note


def read_partition(duckdb, table: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Stored rows of ``[start, end)`` (by ``time``); empty when nothing was stored (an empty
    day writes no table, so downstream assets read, they do not load an input)."""
    frame = read_table(
        duckdb, table, "time >= ? and time < ?", [start.to_pydatetime(), end.to_pydatetime()]
    )
    if len(frame) and "time" in frame:
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def fetch_all(
    context: dg.AssetExecutionContext, keys: tuple[str, ...], kind: str
) -> list[TextFetchResult]:
    window = context.partition_time_window
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    return [fetch_or_status(getattr(context.resources, k), start, end, kind) for k in keys]


def status_table(results: list[TextFetchResult], day: pd.Timestamp) -> pd.DataFrame:
    frame = pd.concat([r.status for r in results], ignore_index=True)
    frame.insert(0, "day", day)
    frame["day"] = frame["day"].astype("datetime64[ns, UTC]")
    return frame


def status_check(asset: str, status: pd.DataFrame) -> dg.AssetCheckResult:
    bad = status[~status["status"].isin(GOOD_STATUSES)]
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name="sources_ok",
        passed=bad.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description="Every source delivered (ok) or replayed a recording (replay).",
        metadata={
            "not_ok": len(bad),
            "reasons": dg.MetadataValue.md(
                bad[["source", "status", "reason"]].to_markdown(index=False) if len(bad) else "-"
            ),
        },
    )


def _metadata(frame: pd.DataFrame, status: pd.DataFrame, results: list, note: str) -> dict:
    coins = frame["coins"].fillna("").str.len().gt(0) if "coins" in frame and len(frame) else None
    return {
        "rows": len(frame),
        "sources": dg.MetadataValue.md(
            status[["source", "status", "rows", "reason"]].to_markdown(index=False)
        ),
        "status": ", ".join(
            f"{s}:{st}" for s, st in zip(status["source"], status["status"], strict=True)
        ),
        "coverage": dg.MetadataValue.float(
            float(coins.mean()) if coins is not None and len(frame) else 0.0
        ),
        "as_of": str(max(r.as_of for r in results)),
        "universe": note,
        "preview": dg.MetadataValue.md(
            frame.head(10)[[c for c in ("time", "source", "coins", "text") if c in frame]]
            .assign(text=lambda f: f["text"].str.slice(0, 80))
            .to_markdown(index=False)
            if len(frame)
            else "(no rows)"
        ),
    }


DESCRIPTIONS = {
    "social_posts": "Reddit, Telegram, Discord and X posts of the day, deduplicated by source id "
    "or URL hash, each linked to the coins of the day's universe (column coins).",
    "news_items": "RSS/Atom and CryptoPanic headlines of the day, deduplicated, linked to coins, "
    "with the event class of the headline rules (event_kind).",
}


def _posts_asset(name: str, keys: tuple[str, ...], group: str, channel_context: bool):
    @dg.multi_asset(
        name=name,
        group_name=group,
        partitions_def=daily_partitions,
        outs={
            name: dg.AssetOut(
                metadata={"partition_expr": "time"},
                kinds={"duckdb"},
                description=DESCRIPTIONS[name],
            ),
            f"{name}_status": dg.AssetOut(
                metadata={"partition_expr": "day"},
                kinds={"duckdb"},
                description=f"One row per source of {name} per day: status, reason, as_of, rows.",
            ),
        },
        deps=[dg.AssetDep(UNIVERSE_TABLE)],
        required_resource_keys={"duckdb", *keys},
        check_specs=[dg.AssetCheckSpec("sources_ok", asset=name)],
    )
    def _asset(context: dg.AssetExecutionContext) -> Iterator:
        day = pd.Timestamp(context.partition_time_window.start)
        results = fetch_all(context, keys, "posts")
        frames = [r.frame for r in results if len(r.frame)]
        posts = dedupe(pd.concat(frames, ignore_index=True)) if frames else empty_posts()
        linker, note = universe_for(context, day)
        posts = link_frame(posts, linker, channel_context=channel_context)
        if group == NEWS_GROUP:
            posts["event_kind"] = (
                classify_headlines(posts["text"]) if len(posts) else pd.Series(dtype="string")
            )
        status = status_table(results, day)
        yield dg.Output(posts, output_name=name, metadata=_metadata(posts, status, results, note))
        yield dg.Output(status, output_name=f"{name}_status", metadata={"rows": len(status)})
        yield status_check(name, status)

    return _asset


social_posts = _posts_asset("social_posts", SOCIAL_KEYS, SOCIAL_GROUP, channel_context=True)
news_items = _posts_asset("news_items", NEWS_KEYS, NEWS_GROUP, channel_context=False)


def headline_events(news: pd.DataFrame) -> pd.DataFrame:
    """Classified headlines that name a coin and an event class -> one event per coin."""
    if news.empty or "event_kind" not in news:
        return empty_events()
    rows = explode_coins(news[news["event_kind"].ne("other")])
    if rows.empty:
        return empty_events()
    return canonical_events(
        rows.assign(
            id=rows["id"] + ":" + rows["coin"],
            kind=rows["event_kind"],
            title=rows["text"],
            amount_usd=float("nan"),
        )
    )


@dg.multi_asset(
    name="events",
    group_name=NEWS_GROUP,
    partitions_def=daily_partitions,
    outs={
        "events": dg.AssetOut(
            metadata={"partition_expr": "time"},
            kinds={"duckdb"},
            description="Dated events per coin: hacks, unlocks, announced pumps, classified news.",
        ),
        "events_status": dg.AssetOut(
            metadata={"partition_expr": "day"},
            kinds={"duckdb"},
            description="One row per event source per day: status, reason, as_of, rows.",
        ),
    },
    deps=["news_items", dg.AssetDep(UNIVERSE_TABLE)],
    required_resource_keys={"duckdb", *EVENT_KEYS},
    check_specs=[dg.AssetCheckSpec("sources_ok", asset="events")],
)
def events(context: dg.AssetExecutionContext) -> Iterator:
    """Dated events per coin: hacks (DefiLlama), token unlocks, announced pumps (research
    record) and classified headlines (listing, delisting, fork, regulatory, partnership...).
    Hacks name a protocol, not a ticker: the coin is linked from the protocol's name."""
    window = context.partition_time_window
    day = pd.Timestamp(window.start)
    news_items = read_partition(
        context.resources.duckdb, "news_items", day, pd.Timestamp(window.end)
    )
    results = fetch_all(context, EVENT_KEYS, "events")
    linker, note = universe_for(context, day)
    frames = [r.frame for r in results if len(r.frame)]
    recorded = pd.concat(frames, ignore_index=True) if frames else empty_events()
    unnamed = recorded["coin"].isna()
    if unnamed.any():
        names = recorded.loc[unnamed, "title"].str.split(" hacked:").str[0]
        recorded.loc[unnamed, "coin"] = [
            (links[0].coin if (links := linker.link(n)) else pd.NA) for n in names
        ]
    frame = dedupe(
        pd.concat([canonical_events(recorded), headline_events(news_items)], ignore_index=True)
    )
    status = status_table(results, day)
    meta = _metadata(
        frame.rename(columns={"title": "text", "coin": "coins"}), status, results, note
    )
    meta["kinds"] = dg.MetadataValue.json(frame["kind"].value_counts().to_dict())
    yield dg.Output(frame, output_name="events", metadata=meta)
    yield dg.Output(status, output_name="events_status", metadata={"rows": len(status)})
    yield status_check("events", status)
