"""Text, news and event sources as Dagster resources: live clients and replays of recordings.

Every class implements ``crypto_assets.social.source.TextSource`` (``name``, ``describe()``,
``fetch(start, end) -> TextFetchResult``). A missing key gives status ``no_key`` and no rows;
no network gives ``unavailable``; a replay gives ``replay`` with the recording's date. Secrets
are plain ``str | None`` fields that definitions.py fills from ``dg.EnvVar`` (never logged:
they appear in no description, status reason or metadata).

Live clients: Reddit (PRAW with the user's app keys; the public JSON listing without keys),
RSS/Atom (feedparser over a configurable feed list), CryptoPanic (API key), Telegram public
channels (Telethon; api id/hash + a saved session string), Discord (bot token, REST), X API v2
recent search (bearer token), DefiLlama hacks (public), token unlocks (a user-provided file).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal, TypeVar

import dagster as dg
import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from crypto_assets.frames import utc
from crypto_assets.news import payloads as news_payloads
from crypto_assets.news import records as news_records
from crypto_assets.resources.text_http import PoliteHttp
from crypto_assets.settings import ENV_PREFIX, Settings
from crypto_assets.social import payloads, records
from crypto_assets.social.source import (
    TextFetchResult,
    TextSourceUnavailable,
    canonical_events,
    dedupe,
    empty_posts,
    in_window,
    utc_now,
)
from crypto_assets.sources import SourceStatus

T = TypeVar("T")
MAX_PAGES = 50
DEFAULT_FEEDS = [
    "https://www.coindesk.com/arc/outboundfeeds/rss/",
    "https://cointelegraph.com/rss",
    "https://decrypt.co/feed",
    "https://www.theblock.co/rss.xml",
    "https://bitcoinmagazine.com/.rss/full/",
]


def _result(
    name: str,
    describe: str,
    frame: pd.DataFrame,
    start,
    end,
    http: PoliteHttp | None,
    status: str = "ok",
    reason: str = "",
    as_of: pd.Timestamp | None = None,
) -> TextFetchResult:
    """The window's deduplicated rows with one status row (live: as_of = now)."""
    frame = dedupe(in_window(frame, start, end)) if len(frame) else frame
    stamp = as_of if as_of is not None else utc_now()
    return TextFetchResult(
        frame,
        SourceStatus(name, status, reason or f"{len(frame)} rows", stamp, len(frame)),
        stamp,
        describe,
        http.requests if http else 0,
    )


def _run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


class _HttpSource(ConfigurableResource):
    """Shared knobs of the HTTP clients (rate limit as the minimum spacing of requests)."""

    min_interval_s: float = 1.0
    max_retries: int = 3
    backoff_base_s: float = 1.0
    timeout_s: float = 20.0
    max_wait_s: float = 120.0

    _http: PoliteHttp | None = PrivateAttr(default=None)

    def http(self) -> PoliteHttp:
        if self._http is None:
            self._http = PoliteHttp(
                self.min_interval_s,
                self.max_retries,
                self.backoff_base_s,
                self.timeout_s,
                self.max_wait_s,
            )
        return self._http


