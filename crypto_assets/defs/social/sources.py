"""Source assets of the text domain: ``social_posts``, ``news_items`` and ``events`` (daily).

Each is a multi-asset with a ``*_status`` table beside it: one row per source per day (day,
source, status ok | replay | no_key | unavailable | error, reason, as_of, rows: the standard
``crypto_assets.sources.SourceStatus`` row plus the day, so the history of every source's
health stays queryable), and one WARN check per source named ``<source>_status`` (e.g.
``reddit_status``; ``crypto_assets.defs.checks.source_status_check``, whose ``status``
metadata is what alerting reads). A source without a key or network therefore shows up as a
status row and a failed check, never as invented posts.

A run over several days fetches each source once for the whole window (a year's backfill is
one listing walk, not 365), then links each day's posts to the coins of that day's universe.
"""

import dataclasses
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from crypto_assets.defs.checks import source_status_check
from crypto_assets.defs.partitions import Partitions, partition_days
from crypto_assets.frames import utc, utc_columns
from crypto_assets.news.classify import classify_headlines
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.social.linking import CoinLinker, explode_coins, link_frame
from crypto_assets.social.source import (
    TextFetchResult,
    TextSource,
    canonical_events,
    canonical_posts,
    dedupe,
    empty_events,
    empty_posts,
    fetch_or_status,
)
from crypto_assets.sources import status_frame

SOCIAL_GROUP = "social"
NEWS_GROUP = "news"
UNIVERSE_TABLE = "exchange_markets"  # the market asset whose in_universe rows define the coins
UNIVERSE_LOOKBACK = pd.Timedelta(days=30)  # the newest universe at most this old links a day
SOCIAL_KEYS = ("reddit_source", "telegram_source", "discord_source", "x_source")
NEWS_KEYS = ("rss_source", "cryptopanic_source")
EVENT_KEYS = ("hacks_source", "unlocks_source", "pump_events_source")
TEXT = dg.ResourceParam[TextSource]


def status_check_name(key: str) -> str:
    """``reddit_source`` -> ``reddit_status``: the per-source check of an asset."""
    return key.removesuffix("_source") + "_status"


class Universes:
    """The linker of each day: the newest stored universe on or before it (at most
    ``UNIVERSE_LOOKBACK`` old), one linker per distinct universe."""

    def __init__(self, duckdb: DuckDBStore, days: list[pd.Timestamp]) -> None:
        markets = duckdb.read_window(
            UNIVERSE_TABLE,
            "day",
            days[0] - UNIVERSE_LOOKBACK,
            days[-1] + pd.Timedelta(days=1),
            "in_universe",
        )
        self._by_day = (
            {
                utc(d): sorted(g["base"].dropna().astype(str).unique())
                for d, g in markets.groupby("day")
            }
            if len(markets)
            else {}
        )
        self._linkers: dict[tuple[str, ...], CoinLinker] = {}

    def of(self, day: pd.Timestamp) -> tuple[CoinLinker, str]:
        known = [d for d in self._by_day if day - UNIVERSE_LOOKBACK <= d <= day]
        if not known:
            return CoinLinker.for_universe([]), f"no {UNIVERSE_TABLE} stored up to {day:%Y-%m-%d}"
        newest = max(known)
        bases = tuple(self._by_day[newest])
        if bases not in self._linkers:
            self._linkers[bases] = CoinLinker.for_universe(bases)
        return self._linkers[bases], f"{len(bases)} coins of {newest:%Y-%m-%d}"


def by_day(frame: pd.DataFrame, column: str = "time") -> dict[pd.Timestamp, pd.DataFrame]:
    """The rows of each UTC day that has any (one pass, not one filter per day)."""
    if frame.empty:
        return {}
    days = pd.to_datetime(frame[column], utc=True).dt.floor("1D")
    return {utc(day): rows for day, rows in frame.groupby(days, sort=True)}


def fetch_all(
    sources: dict[str, TextSource], start: pd.Timestamp, end: pd.Timestamp, kind: str
) -> dict[str, TextFetchResult]:
    return {key: fetch_or_status(source, start, end, kind) for key, source in sources.items()}


