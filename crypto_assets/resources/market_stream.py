"""Live market data over Kraken's WebSocket through ccxt.pro: closed candles (``watch_ohlcv``)
and order books (``watch_order_book``), for the universe or a configured subset.

ccxt.pro 4.5 speaks Kraken's WebSocket **v2** (``wss://ws.kraken.com/v2``) for both channels.

Candles: only CLOSED candles ever come back. A candle is closed when the exchange has started a
later candle of the same symbol, or when its open time + timeframe + ``close_grace_s`` has
passed on the clock (the grace lets the last trades of the interval arrive). The closed candles
then pass the same Pandera schema as REST candles (``market.schemas``); a symbol whose candles
break it becomes a failure row, never a silent gap. They come back as the market contract's
``FetchResult`` (canonical OHLCV), so they can be stored and sanitised exactly like REST ones.

Books: the ``OrderBookSource`` contract; each book is the state after ``settle_s`` seconds of
updates following its snapshot, ``as_of`` the exchange's time of the last update applied.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ccxt
import ccxt.pro as ccxt_pro
import pandas as pd
from dagster import ConfigurableResource

from crypto_assets.frames import utc
from crypto_assets.horizons import TIMEFRAMES
from crypto_assets.market.schemas import OHLCV_COLUMNS, validation_failures
from crypto_assets.market.source import (
    FetchResult,
    SourceUnavailable,
    empty_candles,
    failures_frame,
)
from crypto_assets.resources.market_source import _run_sync, one_line
from crypto_assets.risk.source import (
    OrderBookFetch,
    OrderBookUnavailable,
    book_levels,
    empty_books,
    symbol_status_frame,
    typed_books,
)

log = logging.getLogger(__name__)
WS_BOOK_DEPTHS = (10, 25, 100, 500, 1000)  # what Kraken's v2 book channel accepts


class KrakenStream(ConfigurableResource):
    """Kraken WebSocket (v2) through ccxt.pro. ``api_url`` / ``ws_url`` point it at a local
    replay; ``frozen_clock`` freezes the clock (replay / tests), as in ``ExchangeResource``."""

    exchange_id: str = "kraken"
    api_url: str | None = None  # REST base (markets are loaded over REST)
    ws_url: str | None = None  # public WebSocket v2 URL
    first_message_s: float = 30.0  # wait for a symbol's first message (subscribe + snapshot)
    watch_s: float = 20.0  # candles: how long a symbol is watched after its first message
    settle_s: float = 2.0  # books: updates applied after the snapshot before it is read
    close_grace_s: float = 5.0
    timeout_ms: int = 20_000
    # ccxt spaces WebSocket messages (one subscribe per symbol) by the exchange's REST rate
    # limit (Kraken: 1000 ms) unless told otherwise: N symbols take N x this to subscribe
    rate_limit_ms: int | None = None
    frozen_clock: str | None = None  # ISO time (tests / replay); None: real UTC now

    def now(self) -> pd.Timestamp:
        """Wall-clock UTC time (or the frozen clock)."""
        return utc(self.frozen_clock) if self.frozen_clock else pd.Timestamp.now(tz="UTC")

    def describe(self) -> str:
        where = f"ws {self.ws_url}" if self.ws_url else "live websocket v2"
        return f"{self.exchange_id} ({where}, ccxt.pro)"

    def _make_exchange(self) -> Any:
        config: dict[str, Any] = {"enableRateLimit": True, "timeout": int(self.timeout_ms)}
        if self.rate_limit_ms is not None:
            config["rateLimit"] = int(self.rate_limit_ms)
        exchange = getattr(ccxt_pro, self.exchange_id)(config)
        api = exchange.urls["api"]
        if self.api_url:
            api["public"] = api["private"] = self.api_url.rstrip("/")
        if self.ws_url:
            api["ws"]["publicV2"] = api["ws"]["public"] = self.ws_url
        return exchange

    # ------------------------------------------------------------------ candles
    def watch_closed_candles(self, symbols: list[str], timeframe: str = "1h") -> FetchResult:
        """Closed candles of ``symbols``: each watched for ``watch_s`` seconds after its first
        message (a symbol with none in ``first_message_s`` becomes a failure row)."""
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"timeframe {timeframe!r} is not one of {sorted(TIMEFRAMES)}")
        return _run_sync(lambda: self._watch_candles(list(dict.fromkeys(symbols)), timeframe))

    async def _watch_candles(self, symbols: list[str], timeframe: str) -> FetchResult:
        exchange = self._make_exchange()
        seen: dict[str, dict[int, list]] = {s: {} for s in symbols}
        errors: dict[str, str] = {}
        try:
            await self._load_markets(exchange, SourceUnavailable)
            await asyncio.gather(
                *(self._follow(exchange, s, timeframe, seen[s], errors) for s in symbols)
            )
        finally:
            await exchange.close()
        return self._closed(seen, errors, timeframe)

    async def _load_markets(self, exchange: Any, unavailable: type[Exception]) -> None:
        try:
            await exchange.load_markets()
        except ccxt.BaseError as exc:
            raise unavailable(
                f"{self.exchange_id} markets could not be loaded ({type(exc).__name__}: "
                f"{one_line(exc, 200)})"
            ) from exc

    async def _follow(
        self, exchange: Any, symbol: str, timeframe: str, rows: dict[int, list], errors: dict
    ) -> None:
        """Collect every candle version of ``symbol`` until the watch ends (latest wins)."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None  # set by the first message
        while (left := self.first_message_s if deadline is None else deadline - loop.time()) > 0:
            try:
                candles = await asyncio.wait_for(exchange.watch_ohlcv(symbol, timeframe), left)
            except TimeoutError:
                if deadline is None:
                    errors[symbol] = f"no candle within {self.first_message_s:g} s of subscribing"
                    return
                break
            except ccxt.BaseError as exc:
                errors[symbol] = f"{type(exc).__name__}: {one_line(exc)}"
                return
            for candle in candles:
                rows[int(candle[0])] = list(candle[:6])
            deadline = deadline if deadline is not None else loop.time() + self.watch_s
        # ccxt returns only what changed since the previous call; messages handled between two
        # calls are in its cache: read it once more so no candle version is lost
        for candle in (getattr(exchange, "ohlcvs", {}) or {}).get(symbol, {}).get(timeframe, []):
            rows[int(candle[0])] = list(candle[:6])

    def _closed(self, seen: dict[str, dict[int, list]], errors: dict, timeframe: str):
        now = self.now()
        step_ms = int(TIMEFRAMES[timeframe].value // 10**6)
        grace_ms = int(self.close_grace_s * 1000)
        now_ms = int(now.value // 10**6)
        frames, failures = [], [(s, "NoData", m) for s, m in errors.items()]
        for symbol, rows in seen.items():
            newest = max(rows, default=None)
            kept = [
                r
                for t, r in sorted(rows.items())
                if t < newest or t + step_ms + grace_ms <= now_ms  # a later candle, or the clock
            ]
            if kept:
                frame = pd.DataFrame(kept, columns=["ts", "open", "high", "low", "close", "volume"])
                frame.insert(0, "symbol", symbol)
                frame.insert(1, "date", pd.to_datetime(frame.pop("ts"), unit="ms", utc=True))
                frames.append(frame)
        candles = pd.concat(frames, ignore_index=True) if frames else empty_candles()
        candles["date"] = candles["date"].astype("datetime64[ns, UTC]")
        for column in OHLCV_COLUMNS[2:]:
            candles[column] = pd.to_numeric(candles[column], errors="coerce").astype("float64")
        bad = validation_failures(candles, timeframe, now=now)
        if len(bad):  # the same contract as REST candles: a broken coin is reported, not kept
            rows_bad = candles.loc[candles.index.isin(bad["index"].dropna()), "symbol"]
            broken = set(rows_bad) or set(candles["symbol"])
            for symbol in sorted(broken):
                checks = ", ".join(sorted(set(bad["check"].astype(str))))[:200]
                failures.append((symbol, "SchemaError", f"candles fail the schema: {checks}"))
            candles = candles[~candles["symbol"].isin(broken)]
        return FetchResult(
            candles=candles[OHLCV_COLUMNS].sort_values(["symbol", "date"]).reset_index(drop=True),
            failures=failures_frame(failures),
            requests=0,
            as_of=now,
            source=self.describe(),
        )

    # -------------------------------------------------------------------- books
    def fetch_order_books(self, symbols: list[str], depth: int = 100) -> OrderBookFetch:
        """Each symbol's book after its snapshot and ``settle_s`` seconds of updates, cut to
        ``depth`` levels (subscribed at the next depth Kraken offers, at most 1000)."""
        if depth < 1:
            raise ValueError(f"book depth must be >= 1, not {depth}")
        return _run_sync(lambda: self._watch_books(list(dict.fromkeys(symbols)), depth))

    async def _watch_books(self, symbols: list[str], depth: int) -> OrderBookFetch:
        exchange = self._make_exchange()
        try:
            await self._load_markets(exchange, OrderBookUnavailable)
            outcomes = await asyncio.gather(*(self._one_book(exchange, s, depth) for s in symbols))
        finally:
            await exchange.close()
        frames = [o for o, _ in outcomes if o is not None]
        books = typed_books(pd.concat(frames, ignore_index=True)) if frames else empty_books()
        rows = [row for _, row in outcomes]
        return OrderBookFetch(books, symbol_status_frame(rows), "ok", self.now(), self.describe())

    async def _one_book(self, exchange: Any, symbol: str, depth: int):
        row = {"symbol": symbol, "exchange": self.exchange_id, "rows": 0, "checksums_verified": 0}
        loop = asyncio.get_running_loop()
        subscribed = next((d for d in WS_BOOK_DEPTHS if d >= depth), WS_BOOK_DEPTHS[-1])
        try:
            book = await asyncio.wait_for(
                exchange.watch_order_book(symbol, subscribed), self.first_message_s
            )
            settle_until = loop.time() + self.settle_s
            while (left := settle_until - loop.time()) > 0:
                try:
                    book = await asyncio.wait_for(
                        exchange.watch_order_book(symbol, subscribed), left
                    )
                except TimeoutError:
                    break
            stamp = book.get("timestamp")
            as_of = pd.Timestamp(stamp, unit="ms", tz="UTC") if stamp else self.now()
            levels = book_levels(
                symbol,
                self.exchange_id,
                [r[:2] for r in book["bids"]],
                [r[:2] for r in book["asks"]],
                as_of,
                self.describe(),
                depth,
            )
        except TimeoutError:
            return None, row | {"status": "unavailable", "reason": "no book within the watch"}
        except (ccxt.BaseError, ValueError) as exc:
            return None, row | {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}
        return levels, row | {"status": "ok", "reason": "", "as_of": as_of, "rows": len(levels)}