# ----------------------------------------------------------------------------------- Reddit
class RedditSource(_HttpSource):
    """New posts of subreddits: PRAW (OAuth, ~100 requests/min) with the user's app keys,
    else Reddit's public JSON listing (keyless, ~10 requests/min: hence 6 s spacing)."""

    name: str = "reddit"
    subreddits: list[str] = Field(default_factory=lambda: ["CryptoCurrency"])
    client_id: str | None = None
    client_secret: str | None = None
    user_agent: str = "crypto_assets/0.1 (text signals)"
    public_json: bool = True
    public_url: str = "https://www.reddit.com"
    oauth_url: str = "https://oauth.reddit.com"
    min_interval_s: float = 6.0

    def describe(self) -> str:
        how = "praw (app keys)" if self.client_id else "public json (keyless)"
        return f"reddit {how} r/{'+'.join(self.subreddits)}"

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp) -> TextFetchResult:
        start, end = utc(start), utc(end)
        if self.client_id and self.client_secret:
            frame = self._praw(start)
        elif self.public_json:
            frame = self._public(start)
        else:
            raise TextSourceUnavailable(
                "no_key", "no Reddit app keys and the public listing is off"
            )
        return _result(self.name, self.describe(), frame, start, end, self.http())

    def _praw(self, start: pd.Timestamp) -> pd.DataFrame:
        import praw
        import prawcore

        reddit = praw.Reddit(
            client_id=self.client_id,
            client_secret=self.client_secret,
            user_agent=self.user_agent,
            oauth_url=self.oauth_url,
            reddit_url=self.public_url,
            check_for_updates=False,
            check_for_async=False,
            ratelimit_seconds=int(self.max_wait_s),
        )
        frames = []
        try:
            for sub in self.subreddits:
                newest = reddit.subreddit(sub).new(limit=None)
                kept = []
                for submission in newest:
                    if submission.created_utc < start.timestamp():
                        break
                    kept.append(submission)
                frames.append(payloads.praw_submissions_posts(kept))
        except prawcore.exceptions.ResponseException as exc:
            status = "no_key" if exc.response.status_code in (401, 403) else "error"
            raise TextSourceUnavailable(
                status, f"reddit answered HTTP {exc.response.status_code}"
            ) from exc
        except prawcore.exceptions.OAuthException as exc:
            raise TextSourceUnavailable(
                "no_key", f"reddit refused the app keys ({exc.error})"
            ) from exc
        except prawcore.exceptions.RequestException as exc:
            raise TextSourceUnavailable(
                "unavailable", f"reddit cannot be reached ({type(exc.original_exception).__name__})"
            ) from exc
        return pd.concat(frames, ignore_index=True) if frames else empty_posts()

    def _public(self, start: pd.Timestamp) -> pd.DataFrame:
        http, frames = self.http(), []
        for sub in self.subreddits:
            after = None
            for _ in range(MAX_PAGES):
                params = {"limit": 100, "raw_json": 1, **({"after": after} if after else {})}
                listing = http.get_json(
                    f"{self.public_url.rstrip('/')}/r/{sub}/new.json", params=params
                )
                page = payloads.reddit_listing_posts(listing)
                frames.append(page)
                after = (listing.get("data") or {}).get("after")
                if not after or page.empty or page["time"].min() < start:
                    break
        return pd.concat(frames, ignore_index=True) if frames else empty_posts()


# -------------------------------------------------------------------------------------- RSS
class RssSource(_HttpSource):
    """Headlines of a configurable list of RSS/Atom feeds (feedparser)."""

    name: str = "rss"
    feeds: list[str] = Field(default_factory=lambda: list(DEFAULT_FEEDS))

    def describe(self) -> str:
        return f"rss ({len(self.feeds)} feeds)"

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp) -> TextFetchResult:
        import feedparser

        start, end = utc(start), utc(end)
        if not self.feeds:
            raise TextSourceUnavailable("no_key", "no RSS feeds configured")
        frames, failed = [], []
        for url in self.feeds:
            try:
                parsed = feedparser.parse(self.http().get_bytes(url))
            except TextSourceUnavailable as exc:
                failed.append(f"{url}: {exc.reason}")
                continue
            if parsed.get("bozo") and not parsed.get("entries"):
                failed.append(f"{url}: not a feed ({type(parsed.get('bozo_exception')).__name__})")
                continue
            frames.append(news_payloads.rss_posts(parsed, url))
        if not frames:
            raise TextSourceUnavailable("unavailable", "; ".join(failed)[:500])
        reason = f"{len(frames)}/{len(self.feeds)} feeds" + (
            f"; failed: {'; '.join(failed)}"[:400] if failed else ""
        )
        return _result(
            self.name,
            self.describe(),
            pd.concat(frames, ignore_index=True),
            start,
            end,
            self.http(),
            reason=reason,
        )


# ------------------------------------------------------------------------------ CryptoPanic
class CryptoPanicSource(_HttpSource):
    """CryptoPanic posts (developer API; ``auth_token`` required), newest first, paged."""

    name: str = "cryptopanic"
    api_key: str | None = None
    api_url: str = "https://cryptopanic.com/api/developer/v2"
    kind: str = "news"
    max_pages: int = 10

    def describe(self) -> str:
        return f"cryptopanic api ({self.kind})"

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp) -> TextFetchResult:
        start, end = utc(start), utc(end)
        if not self.api_key:
            raise TextSourceUnavailable(
                "no_key", "no CryptoPanic API key (CRYPTO_ASSETS_CRYPTOPANIC_API_KEY)"
            )
        http, frames = self.http(), []
        url: str | None = f"{self.api_url.rstrip('/')}/posts/"
        params: dict[str, Any] | None = {
            "auth_token": self.api_key,
            "public": "true",
            "kind": self.kind,
        }
        for _ in range(self.max_pages):
            payload = http.get_json(url, params=params)  # type: ignore[arg-type]
            page = news_payloads.cryptopanic_posts(payload)
            frames.append(page)
            url, params = payload.get("next"), None  # `next` carries the query (token included)
            if not url or page.empty or page["time"].min() < start:
                break
        return _result(
            self.name, self.describe(), pd.concat(frames, ignore_index=True), start, end, http
        )