def status_table(results: dict[str, TextFetchResult], days: list[pd.Timestamp]) -> pd.DataFrame:
    """One status row per source per day (rows counted on that day)."""
    counts = {
        key: {day: len(rows) for day, rows in by_day(r.frame).items()} for key, r in results.items()
    }
    rows = [
        dataclasses.replace(r.status, rows=counts[key].get(day, 0))
        for day in days
        for key, r in results.items()
    ]
    frame = status_frame(rows)
    frame.insert(0, "day", [day for day in days for _ in results])
    return utc_columns(frame, "day")


def status_checks(results: dict[str, TextFetchResult]) -> Iterator[dg.AssetCheckResult]:
    for key, result in results.items():
        yield source_status_check(status_check_name(key), result.status)


def _metadata(
    frame: pd.DataFrame, status: pd.DataFrame, results: dict[str, TextFetchResult], universe: str
) -> dict:
    linked = frame["coins"].fillna("").str.len().gt(0) if "coins" in frame else pd.Series()
    latest = status[status["day"] == status["day"].max()]
    return {
        "rows": len(frame),
        "sources": dg.MetadataValue.md(
            latest[["source", "status", "rows", "reason"]].to_markdown(index=False)
        ),
        "status": ", ".join(f"{r.status.source}:{r.status.status}" for r in results.values()),
        "coverage": dg.MetadataValue.float(float(linked.mean()) if len(linked) else 0.0),
        "as_of": str(max(r.as_of for r in results.values())),
        "universe": universe,
        "preview": dg.MetadataValue.md(
            frame.head(10)[[c for c in ("time", "source", "coins", "text") if c in frame]]
            .assign(text=lambda f: f["text"].str.slice(0, 80))
            .to_markdown(index=False)
            if len(frame)
            else "(no rows)"
        ),
    }


def linked_posts(
    results: dict[str, TextFetchResult],
    universes: Universes,
    days: list[pd.Timestamp],
    channel_context: bool,
) -> tuple[pd.DataFrame, str]:
    """The window's posts, deduplicated, each day linked with that day's universe; and which
    universe the last day used."""
    frames = [r.frame for r in results.values() if len(r.frame)]
    posts = dedupe(pd.concat(frames, ignore_index=True)) if frames else empty_posts()
    parts = []
    for day, rows in by_day(posts).items():
        linker, _ = universes.of(day)
        parts.append(link_frame(rows, linker, channel_context=channel_context))
    if not parts:  # the empty frame's shape
        parts.append(link_frame(posts.iloc[:0], CoinLinker.for_universe([])))
    linked = pd.concat(parts, ignore_index=True)
    out = canonical_posts(linked).assign(
        coins=linked["coins"].astype("string").to_numpy(),
        link_methods=linked["link_methods"].astype("string").to_numpy(),
    )
    return out, universes.of(days[-1])[1]


DESCRIPTIONS = {
    "social_posts": "Reddit, Telegram, Discord and X posts of the day, deduplicated by source id "
    "or URL hash, each linked to the coins of the day's universe (column coins).",
    "news_items": "RSS/Atom and CryptoPanic headlines of the day, deduplicated, linked to coins, "
    "with the event class of the headline rules (event_kind).",
    "events": "Dated events per coin: hacks (DefiLlama), token unlocks, announced pumps "
    "(research record) and classified headlines.",
}


def _posts(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBStore,
    name: str,
    sources: dict[str, TextSource],
) -> Iterator:
    window = context.partition_time_window
    days = partition_days(window)
    results = fetch_all(sources, utc(window.start), utc(window.end), "posts")
    posts, universe = linked_posts(
        results, Universes(duckdb, days), days, channel_context=name == "social_posts"
    )
    if name == "news_items":
        posts["event_kind"] = pd.array(
            classify_headlines(posts["text"]) if len(posts) else [], dtype="string"
        )
    status = status_table(results, days)
    yield dg.Output(posts, output_name=name, metadata=_metadata(posts, status, results, universe))
    yield dg.Output(status, output_name=f"{name}_status", metadata={"rows": len(status)})
    yield from status_checks(results)


def social_posts(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBStore,
    reddit_source: TEXT,
    telegram_source: TEXT,
    discord_source: TEXT,
    x_source: TEXT,
) -> Iterator:
    """Posts of Reddit, Telegram, Discord and X, linked to coins, with per-source status."""
    yield from _posts(
        context,
        duckdb,
        "social_posts",
        {
            "reddit_source": reddit_source,
            "telegram_source": telegram_source,
            "discord_source": discord_source,
            "x_source": x_source,
        },
    )


