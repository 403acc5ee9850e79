"""Parsers of the REAL recorded social formats into canonical posts (``POST_COLUMNS``).

Each parser reads one recorded format in place and keeps every row traceable: ``ref`` is
``<file>#row=<N>`` (0-based data row of the CSV) or ``<file>:<page>#message<id>`` for the
Telegram export. None of the CSV dumps carries a post id or an author, so ``id`` is a hash of
(source, time, text) and ``author`` is null there: nothing is made up to fill the gap.

The Telegram Desktop HTML export is read straight from its ``.tgz`` (no extraction). Telegram
Desktop writes the exporter's LOCAL time without a zone; the offset must be given. For the
recorded "OFFICIAL BUY & HOLD XRP" export it is UTC+1: at 14:05 in the file a member writes
"Ready for 8:30" (the pump was announced for 8:30 EST = 13:30 UTC) and the admins reopen the
chat at 14:11, which fits UTC+1 and contradicts UTC (see ``TELEGRAM_XRP_EXPORT_UTC_OFFSET``).
"""

from __future__ import annotations

import datetime as dt
import html
import re
import tarfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from crypto_assets.social.source import canonical_posts, stable_hash

TELEGRAM_XRP_EXPORT_UTC_OFFSET = "+01:00"


def _hashed_ids(source: str, times: pd.Series, texts: pd.Series) -> list[str]:
    return [
        stable_hash(source, pd.Timestamp(t).isoformat(), x)
        for t, x in zip(times, texts, strict=True)
    ]


def _finish(frame: pd.DataFrame, source: str, path: Path) -> pd.DataFrame:
    """Drop rows with no text or no time (counted by the caller), hash ids, canonical dtypes."""
    frame = frame.assign(source=source, text=frame["text"].astype(str).str.strip())
    frame["ref"] = [f"{path.name}#row={i}" for i in frame.index]
    frame = frame[frame["text"].str.len().gt(0) & frame["time"].notna()]
    if "id" not in frame:
        frame["id"] = _hashed_ids(source, frame["time"], frame["text"])
    return canonical_posts(frame.reset_index(drop=True))


def reddit_posts_csv(path: Path, channel: str = "r/CryptoCurrency") -> pd.DataFrame:
    """PRAW dump with columns time (unix s), title, score, num_comments (no id, no author)."""
    raw = pd.read_csv(path)
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(raw["time"], unit="s", utc=True),
            "text": raw["title"],
            "engagement": raw["score"],
            "channel": channel,
        }
    )
    return _finish(frame, "reddit", path)


def reddit_search_csv(path: Path, channel: str = "r/CryptoCurrency") -> pd.DataFrame:
    """PRAW search dump: title, text (body), created_utc, upvotes, num_comments, created_at."""
    raw = pd.read_csv(path)
    title = raw["title"].astype(str).str.strip()
    body = raw["text"].fillna("").astype(str).str.strip()
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(raw["created_utc"], unit="s", utc=True),
            "text": title.where(body.eq(""), title + ". " + body),
            "engagement": raw["upvotes"],
            "channel": channel,
        }
    )
    return _finish(frame, "reddit", path)


def tweets_csv(path: Path) -> pd.DataFrame:
    """#Bitcoin tweet dump: user_location, date (naive; Twitter's API reports UTC), text."""
    raw = pd.read_csv(path)
    frame = pd.DataFrame(
        {"time": pd.to_datetime(raw["date"], utc=True), "text": raw["text"], "channel": "#Bitcoin"}
    )
    return _finish(frame, "x", path)


