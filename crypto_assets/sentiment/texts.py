"""Loaders of the real recorded crypto texts into one (source, id, time, text) frame.

Why one frame: the scorer and the ``text_sentiment`` asset must not care where a text came from,
but every score must still trace back to its source row. None of the recorded files carries a
post id, so the id is a stable hash of (source, time, text): the same row always gets the same id,
and a row scraped twice (same source, time and text) collapses to one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from crypto_assets.settings import SHARED_DATA_DIR

TEXT_COLUMNS = ["source", "id", "time", "text"]

# source label -> file (relative to the shared data dir)
SOURCE_FILES: dict[str, str] = {
    "reddit_cryptocurrency": "social/reddit_rCryptoCurrency_posts_2025-04.csv.gz",
    "reddit_bitcoin_search": "social/reddit_rCryptoCurrency_bitcoin_search_2019-2024.csv.gz",
    "twitter_bitcoin_2021": "social/crypto_tweets_2021.csv.gz",
    "cryptopanic_news": "news/cryptopanic_news_feb2025.csv.gz",
}

_CRYPTOPANIC_TIME = re.compile(r"^\w{3} (\w{3} \d{2} \d{4} \d{2}:\d{2}:\d{2}) GMT([+-]\d{4})")


def stable_id(source: str, time: pd.Timestamp | str, text: str) -> str:
    """16-hex id from source, UTC time and text: stable across runs and machines."""
    key = f"{source}\x1f{pd.Timestamp(time).isoformat()}\x1f{text}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _finish(source: str, time: pd.Series, text: pd.Series) -> pd.DataFrame:
    text = text.astype(str).str.strip()
    frame = pd.DataFrame({"source": source, "time": time, "text": text})
    frame = frame[(frame["text"].str.len() > 0) & frame["time"].notna()]
    pairs = zip(frame["time"], frame["text"], strict=True)
    frame["id"] = [stable_id(source, t, x) for t, x in pairs]
    frame = frame.drop_duplicates("id").reset_index(drop=True)
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[ns, UTC]")
    return frame[TEXT_COLUMNS]


def _reddit_posts(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path)
    return _finish(
        "reddit_cryptocurrency", pd.to_datetime(raw["time"], unit="s", utc=True), raw["title"]
    )


def _reddit_search(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path)
    body = raw["text"].fillna("").astype(str).str.strip()
    # Title first: the scorer truncates, and the title carries the post's claim.
    text = (
        raw["title"]
        .astype(str)
        .str.strip()
        .where(body.eq(""), raw["title"].astype(str).str.strip() + ". " + body)
    )
    return _finish(
        "reddit_bitcoin_search", pd.to_datetime(raw["created_utc"], unit="s", utc=True), text
    )


def _tweets(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path)
    # The dump has naive timestamps; Twitter's API reports UTC, so they are read as UTC.
    return _finish("twitter_bitcoin_2021", pd.to_datetime(raw["date"], utc=True), raw["text"])


def parse_cryptopanic_time(value: str) -> pd.Timestamp:
    """'Fri Feb 07 2025 08:29:27 GMT+0100 (heure ...)' -> UTC timestamp (NaT if unparseable)."""
    match = _CRYPTOPANIC_TIME.match(str(value))
    if not match:
        return pd.NaT
    stamp = pd.to_datetime(f"{match.group(1)} {match.group(2)}", format="%b %d %Y %H:%M:%S %z")
    return stamp.tz_convert("UTC")


def _news(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path)
    times = pd.to_datetime(raw["Time"].map(parse_cryptopanic_time), utc=True)
    return _finish("cryptopanic_news", times, raw["Title"])


_LOADERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "reddit_cryptocurrency": _reddit_posts,
    "reddit_bitcoin_search": _reddit_search,
    "twitter_bitcoin_2021": _tweets,
    "cryptopanic_news": _news,
}


def load_source(source: str, data_dir: Path | None = None) -> pd.DataFrame:
    """One source's texts; a missing file is an error naming the file, never an empty frame."""
    if source not in _LOADERS:
        raise ValueError(f"unknown text source {source!r}; known: {sorted(_LOADERS)}")
    path = (data_dir or SHARED_DATA_DIR) / SOURCE_FILES[source]
    if not path.is_file():
        raise FileNotFoundError(f"recorded texts for {source!r} not found at {path}")
    return _LOADERS[source](path)


def load_texts(
    sources: Iterable[str] | None = None,
    data_dir: Path | None = None,
    limit_per_source: int | None = None,
) -> pd.DataFrame:
    """All real social/news texts as (source, id, time, text), newest first within a source.

    ``limit_per_source`` keeps the newest rows of each source (tests and quick runs).
    """
    frames = []
    for source in sources or SOURCE_FILES:
        frame = load_source(source, data_dir).sort_values("time", ascending=False, kind="stable")
        if limit_per_source is not None:
            frame = frame.head(limit_per_source)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[TEXT_COLUMNS]