def news_items(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBStore,
    rss_source: TEXT,
    cryptopanic_source: TEXT,
) -> Iterator:
    """Headlines of RSS/Atom feeds and CryptoPanic, linked to coins and classified by event."""
    yield from _posts(
        context,
        duckdb,
        "news_items",
        {"rss_source": rss_source, "cryptopanic_source": cryptopanic_source},
    )


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


def _name_hacked_coins(recorded: pd.DataFrame, universes: Universes) -> pd.DataFrame:
    """Hacks name a protocol, not a ticker: link the coin from the protocol's name with the
    universe of the hack's day."""
    unnamed = recorded["coin"].isna()
    if not unnamed.any():
        return recorded
    out = recorded.copy()
    for index in out.index[unnamed]:
        linker, _ = universes.of(utc(out.at[index, "time"]).floor("1D"))
        links = linker.link(str(out.at[index, "title"]).split(" hacked:")[0])
        out.at[index, "coin"] = links[0].coin if links else pd.NA
    return out


def events(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBStore,
    hacks_source: TEXT,
    unlocks_source: TEXT,
    pump_events_source: TEXT,
) -> Iterator:
    """Dated events per coin: hacks (DefiLlama), token unlocks, announced pumps (research
    record) and classified headlines (listing, delisting, fork, regulatory, partnership...)."""
    window = context.partition_time_window
    days = partition_days(window)
    start, end = utc(window.start), utc(window.end)
    news = duckdb.read_window("news_items", "time", start, end)
    results = fetch_all(
        {
            "hacks_source": hacks_source,
            "unlocks_source": unlocks_source,
            "pump_events_source": pump_events_source,
        },
        start,
        end,
        "events",
    )
    universes = Universes(duckdb, days)
    frames = [r.frame for r in results.values() if len(r.frame)]
    recorded = pd.concat(frames, ignore_index=True) if frames else empty_events()
    frame = dedupe(
        pd.concat(
            [
                canonical_events(_name_hacked_coins(recorded, universes)),
                headline_events(news),
            ],
            ignore_index=True,
        )
    )
    status = status_table(results, days)
    meta = _metadata(
        frame.rename(columns={"title": "text", "coin": "coins"}),
        status,
        results,
        universes.of(days[-1])[1],
    )
    meta["kinds"] = dg.MetadataValue.json(frame["kind"].value_counts().to_dict())
    yield dg.Output(frame, output_name="events", metadata=meta)
    yield dg.Output(status, output_name="events_status", metadata={"rows": len(status)})
    yield from status_checks(results)


def _outs(name: str) -> dict[str, dg.AssetOut]:
    return {
        name: dg.AssetOut(
            metadata={"partition_expr": "time"}, kinds={"duckdb"}, description=DESCRIPTIONS[name]
        ),
        f"{name}_status": dg.AssetOut(
            metadata={"partition_expr": "day"},
            kinds={"duckdb"},
            description=f"One row per source of {name} per day: status, reason, as_of, rows.",
        ),
    }


def build_source_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """The three source multi-assets on the code location's daily partitions."""
    universe = dg.AssetDep(
        UNIVERSE_TABLE,
        partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=-UNIVERSE_LOOKBACK.days, allow_nonexistent_upstream_partitions=True
        ),
    )
    specs = [
        ("social_posts", social_posts, SOCIAL_GROUP, SOCIAL_KEYS, [universe]),
        ("news_items", news_items, NEWS_GROUP, NEWS_KEYS, [universe]),
        ("events", events, NEWS_GROUP, EVENT_KEYS, [universe, dg.AssetDep("news_items")]),
    ]
    return [
        dg.multi_asset(
            name=name,
            group_name=group,
            partitions_def=partitions.daily,
            backfill_policy=dg.BackfillPolicy.single_run(),
            outs=_outs(name),
            deps=deps,
            check_specs=[
                dg.AssetCheckSpec(
                    status_check_name(key),
                    asset=name,
                    description=f"{key.removesuffix('_source')} delivered (ok) or replayed a "
                    "recording (replay); WARN with the reason otherwise.",
                )
                for key in keys
            ],
        )(body)
        for name, body, group, keys, deps in specs
    ]