# ---------------------------------------------------------------------------------- Discord
class DiscordSource(_HttpSource):
    """Messages of Discord channels through the REST API with a bot token (the bot must be in
    the server; message text needs the Message Content intent)."""

    name: str = "discord"
    bot_token: str | None = None
    channel_ids: list[str] = Field(default_factory=list)
    api_url: str = "https://discord.com/api/v10"
    max_pages: int = 20

    def describe(self) -> str:
        return f"discord ({len(self.channel_ids)} channels)"

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp) -> TextFetchResult:
        start, end = utc(start), utc(end)
        if not self.bot_token:
            raise TextSourceUnavailable(
                "no_key", "no Discord bot token (CRYPTO_ASSETS_DISCORD_BOT_TOKEN)"
            )
        if not self.channel_ids:
            raise TextSourceUnavailable("no_key", "no Discord channel ids configured")
        http, frames = self.http(), []
        headers = {"Authorization": f"Bot {self.bot_token}"}
        for channel in self.channel_ids:
            before = payloads.snowflake_at(end)
            for _ in range(self.max_pages):
                url = f"{self.api_url.rstrip('/')}/channels/{channel}/messages"
                page = http.get_json(url, params={"limit": 100, "before": before}, headers=headers)
                if not page:
                    break
                frames.append(payloads.discord_messages_posts(page, channel))
                before = min(int(m["id"]) for m in page)
                if min(pd.Timestamp(m["timestamp"]) for m in page) < start:
                    break
        frame = pd.concat(frames, ignore_index=True) if frames else empty_posts()
        return _result(self.name, self.describe(), frame, start, end, http)


# ---------------------------------------------------------------------------------------- X
class XSource(_HttpSource):
    """X API v2 recent search (bearer token). Recent search covers the last 7 days only."""

    name: str = "x"
    bearer_token: str | None = None
    query: str = "(bitcoin OR crypto OR $BTC OR $ETH) lang:en -is:retweet"
    api_url: str = "https://api.twitter.com/2"
    max_pages: int = 10
    now: str | None = None  # frozen clock (tests)

    def describe(self) -> str:
        return "x api v2 recent search"

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp) -> TextFetchResult:
        start, end = utc(start), utc(end)
        if not self.bearer_token:
            raise TextSourceUnavailable(
                "no_key", "no X bearer token (CRYPTO_ASSETS_X_BEARER_TOKEN)"
            )
        now = utc(self.now) if self.now else utc_now()
        earliest = now - pd.Timedelta(days=7) + pd.Timedelta(minutes=1)
        if end <= earliest:
            raise TextSourceUnavailable(
                "unavailable", "X recent search covers only the last 7 days"
            )
        params: dict[str, Any] = {
            "query": self.query,
            "max_results": 100,
            "start_time": max(start, earliest).isoformat(),
            "end_time": min(end, now - pd.Timedelta(seconds=10)).isoformat(),
            "tweet.fields": "created_at,author_id,public_metrics",
            "expansions": "author_id",
            "user.fields": "username,public_metrics",
        }
        http, frames = self.http(), []
        headers = {"Authorization": f"Bearer {self.bearer_token}"}
        for _ in range(self.max_pages):
            payload = http.get_json(
                f"{self.api_url.rstrip('/')}/tweets/search/recent", params=params, headers=headers
            )
            frames.append(payloads.x_search_posts(payload))
            token = (payload.get("meta") or {}).get("next_token")
            if not token:
                break
            params = {**params, "next_token": token}
        frame = pd.concat(frames, ignore_index=True) if frames else empty_posts()
        return _result(self.name, self.describe(), frame, start, end, http)