# ------------------------------------------------------------------ Telegram Desktop export
class _ExportPage(HTMLParser):
    """Collects (message id, title-attribute time, from_name, text) of one export page.

    A "joined" message (same author as the previous one) has no from_name: the author carries
    over, as Telegram Desktop shows it. Service messages (joins, pins) are skipped.
    """

    def __init__(self, last_author: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.messages: list[dict[str, object]] = []
        self.last_author = last_author
        self._current: dict[str, object] | None = None
        self._field: str | None = None
        self._depth = 0
        self._buffer: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        classes = (attr.get("class") or "").split()
        if tag == "div" and "message" in classes and "default" in classes:
            self._flush_message()
            self._current = {"id": (attr.get("id") or "").removeprefix("message")}
        if self._current is None or tag not in ("div", "a", "span", "strong", "em", "code", "br"):
            return
        if tag == "br" and self._field:
            self._buffer.append("\n")
            return
        if self._field is not None and tag == "div":
            self._depth += 1
        elif tag == "div" and "date" in classes and "details" in classes:
            self._current["time"] = attr.get("title")
        elif tag == "div" and ("from_name" in classes or "text" in classes):
            self._field, self._depth, self._buffer = classes[0], 1, []
        elif tag == "div" and "forwarded" in classes:
            self._current["forwarded"] = True

    def handle_endtag(self, tag: str) -> None:
        if self._field is None or tag != "div":
            return
        self._depth -= 1
        if self._depth == 0 and self._current is not None:
            value = (
                " ".join("".join(self._buffer).split())
                if self._field == "from_name"
                else (
                    "\n".join(line.strip() for line in "".join(self._buffer).strip().splitlines())
                )
            )
            self._current.setdefault(self._field, value)
            self._field = None

    def handle_data(self, data: str) -> None:
        if self._field is not None:
            self._buffer.append(data)

    def _flush_message(self) -> None:
        if self._current is None:
            return
        author = self._current.get("from_name") or self.last_author
        self.last_author = author  # type: ignore[assignment]
        self._current["from_name"] = author
        self.messages.append(self._current)
        self._current = None

    def close(self) -> None:
        super().close()
        self._flush_message()


def _page_number(name: str) -> int:
    digits = re.findall(r"\d+", Path(name).name)
    return int(digits[0]) if digits else 0


def _export_pages(path: Path) -> Iterator[tuple[str, str]]:
    """(member name, html) of each messagesN.html in page order, read from the archive."""
    with tarfile.open(path, "r:*") as archive:
        members = [
            m
            for m in archive.getmembers()
            if m.isfile() and re.search(r"messages\d*\.html$", m.name)
        ]
        for member in sorted(members, key=lambda m: _page_number(m.name)):
            handle = archive.extractfile(member)
            if handle is not None:
                yield member.name, handle.read().decode("utf-8")


def _channel_title(page: str) -> str:
    match = re.search(r'<div class="page_header">.*?<div class="text bold">(.*?)</div>', page, re.S)
    return " ".join(html.unescape(match.group(1)).split()) if match else "telegram export"


def _fixed_offset(utc_offset: str) -> dt.timezone:
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", utc_offset.strip())
    if not match:
        raise ValueError(f"utc_offset must look like +01:00 or -05:00, got {utc_offset!r}")
    sign = 1 if match.group(1) == "+" else -1
    return dt.timezone(sign * dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))


def telegram_export_tgz(path: Path, utc_offset: str) -> pd.DataFrame:
    """All messages of a Telegram Desktop HTML export (.tgz of messagesN.html pages).

    ``utc_offset`` (e.g. "+01:00") is the exporter's local offset: the export has no zone.
    ``id`` is the channel title hash + Telegram's message id (unique within a chat).
    """
    rows: list[dict[str, object]] = []
    author: str | None = None
    channel = None
    for name, page in _export_pages(path):
        channel = channel or _channel_title(page)
        parser = _ExportPage(author)
        parser.feed(page)
        parser.close()
        author = parser.last_author
        for message in parser.messages:
            rows.append({**message, "page": Path(name).name})
    frame = pd.DataFrame(rows, columns=["id", "time", "from_name", "text", "page"])
    local = pd.to_datetime(frame["time"], format="%d.%m.%Y %H:%M:%S", errors="coerce")
    chat = stable_hash(channel or path.name)[:8]
    out = pd.DataFrame(
        {
            "time": local.dt.tz_localize(_fixed_offset(utc_offset)),
            "text": frame["text"].fillna(""),
            "author": frame["from_name"],
            "channel": channel,
            "id": "tg" + chat + ":" + frame["id"].astype(str),
            "ref": [
                f"{path.name}:{p}#message{i}"
                for p, i in zip(frame["page"], frame["id"], strict=True)
            ],
        }
    )
    out["time"] = out["time"].dt.tz_convert("UTC")
    out = out[out["text"].str.strip().str.len().gt(0) & out["time"].notna()]
    out = out.assign(source="telegram", text=out["text"].str.strip())
    return canonical_posts(out.drop_duplicates("id").reset_index(drop=True))
