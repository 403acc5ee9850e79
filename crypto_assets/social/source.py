"""The text-source contract: what every social, news and event source returns.

Shaped like the market contract (``MarketSource`` / ``FetchResult`` / ``SourceUnavailable``):
a :class:`TextSource` Protocol with one fetch method, a :class:`TextFetchResult` holding a
canonical frame plus ONE status row (``crypto_assets.sources.SourceStatus``, the row every
source reports), ``as_of`` and a description, and :class:`TextSourceUnavailable` for a source
that cannot be used. A source without a key, or
without network, yields an honest status row (``no_key`` / ``unavailable`` / ``error``) and no
rows; it never invents posts. Replays of recorded real files report ``replay`` with the
recording's date as ``as_of``.

Guarantees every implementation keeps (the assets rely on them):
- rows are canonical (``POST_COLUMNS`` for posts and headlines, ``EVENT_COLUMNS`` for events),
  ``time`` is tz-aware UTC and inside ``[start, end)``;
- ``id`` is the source's own id where it has one, else a hash of the URL, else a hash of
  (source, time, text): the same item always gets the same id, so re-fetching deduplicates;
- ``ref`` says where the row came from (a URL, or ``file#row=N`` for a recording).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import pandas as pd

from crypto_assets.frames import utc
from crypto_assets.sources import SourceStatus

Status = Literal["ok", "no_key", "unavailable", "error", "replay"]  # = sources.STATUSES

# author: the public handle or an anonymised hash, null where the source has none;
# engagement: score / upvotes / votes / likes; reach: the author's audience (followers) where
# public; channel: subreddit, feed, Telegram/Discord channel, news site.
POST_COLUMNS = [
    "source",
    "id",
    "time",
    "author",
    "text",
    "url",
    "channel",
    "engagement",
    "reach",
    "ref",
]
EVENT_KINDS = (
    "hack",
    "unlock",
    "fork",
    "listing",
    "delisting",
    "regulatory",
    "partnership",
    "pump",
    "other",
)
EVENT_COLUMNS = ["source", "id", "time", "kind", "coin", "title", "amount_usd", "url", "ref"]


class TextSourceUnavailable(Exception):
    """The source cannot be used now; ``status`` says why in one word, the message in a line."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class TextFetchResult:
    frame: pd.DataFrame  # POST_COLUMNS or EVENT_COLUMNS, time in [start, end)
    status: SourceStatus  # its ``source`` is the source's short name (reddit, rss, ...)
    as_of: pd.Timestamp  # the attempt (live) or the recording's date (replay)
    source: str  # e.g. "reddit (public json, r/CryptoCurrency)" / "replay reddit_... .csv.gz"
    requests: int = 0  # HTTP requests made (0 for a replay)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status.usable


@runtime_checkable
class TextSource(Protocol):
    """Anything that can return canonical rows for a time window (live client or replay)."""

    name: str

    def describe(self) -> str: ...

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp) -> TextFetchResult: ...


# ---------------------------------------------------------------------------------- helpers
def utc_now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def stable_hash(*parts: object) -> str:
    """16 hex characters of sha256 over the parts: the id of an item without a source id."""
    key = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def url_id(url: str) -> str:
    """The id of an item known only by its URL (query and fragment kept: they name the item)."""
    return "u" + stable_hash(url.strip())


def _typed(frame: pd.DataFrame, columns: list[str], floats: tuple[str, ...]) -> pd.DataFrame:
    out = frame.reindex(columns=columns)
    for column in columns:
        if column == "time":
            out[column] = pd.to_datetime(out[column], utc=True).astype("datetime64[ns, UTC]")
        elif column in floats:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
        else:
            out[column] = out[column].astype("string")
    return out


def canonical_posts(frame: pd.DataFrame) -> pd.DataFrame:
    """POST_COLUMNS with fixed dtypes (strings, UTC times, float engagement/reach)."""
    return _typed(frame, POST_COLUMNS, ("engagement", "reach"))


def canonical_events(frame: pd.DataFrame) -> pd.DataFrame:
    """EVENT_COLUMNS with fixed dtypes; an unknown ``kind`` is an error, never a silent drop."""
    out = _typed(frame, EVENT_COLUMNS, ("amount_usd",))
    bad = sorted(set(out["kind"].dropna()) - set(EVENT_KINDS))
    if bad:
        raise ValueError(f"unknown event kind(s) {bad}; known: {EVENT_KINDS}")
    return out


def empty_posts() -> pd.DataFrame:
    return canonical_posts(pd.DataFrame(columns=POST_COLUMNS))


def empty_events() -> pd.DataFrame:
    return canonical_events(pd.DataFrame(columns=EVENT_COLUMNS))


def in_window(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows with ``start <= time < end`` (the contract's window rule)."""
    mask = (frame["time"] >= utc(start)) & (frame["time"] < utc(end))
    return frame.loc[mask].reset_index(drop=True)


def dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (source, id): the first seen wins (a re-fetch never overwrites it)."""
    return frame.drop_duplicates(["source", "id"], keep="first").reset_index(drop=True)


def unavailable_result(
    name: str, description: str, exc: TextSourceUnavailable, kind: str = "posts"
) -> TextFetchResult:
    """The honest answer of a source that could not be used: a status row and no rows."""
    now = utc_now()
    empty = empty_events() if kind == "events" else empty_posts()
    return TextFetchResult(
        empty, SourceStatus(name, exc.status, exc.reason, now, 0), now, description
    )


def fetch_or_status(
    source: TextSource, start: pd.Timestamp, end: pd.Timestamp, kind: str = "posts"
) -> TextFetchResult:
    """``source.fetch`` with every failure turned into a status row (never an exception, never
    invented rows): the asset keeps going with the other sources and reports this one."""
    try:
        return source.fetch(utc(start), utc(end))
    except TextSourceUnavailable as exc:
        return unavailable_result(source.name, source.describe(), exc, kind)
    except Exception as exc:  # a broken source never sinks the other sources
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        return unavailable_result(
            source.name, source.describe(), TextSourceUnavailable("error", reason), kind
        )