# --------------------------------------------------------------------------------- Telegram
class TelegramSource(ConfigurableResource):
    """Public Telegram channels read with Telethon (a user account's api id/hash and a saved
    ``StringSession``; creating the session needs a one-time interactive login)."""

    name: str = "telegram"
    api_id: int | None = None
    api_hash: str | None = None
    session: str | None = None
    channels: list[str] = Field(default_factory=list)
    limit_per_channel: int = 2000
    flood_sleep_threshold_s: int = 60

    _client_factory: Callable[[], Any] | None = PrivateAttr(default=None)

    def describe(self) -> str:
        return f"telegram telethon ({len(self.channels)} channels)"

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp) -> TextFetchResult:
        start, end = utc(start), utc(end)
        if not (self.api_id and self.api_hash and self.session):
            raise TextSourceUnavailable(
                "no_key", "no Telegram api id/hash/session (CRYPTO_ASSETS_TELEGRAM_*)"
            )
        if not self.channels:
            raise TextSourceUnavailable("no_key", "no Telegram channels configured")
        frame = _run_sync(lambda: self._fetch(start, end))
        return _result(self.name, self.describe(), frame, start, end, None)

    def _client(self) -> Any:
        if self._client_factory is not None:
            return self._client_factory()
        from telethon import TelegramClient
        from telethon.sessions import StringSession

        return TelegramClient(
            StringSession(self.session),
            self.api_id,
            self.api_hash,
            flood_sleep_threshold=self.flood_sleep_threshold_s,
        )

    async def _fetch(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        client = self._client()
        frames = []
        try:
            await client.connect()
            if not await client.is_user_authorized():
                raise TextSourceUnavailable("no_key", "the Telegram session is not authorised")
            for channel in self.channels:
                kept = []
                async for message in client.iter_messages(
                    channel, offset_date=end.to_pydatetime(), limit=self.limit_per_channel
                ):
                    if message.date is not None and pd.Timestamp(message.date) < start:
                        break
                    kept.append(message)
                frames.append(payloads.telegram_messages_posts(kept, channel))
        except (OSError, ConnectionError) as exc:
            raise TextSourceUnavailable(
                "unavailable", f"telegram cannot be reached ({type(exc).__name__})"
            ) from exc
        finally:
            await client.disconnect()
        return pd.concat(frames, ignore_index=True) if frames else empty_posts()


# --------------------------------------------------------------------------- events: hacks
class DefiLlamaHacksSource(_HttpSource):
    """DefiLlama's public hacks record (``GET /hacks``: a JSON list of exploits)."""

    name: str = "defillama_hacks"
    url: str = "https://api.llama.fi/hacks"

    def describe(self) -> str:
        return "defillama hacks api"

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp) -> TextFetchResult:
        start, end = utc(start), utc(end)
        payload = self.http().get_json(self.url)
        if not isinstance(payload, list):
            raise TextSourceUnavailable(
                "error", f"defillama hacks: expected a list, got {type(payload).__name__}"
            )
        frame = (
            news_records.hacks_frame(pd.DataFrame(payload), self.url)
            if payload
            else canonical_events(pd.DataFrame())
        )
        return _result(self.name, self.describe(), frame, start, end, self.http())


class TokenUnlocksSource(ConfigurableResource):
    """Token unlocks from a user-provided file: a calendar CSV (``coin,date,title[,amount_usd,
    url]``) or an issuer's vesting table (``Who,Percentage,...,Vesting Start``, with ``coin``)."""

    name: str = "token_unlocks"
    path: str | None = None
    coin: str | None = None  # for a vesting table (it does not name its coin)

    def describe(self) -> str:
        return f"token unlocks file {Path(self.path).name if self.path else '(none)'}"

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp) -> TextFetchResult:
        if not self.path:
            raise TextSourceUnavailable(
                "no_key", "no token-unlock file configured (CRYPTO_ASSETS_TOKEN_UNLOCKS_FILE)"
            )
        path = Path(self.path)
        if not path.is_file():
            raise TextSourceUnavailable("unavailable", f"token-unlock file {path} not found")
        frame = read_unlocks(path, self.coin)
        return _result(
            self.name,
            self.describe(),
            frame,
            utc(start),
            utc(end),
            None,
            as_of=pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC"),
        )


