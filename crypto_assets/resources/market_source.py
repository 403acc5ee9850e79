"""Market-data sources as Dagster resources: the live exchange (ccxt) or a recorded snapshot.

Both implement the domain's contract :class:`crypto_assets.market.source.MarketSource` (read its
docstring for the guarantees), so the assets never know which one they run on; the resource key
``market_source`` is bound to one of them by configuration only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import ccxt
import ccxt.async_support as ccxt_async
import numpy as np
import pandas as pd
from dagster import ConfigurableResource
from pydantic import PrivateAttr

from crypto_assets.features.labels import resample_ohlcv
from crypto_assets.frames import utc
from crypto_assets.horizons import TIMEFRAMES
from crypto_assets.market.schemas import OHLCV_COLUMNS
from crypto_assets.market.snapshot import read_snapshot
from crypto_assets.market.source import (
    FetchResult,
    SourceUnavailable,
    empty_candles,
    failures_frame,
)
from crypto_assets.market.universe import MARKET_COLUMNS, empty_markets, markets_frame

log = logging.getLogger(__name__)
T = TypeVar("T")

# ccxt's transient family: network trouble, rate limits, timeouts, maintenance, garbled bodies
RETRYABLE: tuple[type[Exception], ...] = (ccxt.NetworkError, ccxt.BadResponse)
ACTIVE_WINDOW = pd.Timedelta(days=3)
MAX_PAGES = 10_000  # hard stop for forward pagination (far beyond any real history)
KRAKEN_MAX_CANDLES = 720  # Kraken's OHLC endpoint serves the most recent 720 of a timeframe


# ---------------------------------------------------------------------------- helpers
def one_line(text: object, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, also when a loop already runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def _rebase(urls: Any, base: str) -> Any:
    """ccxt's ``urls["api"]`` with every URL's scheme and host replaced by ``base``'s, each path
    kept: Kraken's ``https://api.kraken.com`` becomes ``base``, Binance's
    ``https://api.binance.com/api/v3`` becomes ``base/api/v3``, so a local replay server answers
    the exchange's real paths."""
    if isinstance(urls, dict):
        return {key: _rebase(value, base) for key, value in urls.items()}
    if not isinstance(urls, str):
        return urls
    to, parts = urlsplit(base.rstrip("/")), urlsplit(urls)
    return urlunsplit((to.scheme, to.netloc, to.path + parts.path, parts.query, parts.fragment))


def max_ohlcv_limit(exchange_id: str) -> int | None:
    """The most spot candles one OHLCV request may ask for, as ccxt documents the exchange
    (``features``; Binance 1000, Kraken 720); None when ccxt does not say. Offline."""
    if exchange_id not in ccxt.exchanges:
        raise ValueError(f"unknown ccxt exchange id {exchange_id!r}")
    features = getattr(ccxt, exchange_id)().features or {}
    limit = ((features.get("spot") or {}).get("fetchOHLCV") or {}).get("limit")
    return int(limit) if isinstance(limit, int) and limit > 0 else None


def _window_filter(
    frame: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    since_by_symbol: dict[str, pd.Timestamp] | None,
) -> pd.DataFrame:
    mask = (frame["date"] >= start) & (frame["date"] < end)
    if since_by_symbol:
        since = frame["symbol"].map({s: utc(t) for s, t in since_by_symbol.items()})
        since = pd.to_datetime(since, utc=True)
        mask &= since.isna() | (frame["date"] >= since)
    return frame.loc[mask]


# ------------------------------------------------------------------- live (ccxt) source
class _StrictJsonMixin:
    """Count every HTTP request, and refuse a 2xx body that is not complete JSON.

    Without this ccxt hands a truncated body back as text and Kraken's parser turns it into an
    empty result: zero candles with no error. Raising ccxt's own BadResponse keeps ccxt's
    parsing untouched and makes the problem visible (retried, then a failure row).
    """

    request_count: int = 0

    async def fetch(self, url, method="GET", headers=None, body=None):  # type: ignore[no-untyped-def]
        self.request_count += 1
        return await super().fetch(url, method, headers, body)  # type: ignore[misc]

    def on_rest_response(  # type: ignore[no-untyped-def]
        self, code, reason, url, method, response_headers, response_body, request_headers, body
    ):
        text = super().on_rest_response(  # type: ignore[misc]
            code, reason, url, method, response_headers, response_body, request_headers, body
        )
        if 200 <= int(code) < 300:
            try:
                json.loads(text)
            except ValueError:
                raise ccxt.BadResponse(
                    f"{self.id} {method} {url.split('?')[0]} answered HTTP {code} with a "  # type: ignore[attr-defined]
                    f"truncated or invalid JSON body ({len(text)} bytes)"
                ) from None
        return text


