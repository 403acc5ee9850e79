"""Live API payloads of news sources -> canonical posts (pure parsing, no network).

- CryptoPanic ``/posts/`` (developer API v2; v1 has the same ``results`` fields): ``id``,
  ``title``, ``published_at``, ``url``, ``domain`` / ``source.domain``, ``votes``.
- RSS 2.0 / Atom feeds as parsed by ``feedparser`` (entry ``id``/``link``, ``title``,
  ``published_parsed``/``updated_parsed``, ``author``).
"""

from __future__ import annotations

import calendar
from typing import Any

import pandas as pd

from crypto_assets.social.source import canonical_posts, empty_posts, url_id


def cryptopanic_posts(payload: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for item in payload.get("results") or []:
        source = item.get("source") or {}
        votes = item.get("votes") or {}
        url = item.get("url") or item.get("original_url")
        rows.append(
            {
                "source": "cryptopanic",
                "id": "cp" + str(item["id"]) if item.get("id") is not None else url_id(str(url)),
                "time": pd.Timestamp(item.get("published_at") or item.get("created_at")),
                "author": None,
                "text": str(item.get("title") or "").strip(),
                "url": url,
                "channel": source.get("domain") or item.get("domain"),
                "engagement": float(sum(v for v in votes.values() if isinstance(v, int | float))),
                "reach": None,
                "ref": url,
            }
        )
    frame = pd.DataFrame(rows)
    return canonical_posts(frame[frame["text"].str.len() > 0]) if rows else empty_posts()


def _entry_time(entry: Any) -> pd.Timestamp | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return pd.Timestamp(calendar.timegm(parsed), unit="s", tz="UTC")


def rss_posts(parsed: Any, feed_url: str) -> pd.DataFrame:
    """A ``feedparser`` result -> posts; entries without a date are left out (and counted by the
    caller): a headline that cannot be placed in time cannot be used as of a candle."""
    channel = (parsed.get("feed") or {}).get("title") or feed_url
    rows = []
    for entry in parsed.get("entries") or []:
        time = _entry_time(entry)
        link = entry.get("link")
        key = entry.get("id") or link
        title = str(entry.get("title") or "").strip()
        if time is None or not key or not title:
            continue
        rows.append(
            {
                "source": "rss",
                "id": url_id(str(key)),
                "time": time,
                "author": entry.get("author"),
                "text": title,
                "url": link,
                "channel": channel,
                "engagement": None,
                "reach": None,
                "ref": link or feed_url,
            }
        )
    return canonical_posts(pd.DataFrame(rows)) if rows else empty_posts()