def read_unlocks(path: Path, coin: str | None) -> pd.DataFrame:
    header = pd.read_csv(path, nrows=0).columns
    if "Vesting Start" in header:
        if not coin:
            raise TextSourceUnavailable(
                "error", f"{path.name} is a vesting table: set the coin it belongs to"
            )
        return news_records.vesting_schedule_csv(path, coin)
    missing = {"coin", "date", "title"} - set(header)
    if missing:
        raise TextSourceUnavailable("error", f"{path.name} lacks column(s) {sorted(missing)}")
    raw = pd.read_csv(path)
    frame = raw.assign(
        source="token_unlocks",
        kind="unlock",
        time=pd.to_datetime(raw["date"], utc=True),
        coin=raw["coin"].str.upper(),
        ref=[f"{path.name}#row={i}" for i in raw.index],
    )
    frame["id"] = [
        f"unlock:{c}:{t.isoformat()}:{i}"
        for i, (c, t) in enumerate(zip(frame["coin"], frame["time"], strict=True))
    ]
    return canonical_events(frame)


# ------------------------------------------------------------------------------------ replay
RecordingFormat = Literal[
    "reddit_posts_csv",
    "reddit_search_csv",
    "tweets_csv",
    "telegram_export_tgz",
    "cryptopanic_csv",
    "pump_events_csv",
    "hacks_csv",
    "vesting_schedule_csv",
]
_EVENT_FORMATS = {"pump_events_csv", "hacks_csv", "vesting_schedule_csv"}


@functools.lru_cache(maxsize=16)
def _read_recording(
    path: str, fmt: str, utc_offset: str, coin: str | None, mtime: float
) -> pd.DataFrame:
    p = Path(path)
    readers: dict[str, Callable[[], pd.DataFrame]] = {
        "reddit_posts_csv": lambda: records.reddit_posts_csv(p),
        "reddit_search_csv": lambda: records.reddit_search_csv(p),
        "tweets_csv": lambda: records.tweets_csv(p),
        "telegram_export_tgz": lambda: records.telegram_export_tgz(p, utc_offset),
        "cryptopanic_csv": lambda: news_records.cryptopanic_csv(p),
        "pump_events_csv": lambda: news_records.pump_events_csv(p),
        "hacks_csv": lambda: news_records.hacks_csv(p),
        "vesting_schedule_csv": lambda: news_records.vesting_schedule_csv(p, coin or "?"),
    }
    if fmt not in readers:
        raise ValueError(f"unknown recording format {fmt!r}; known: {sorted(readers)}")
    return readers[fmt]()


def read_recording(
    path: str, fmt: str, utc_offset: str = "+00:00", coin: str | None = None
) -> pd.DataFrame:
    """A recorded file parsed once per process (the Telegram export takes seconds): a daily
    backfill replays the same file for every partition. Callers get a copy."""
    mtime = Path(path).stat().st_mtime
    return _read_recording(str(path), fmt, utc_offset, coin, mtime).copy()


class ReplayTextSource(ConfigurableResource):
    """Recorded real files (read in place) served as a source: ``recordings`` maps a file path
    to its format. Rows are those of the window; ``as_of`` is the newest recorded time, never
    later than the window's end. A missing file is status ``unavailable``, not an empty replay."""

    name: str
    recordings: dict[str, str] = Field(default_factory=dict)
    utc_offset: str = records.TELEGRAM_XRP_EXPORT_UTC_OFFSET  # Telegram Desktop exports
    coin: str | None = None  # vesting tables

    def describe(self) -> str:
        names = ", ".join(Path(p).name for p in self.recordings) or "no recording"
        return f"replay {self.name}: {names}"

    def _read(self, path: str, fmt: str) -> pd.DataFrame:
        return read_recording(path, fmt, self.utc_offset, self.coin)

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp) -> TextFetchResult:
        start, end = utc(start), utc(end)
        if not self.recordings:
            raise TextSourceUnavailable("unavailable", f"no recording of {self.name} exists here")
        missing = [p for p in self.recordings if not Path(p).is_file()]
        if missing:
            raise TextSourceUnavailable("unavailable", f"recording not found: {', '.join(missing)}")
        frames = [self._read(p, f) for p, f in self.recordings.items()]
        frame = pd.concat(frames, ignore_index=True)
        recorded_to = frame["time"].max() if len(frame) else start
        as_of = min(recorded_to, end) if pd.notna(recorded_to) else start
        window = in_window(frame, start, end)
        reason = f"{len(window)} recorded rows in window (recording ends {recorded_to:%Y-%m-%d})"
        return _result(
            self.name,
            self.describe(),
            frame,
            start,
            end,
            None,
            status="replay",
            reason=reason,
            as_of=as_of,
        )