_STRICT_CLASSES: dict[str, type] = {}


def _exchange_class(exchange_id: str) -> type:
    if exchange_id not in ccxt_async.exchanges:
        raise ValueError(f"unknown ccxt exchange id {exchange_id!r}")
    if exchange_id not in _STRICT_CLASSES:
        base = getattr(ccxt_async, exchange_id)
        _STRICT_CLASSES[exchange_id] = type(f"Strict_{exchange_id}", (_StrictJsonMixin, base), {})
    return _STRICT_CLASSES[exchange_id]


class ExchangeResource(ConfigurableResource):
    """Live market data from any ccxt exchange (default Kraken), async with bounded concurrency.

    Respects the exchange's rate limit (ccxt throttler), retries transient errors with
    exponential backoff, isolates per-symbol failures, never returns a forming candle.
    """

    exchange_id: str = "kraken"
    api_url: str | None = None  # REST base override, e.g. the local replay server
    max_concurrency: int = 4
    timeout_ms: int = 20_000
    max_retries: int = 4
    backoff_base_s: float = 1.0
    rate_limit_ms: int | None = None  # None: ccxt's default (Kraken: 1000 ms)
    frozen_clock: str | None = None  # ISO time (tests / replay); None: real UTC now
    # ccxt's options["fetchMarkets"]["types"] where the exchange has it (Binance, Bybit, OKX...),
    # e.g. ["spot"]: Binance's default also loads its futures listings (other hosts, more
    # requests); None, or an exchange without that option: ccxt's default
    market_types: list[str] | None = None
    ohlcv_limit: int | None = None  # candles asked per OHLCV request; None: ccxt's default

    _markets_cache: dict[str, Any] | None = PrivateAttr(default=None)
    _currencies_cache: dict[str, Any] | None = PrivateAttr(default=None)
    _listing: pd.DataFrame | None = PrivateAttr(default=None)

    # ---- plumbing
    def now(self) -> pd.Timestamp:
        """Wall-clock UTC time (or the frozen clock)."""
        return utc(self.frozen_clock) if self.frozen_clock else pd.Timestamp.now(tz="UTC")

    def describe(self) -> str:
        where = f"api {self.api_url}" if self.api_url else "live api"
        return f"{self.exchange_id} ({where})"

    def _make_exchange(self) -> Any:
        config: dict[str, Any] = {"enableRateLimit": True, "timeout": int(self.timeout_ms)}
        if self.rate_limit_ms is not None:
            config["rateLimit"] = int(self.rate_limit_ms)
        exchange = _exchange_class(self.exchange_id)(config)
        listing = exchange.options.get("fetchMarkets")
        if self.market_types is not None and isinstance(listing, dict) and "types" in listing:
            exchange.options["fetchMarkets"] = {**listing, "types": list(self.market_types)}
        if self.api_url:
            exchange.urls["api"] = _rebase(exchange.urls.get("api"), self.api_url)
        if self._markets_cache is not None:
            exchange.set_markets(self._markets_cache, self._currencies_cache)
        return exchange

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """``fn()`` with retries on transient errors (exponential backoff, then re-raise)."""
        attempt = 0
        while True:
            try:
                return await fn()
            except RETRYABLE as exc:
                if attempt >= self.max_retries:
                    raise
                delay = self.backoff_base_s * (2**attempt)
                attempt += 1
                log.warning(
                    "%s: %s (%s), retry %d/%d in %.2fs",
                    what,
                    type(exc).__name__,
                    one_line(exc, 160),
                    attempt,
                    self.max_retries,
                    delay,
                )
                await asyncio.sleep(delay)

    def _unavailable(self, exchange: Any, exc: Exception) -> SourceUnavailable:
        name = getattr(exchange, "name", None) or self.exchange_id
        detail = f"{type(exc).__name__}: {one_line(exc, 200)}"
        if isinstance(exc, ccxt.NetworkError):
            hint = "check the network, or run `make demo` for the offline snapshot"
            return SourceUnavailable(f"{name} cannot be reached ({detail}): {hint}")
        return SourceUnavailable(f"{name} market list could not be loaded ({detail})")

    async def _load_markets(self, exchange: Any, reload: bool) -> None:
        if exchange.markets and not reload:
            return
        try:
            await self._call(
                f"{self.exchange_id} load_markets",
                lambda: exchange.load_markets(reload=True),
            )
        except ccxt.BaseError as exc:
            raise self._unavailable(exchange, exc) from exc
        self._markets_cache = exchange.markets
        self._currencies_cache = exchange.currencies

    # ---- markets
    def fetch_markets(self, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        """The exchange's current listing (MARKET_COLUMNS), downloaded once per resource
        instance (one run), whatever ``as_of`` asks for.

        A live exchange can only say what is listed NOW, so every day of a multi-day run gets
        the same list, and its ``as_of`` column is the actual fetch time (the frozen clock if
        set): the contract's honest answer, not a guess at past listings.
        """

        async def run() -> pd.DataFrame:
            exchange = self._make_exchange()
            try:
                await self._load_markets(exchange, reload=True)
                return markets_frame(exchange.markets, self.now(), self.describe())
            finally:
                await exchange.close()

        if self._listing is None:
            self._listing = _run_sync(run)
        return self._listing.copy()

    # ---- candles
    def fetch_ohlcv(
        self,
        symbols: list[str],
        timeframe: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        since_by_symbol: dict[str, pd.Timestamp] | None = None,
    ) -> FetchResult:
        """Complete candles in [start, end) for each symbol; failures isolated per symbol."""
        return _run_sync(
            lambda: self._fetch_ohlcv(symbols, timeframe, utc(start), utc(end), since_by_symbol)
        )

    async def _fetch_ohlcv(
        self,
        symbols: list[str],
        timeframe: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        since_by_symbol: dict[str, pd.Timestamp] | None,
    ) -> FetchResult:
        now = self.now()
        exchange = self._make_exchange()
        try:
            if timeframe not in exchange.timeframes:
                raise ValueError(
                    f"{self.exchange_id} has no timeframe {timeframe!r}; "
                    f"it offers {sorted(exchange.timeframes)}"
                )
            step = pd.Timedelta(seconds=exchange.parse_timeframe(timeframe))
            await self._load_markets(exchange, reload=False)
            semaphore = asyncio.Semaphore(max(1, int(self.max_concurrency)))
            since_map = {s: utc(t) for s, t in (since_by_symbol or {}).items()}
            tasks = [
                self._fetch_symbol(
                    exchange, semaphore, symbol, timeframe, step, start, end, now, since_map
                )
                for symbol in dict.fromkeys(symbols)
            ]
            outcomes = await asyncio.gather(*tasks)
            requests = exchange.request_count
        finally:
            await exchange.close()

        frames = [o for o in outcomes if isinstance(o, pd.DataFrame) and len(o)]
        failures = [o for o in outcomes if isinstance(o, tuple)]
        candles = pd.concat(frames, ignore_index=True) if frames else empty_candles()
        notes = []
        available_from = None
        if self.exchange_id == "kraken":  # the newest candle (maybe forming) and 719 before it
            available_from = now.floor(step) - (KRAKEN_MAX_CANDLES - 1) * step
        if available_from is not None and start < available_from:
            notes.append(
                f"Kraken serves only the {KRAKEN_MAX_CANDLES} most recent {timeframe} candles: "
                f"history before {available_from.isoformat()} is not available from its API"
            )
        return FetchResult(
            candles=candles.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True),
            failures=failures_frame(failures),
            requests=requests,
            as_of=now,
            source=self.describe(),
            notes=notes,
            available_from=available_from,
        )

    async def _fetch_symbol(
        self,
        exchange: Any,
        semaphore: asyncio.Semaphore,
        symbol: str,
        timeframe: str,
        step: pd.Timedelta,
        start: pd.Timestamp,
        end: pd.Timestamp,
        now: pd.Timestamp,
        since_map: dict[str, pd.Timestamp],
    ) -> pd.DataFrame | tuple[str, str, str]:
        lower = max(start, since_map[symbol]) if symbol in since_map else start
        # exclusive upper bound on open time: before `end`, and complete by `now`
        upper = min(end, now - step + pd.Timedelta(microseconds=1))
        lower_ms = math.ceil(lower.value / 1e6)
        upper_ms = math.ceil(upper.value / 1e6)
        step_ms = int(step.value // 10**6)
        if lower_ms >= upper_ms:
            return empty_candles()  # nothing complete to ask for: not even a request
        rows: dict[int, list[Any]] = {}
        cursor = lower_ms
        # every page that counts moves the cursor at least one candle on: bounded by the window
        pages = min(MAX_PAGES, (upper_ms - lower_ms) // step_ms + 2)
        try:
            for _ in range(pages):
                async with semaphore:
                    page = await self._call(
                        f"{self.exchange_id} OHLC {symbol} {timeframe}",
                        lambda c=cursor: exchange.fetch_ohlcv(
                            symbol, timeframe, since=c, limit=self.ohlcv_limit
                        ),
                    )
                newest = max(rows) if rows else None
                fresh = [r for r in page if r and r[0] is not None and r[0] >= cursor]
                if newest is not None:
                    fresh = [r for r in fresh if r[0] > newest]
                if not fresh:
                    break  # no progress: the exchange has nothing newer
                for r in fresh:
                    rows[int(r[0])] = r
                cursor = max(rows) + step_ms
                if cursor >= upper_ms:
                    break  # the next candle would be forming or past `end`
        except ccxt.BaseError as exc:
            return (symbol, type(exc).__name__, one_line(exc))
        except Exception as exc:  # one broken symbol never sinks the batch
            log.exception("unexpected error fetching %s", symbol)
            return (symbol, type(exc).__name__, one_line(exc))
        kept = [r[:6] for t, r in sorted(rows.items()) if lower_ms <= t < upper_ms]
        if not kept:
            return empty_candles()
        frame = pd.DataFrame(kept, columns=["ts", "open", "high", "low", "close", "volume"])
        frame.insert(0, "symbol", symbol)
        frame.insert(1, "date", pd.to_datetime(frame.pop("ts"), unit="ms", utc=True))
        frame["date"] = frame["date"].astype("datetime64[ns, UTC]")
        for column in ("open", "high", "low", "close", "volume"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        return frame[OHLCV_COLUMNS]


# -------------------------------------------------------------------- snapshot source
class SnapshotSource(ConfigurableResource):
    """Recorded candles from a snapshot directory: the offline demo and reproducible runs."""

    snapshot_dir: str

    _frames: dict[str, pd.DataFrame] | None = PrivateAttr(default=None)
    _listing: tuple[Any, Any, Any] | None = PrivateAttr(default=None)

    def _path(self) -> Path:
        return Path(self.snapshot_dir).expanduser().resolve()

    def describe(self) -> str:
        path = self._path()
        return f"snapshot {path} ({path.name})"

    def frames(self) -> dict[str, pd.DataFrame]:
        """Canonical frames by timeframe, read once per resource instance."""
        if self._frames is None:
            self._frames = read_snapshot(self.snapshot_dir)
        return self._frames

    def _timeframe(self, timeframe: str) -> pd.DataFrame | None:
        frames = self.frames()
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"snapshot timeframes are {sorted(TIMEFRAMES)}, not {timeframe!r}")
        if timeframe not in frames and timeframe == "1d" and "1h" in frames:
            frames["1d"] = resample_ohlcv(frames["1h"], "1d")
        return frames.get(timeframe)

    def now(self) -> pd.Timestamp:
        """The snapshot's clock: it is 'now' when its newest candle completed."""
        return self.as_of()

    def as_of(self) -> pd.Timestamp:
        """When the newest candle of the snapshot completed."""
        ends = [f["date"].max() + TIMEFRAMES[tf] for tf, f in self.frames().items()]
        ends = [e for e in ends if pd.notna(e)]
        if not ends:
            raise SourceUnavailable(f"snapshot {self._path()} holds no candles")
        return max(ends)

    def _listing_index(self) -> tuple[np.ndarray, list[np.ndarray], pd.Timedelta]:
        """Per coin, its sorted candle open times (ns), built once: the universe of any day is
        then a binary search per coin."""
        if self._listing is None:
            frames = self.frames()
            timeframe = "1h" if "1h" in frames else "1d"
            candles = frames[timeframe].sort_values(["symbol", "date"], kind="stable")
            codes, symbols = pd.factorize(candles["symbol"], sort=True)
            ns = candles["date"].astype("int64").to_numpy()
            bounds = np.searchsorted(codes, np.arange(len(symbols) + 1))
            dates = [ns[bounds[i] : bounds[i + 1]] for i in range(len(symbols))]
            self._listing = (np.asarray(symbols), dates, TIMEFRAMES[timeframe])
        return self._listing

    def fetch_markets(self, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        """Coins listed in the snapshot by ``as_of``; active = a candle closed in the 3 days
        before it, otherwise "delisted-in-snapshot" (the snapshot stopped recording it)."""
        stamp = utc(as_of) if as_of is not None else self.as_of()
        symbols_all, dates_by_symbol, step = self._listing_index()
        listed_mask, last_close = [], []
        for dates in dates_by_symbol:  # one binary search per coin, not a scan of all candles
            listed_mask.append(dates[0] <= stamp.value)
            closed = np.searchsorted(dates, (stamp - step).value, side="right") - 1
            last_close.append(dates[closed] + step.value if closed >= 0 else np.iinfo("int64").min)
        listed_mask_arr = np.asarray(listed_mask, dtype=bool)
        if not listed_mask_arr.any():
            return empty_markets()
        listed = pd.Series(0, index=pd.Index(symbols_all[listed_mask_arr], name="symbol"))
        last = np.asarray(last_close, dtype="int64")[listed_mask_arr]
        active = pd.Series(last >= (stamp - ACTIVE_WINDOW).value, index=listed.index)
        symbols = listed.index.to_series()
        parts = symbols.str.split("/", n=1)
        frame = pd.DataFrame(
            {
                "symbol": symbols.values,
                "base": parts.str[0].values,
                "quote": parts.str[1].values,
                "exchange_symbol": symbols.values,
                "altname": None,
                "wsname": None,
                "active": active.values,
                "status": ["online" if a else "delisted-in-snapshot" for a in active.values],
                "spot": True,
                "ordermin": float("nan"),
                "costmin": float("nan"),
                "as_of": stamp,
                "source": f"snapshot {self._path().name}",
            },
            columns=MARKET_COLUMNS,
        )
        frame["as_of"] = frame["as_of"].astype("datetime64[ns, UTC]")
        return frame.sort_values("symbol", kind="stable").reset_index(drop=True)

    def fetch_ohlcv(
        self,
        symbols: list[str],
        timeframe: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        since_by_symbol: dict[str, pd.Timestamp] | None = None,
    ) -> FetchResult:
        """The snapshot's candles in [start, end); unknown symbols become BadSymbol rows."""
        started = time.perf_counter()
        wanted = list(dict.fromkeys(symbols))
        frame = self._timeframe(timeframe)
        notes: list[str] = []
        if frame is None:
            message = (
                f"snapshot {self._path().name} has no {timeframe} candles "
                "(and no hourly file to derive them from)"
            )
            notes.append(message)
            rows = [(s, "NoData", message) for s in wanted]
            return FetchResult(
                empty_candles(), failures_frame(rows), 0, self.as_of(), self.describe(), notes
            )
        known = set(frame["symbol"].unique())
        rows = [
            (s, "BadSymbol", f"{s} is not in snapshot {self._path().name}")
            for s in wanted
            if s not in known
        ]
        selected = frame.loc[frame["symbol"].isin(wanted)]
        selected = _window_filter(selected, utc(start), utc(end), since_by_symbol)
        log.debug("snapshot fetch %s in %.3fs", timeframe, time.perf_counter() - started)
        return FetchResult(
            candles=selected[OHLCV_COLUMNS].reset_index(drop=True),
            failures=failures_frame(rows),
            requests=0,
            as_of=self.as_of(),
            source=self.describe(),
            notes=notes,
        )
