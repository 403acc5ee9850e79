"""Live API payloads of social sources -> canonical posts (pure parsing, no network).

Field names follow each API's documentation: Reddit listings (``data.children[].data``), PRAW
``Submission`` objects, X API v2 ``/2/tweets/search/recent`` (``data`` + ``includes.users``),
Discord ``GET /channels/{id}/messages``, Telethon ``Message`` objects. Every row keeps the
source's own id and a URL where the source has one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from crypto_assets.social.source import canonical_posts, empty_posts

DISCORD_EPOCH_MS = 1_420_070_400_000


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return canonical_posts(pd.DataFrame(rows)) if rows else empty_posts()


def reddit_post_row(data: dict[str, Any]) -> dict[str, Any]:
    """One Reddit link (a listing child's ``data`` or PRAW's submission attributes)."""
    title = str(data.get("title") or "").strip()
    body = str(data.get("selftext") or "").strip()
    author = data.get("author")
    permalink = data.get("permalink")
    return {
        "source": "reddit",
        "id": "t3_" + str(data.get("id")),
        "time": pd.to_datetime(float(data["created_utc"]), unit="s", utc=True),
        "author": None if author in (None, "[deleted]") else str(author),
        "text": f"{title}. {body}" if body else title,
        "url": f"https://www.reddit.com{permalink}" if permalink else data.get("url"),
        "channel": "r/" + str(data.get("subreddit") or ""),
        "engagement": data.get("score"),
        "reach": None,
        "ref": permalink or data.get("url"),
    }


def reddit_listing_posts(listing: dict[str, Any]) -> pd.DataFrame:
    """A ``/r/<sub>/new.json`` listing page -> posts (stickied and removed posts kept: they are
    real posts; deduplication is by id)."""
    children = (listing.get("data") or {}).get("children") or []
    rows = [reddit_post_row(c["data"]) for c in children if c.get("kind") == "t3" and c.get("data")]
    return _frame(rows)


def praw_submissions_posts(submissions: Iterable[Any]) -> pd.DataFrame:
    """PRAW ``Submission`` objects -> posts (attributes read as PRAW exposes them)."""
    rows = []
    for s in submissions:
        rows.append(
            reddit_post_row(
                {
                    "id": s.id,
                    "title": s.title,
                    "selftext": getattr(s, "selftext", ""),
                    "created_utc": s.created_utc,
                    "author": getattr(getattr(s, "author", None), "name", None),
                    "permalink": getattr(s, "permalink", None),
                    "subreddit": str(getattr(s, "subreddit", "")),
                    "score": getattr(s, "score", None),
                }
            )
        )
    return _frame(rows)


def x_search_posts(payload: dict[str, Any]) -> pd.DataFrame:
    """An X API v2 recent-search page -> posts; reach = the author's followers."""
    users = {u["id"]: u for u in (payload.get("includes") or {}).get("users", [])}
    rows = []
    for tweet in payload.get("data") or []:
        user = users.get(tweet.get("author_id"), {})
        metrics = tweet.get("public_metrics") or {}
        handle = user.get("username")
        rows.append(
            {
                "source": "x",
                "id": "tw" + str(tweet["id"]),
                "time": pd.Timestamp(tweet["created_at"]),
                "author": handle or tweet.get("author_id"),
                "text": tweet.get("text", ""),
                "url": f"https://x.com/{handle or 'i'}/status/{tweet['id']}",
                "channel": "x search",
                "engagement": float(metrics.get("like_count", 0) + metrics.get("retweet_count", 0)),
                "reach": (user.get("public_metrics") or {}).get("followers_count"),
                "ref": f"https://x.com/i/status/{tweet['id']}",
            }
        )
    return _frame(rows)


def snowflake_at(stamp: pd.Timestamp) -> int:
    """The smallest Discord snowflake id created at ``stamp`` (for ``before=`` pagination)."""
    return (int(stamp.value // 1_000_000) - DISCORD_EPOCH_MS) << 22


def discord_messages_posts(messages: list[dict[str, Any]], channel: str) -> pd.DataFrame:
    """Discord channel messages -> posts (empty ``content`` skipped: without the message
    content intent a bot sees only messages that mention it)."""
    rows = []
    for m in messages:
        content = str(m.get("content") or "").strip()
        if not content:
            continue
        author = m.get("author") or {}
        rows.append(
            {
                "source": "discord",
                "id": "dc" + str(m["id"]),
                "time": pd.Timestamp(m["timestamp"]),
                "author": author.get("username") or author.get("id"),
                "text": content,
                "url": f"https://discord.com/channels/@me/{m.get('channel_id', channel)}/{m['id']}",
                "channel": channel,
                "engagement": float(sum(r.get("count", 0) for r in m.get("reactions") or [])),
                "reach": None,
                "ref": f"discord:{m.get('channel_id', channel)}/{m['id']}",
            }
        )
    return _frame(rows)


def telegram_messages_posts(messages: Iterable[Any], channel: str) -> pd.DataFrame:
    """Telethon ``Message`` objects -> posts; ``engagement`` = views (channels publish them)."""
    rows = []
    for m in messages:
        text = str(getattr(m, "message", "") or "").strip()
        if not text or getattr(m, "date", None) is None:
            continue
        sender = getattr(m, "post_author", None) or getattr(m, "sender_id", None)
        chat = getattr(m, "chat_id", None) or channel
        rows.append(
            {
                "source": "telegram",
                "id": f"tg{chat}:{m.id}",
                "time": pd.Timestamp(m.date),
                "author": None if sender is None else str(sender),
                "text": text,
                "url": f"https://t.me/{channel.lstrip('@')}/{m.id}",
                "channel": channel,
                "engagement": getattr(m, "views", None),
                "reach": None,
                "ref": f"https://t.me/{channel.lstrip('@')}/{m.id}",
            }
        )
    return _frame(rows)