# ------------------------------------------------------------------------------ wiring help
TEXT_RESOURCE_KEYS = (
    "reddit_source",
    "telegram_source",
    "discord_source",
    "x_source",
    "rss_source",
    "cryptopanic_source",
    "hacks_source",
    "unlocks_source",
    "pump_events_source",
)
RECORDINGS = {
    "reddit_source": (
        "reddit",
        {
            "social/reddit_rCryptoCurrency_posts_2025-04.csv.gz": "reddit_posts_csv",
            "social/reddit_rCryptoCurrency_bitcoin_search_2019-2024.csv.gz": "reddit_search_csv",
        },
    ),
    "telegram_source": (
        "telegram",
        {
            "social/xrp_buy_hold_pump_telegram_export_messages.tgz": "telegram_export_tgz",
        },
    ),
    "discord_source": ("discord", {}),
    "x_source": ("x", {"social/crypto_tweets_2021.csv.gz": "tweets_csv"}),
    "rss_source": ("rss", {}),
    "cryptopanic_source": (
        "cryptopanic",
        {"news/cryptopanic_news_feb2025.csv.gz": "cryptopanic_csv"},
    ),
    "hacks_source": ("defillama_hacks", {"events/defillama_hacks_defi_exploits.csv": "hacks_csv"}),
    "unlocks_source": (
        "token_unlocks",
        {"events/gogopool_ggp_vesting_schedule.csv": "vesting_schedule_csv"},
    ),
    "pump_events_source": ("pump_groups", {"events/pump_telegram.csv": "pump_events_csv"}),
}


def replay_text_resources(data_dir: Path) -> dict[str, ConfigurableResource]:
    """Every text resource key bound to the recorded real files under ``data_dir`` (Discord
    and RSS have no recording: their replay reports ``unavailable``)."""
    out: dict[str, ConfigurableResource] = {}
    for key, (name, files) in RECORDINGS.items():
        recordings = {str(Path(data_dir) / rel): fmt for rel, fmt in files.items()}
        coin = "GGP" if key == "unlocks_source" else None
        out[key] = ReplayTextSource(name=name, recordings=recordings, coin=coin)
    return out


def _secret(settings: Settings, field: str) -> dg.EnvVar | None:
    """``dg.EnvVar`` for a secret that is set, so its value is read at run time and never
    becomes resource config (which Dagster stores with every run). A value that came from the
    ``.env`` file only is exported to this process's environment first, as ``dagster dev``
    does with ``.env``, so the CLI resolves it the same way."""
    value = getattr(settings, field)
    if value is None:
        return None
    name = f"{ENV_PREFIX}{field.upper()}"
    os.environ.setdefault(name, value.get_secret_value())
    return dg.EnvVar(name)


def text_resources(settings: Settings) -> dict[str, ConfigurableResource]:
    """The text resources for ``settings``: live clients whose secrets come from ``dg.EnvVar``,
    or the replays of the recorded files (``text_sources=replay``, and always in the demo
    profile, which runs offline on recordings). The recorded pump-event research set is bound
    in both modes (it has no live API)."""
    replays = replay_text_resources(settings.text_replay_dir)
    if settings.text_sources == "replay" or settings.profile == "demo":
        return replays
    return {
        "reddit_source": RedditSource(
            subreddits=settings.reddit_subreddits,
            client_id=_secret(settings, "reddit_client_id"),
            client_secret=_secret(settings, "reddit_client_secret"),
            user_agent=settings.reddit_user_agent,
        ),
        "telegram_source": TelegramSource(
            api_id=settings.telegram_api_id,
            api_hash=_secret(settings, "telegram_api_hash"),
            session=_secret(settings, "telegram_session"),
            channels=settings.telegram_channels,
        ),
        "discord_source": DiscordSource(
            bot_token=_secret(settings, "discord_bot_token"),
            channel_ids=settings.discord_channel_ids,
        ),
        "x_source": XSource(
            bearer_token=_secret(settings, "x_bearer_token"), query=settings.x_query
        ),
        "rss_source": RssSource(feeds=settings.rss_feeds or list(DEFAULT_FEEDS)),
        "cryptopanic_source": CryptoPanicSource(api_key=_secret(settings, "cryptopanic_api_key")),
        "hacks_source": DefiLlamaHacksSource(),
        "unlocks_source": TokenUnlocksSource(
            path=str(settings.token_unlocks_file) if settings.token_unlocks_file else None,
            coin=settings.token_unlocks_coin,
        ),
        "pump_events_source": replays["pump_events_source"],
    }
