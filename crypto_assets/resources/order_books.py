"""Order-book sources (``risk.source.OrderBookSource``): the live exchange over ccxt REST
(Kraken ``/0/public/Depth``) and a replay of the real recorded books in
``../shared/data/orderbook``. The WebSocket form lives in ``resources.market_stream``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import ccxt
import pandas as pd
from dagster import ConfigurableResource
from pydantic import PrivateAttr

from crypto_assets.resources.market_source import ExchangeResource, _run_sync, one_line
from crypto_assets.risk.recordings import (
    DepthSnapshot,
    KrakenReplay,
    read_binance_depth,
    replay_kraken_book,
)
from crypto_assets.risk.source import (
    OrderBookFetch,
    OrderBookUnavailable,
    book_levels,
    empty_books,
    symbol_status_frame,
    typed_books,
)
from crypto_assets.settings import Settings

log = logging.getLogger(__name__)
KRAKEN_MAX_DEPTH = 500  # /0/public/Depth answers at most 500 levels per side
KRAKEN_WS_BOOK_FILES = ["KRAKEN.ws.50.0"]  # the recorded v1 `book` session (2021-04-17)
BINANCE_DEPTH_FILES = ["BINANCE.http.0.0"]  # recorded /api/v3/depth snapshots (2021-10-12)


def _status_row(
    symbol: str, exchange: str, status: str, reason: str, as_of=None, levels=0, checks=0
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "exchange": exchange,
        "status": status,
        "reason": reason,
        "as_of": as_of,
        "rows": levels,
        "checksums_verified": checks,
    }


class ExchangeOrderBooks(ExchangeResource):
    """Live order books from a ccxt exchange's REST API (default Kraken ``Depth``), with the
    market source's rate limiting, retries and per-symbol failure isolation. A book's
    ``as_of`` is the time its response arrived (Kraken's Depth carries no book timestamp)."""

    def fetch_order_books(self, symbols: list[str], depth: int = 100) -> OrderBookFetch:
        return _run_sync(lambda: self._fetch_books(list(dict.fromkeys(symbols)), depth))

    async def _fetch_books(self, symbols: list[str], depth: int) -> OrderBookFetch:
        if self.exchange_id == "kraken":
            depth = min(depth, KRAKEN_MAX_DEPTH)
        exchange = self._make_exchange()
        try:
            try:
                await self._load_markets(exchange, reload=False)
            except Exception as exc:
                raise OrderBookUnavailable(str(exc)) from exc
            semaphore = asyncio.Semaphore(max(1, int(self.max_concurrency)))
            outcomes = await asyncio.gather(
                *(self._one_book(exchange, semaphore, s, depth) for s in symbols)
            )
            requests = exchange.request_count
        finally:
            await exchange.close()
        frames = [o for o, _ in outcomes if o is not None]
        books = typed_books(pd.concat(frames, ignore_index=True)) if frames else empty_books()
        return OrderBookFetch(
            books=books,
            symbols=symbol_status_frame([row for _, row in outcomes]),
            status="ok",
            as_of=self.now(),
            source=self.describe(),
            requests=requests,
        )

    async def _one_book(
        self, exchange: Any, semaphore: asyncio.Semaphore, symbol: str, depth: int
    ) -> tuple[pd.DataFrame | None, dict[str, Any]]:
        try:
            async with semaphore:
                book = await self._call(
                    f"{self.exchange_id} order book {symbol}",
                    lambda: exchange.fetch_order_book(symbol, limit=depth),
                )
            as_of = self.now()
            levels = book_levels(
                symbol,
                self.exchange_id,
                [row[:2] for row in book["bids"]],
                [row[:2] for row in book["asks"]],
                as_of,
                self.describe(),
                depth,
            )
        except ccxt.BaseError as exc:
            status = "unavailable" if isinstance(exc, ccxt.BadSymbol) else "error"
            return None, _status_row(
                symbol, self.exchange_id, status, f"{type(exc).__name__}: {one_line(exc)}"
            )
        except ValueError as exc:  # a crossed or otherwise broken book
            return None, _status_row(symbol, self.exchange_id, "error", one_line(exc))
        if levels.empty:
            return None, _status_row(symbol, self.exchange_id, "error", "empty book", as_of)
        return levels, _status_row(symbol, self.exchange_id, "ok", "", as_of, len(levels))


class RecordedOrderBooks(ConfigurableResource):
    """Replay of REAL recorded order books, read in place: Kraken WebSocket v1 ``book``
    sessions rebuilt with every checksum verified (the state at receive time ``until``, or at
    the end of the recording), and Binance REST depth snapshots. Each book keeps the time it
    was recorded as ``as_of``; a symbol with no recording gets an "unavailable" row."""

    recordings_dir: str
    kraken_ws_files: list[str] | None = None  # None: ["KRAKEN.ws.50.0"]
    binance_http_files: list[str] | None = None  # None: ["BINANCE.http.0.0"]
    until: float | None = None  # Kraken receive time (unix s) to stop at; None: the end

    _kraken: list[KrakenReplay] | None = PrivateAttr(default=None)
    _binance: list[DepthSnapshot] | None = PrivateAttr(default=None)

    def _names(self) -> tuple[list[str], list[str]]:
        kraken = KRAKEN_WS_BOOK_FILES if self.kraken_ws_files is None else self.kraken_ws_files
        binance = (
            BINANCE_DEPTH_FILES if self.binance_http_files is None else self.binance_http_files
        )
        return list(kraken), list(binance)

    def _files(self) -> list[Path]:
        root = Path(self.recordings_dir).expanduser()
        return [root / name for names in self._names() for name in names]

    def describe(self) -> str:
        names = ", ".join(p.name for p in self._files())
        return f"recorded books {Path(self.recordings_dir).expanduser()} ({names})"

    def _load(self) -> tuple[list[KrakenReplay], list[DepthSnapshot]]:
        if self._kraken is None or self._binance is None:
            missing = [str(p) for p in self._files() if not p.is_file()]
            if missing:
                raise OrderBookUnavailable(f"order-book recordings not found: {missing}")
            root = Path(self.recordings_dir).expanduser()
            kraken_names, binance_names = self._names()
            self._kraken = [replay_kraken_book(root / f, self.until) for f in kraken_names]
            self._binance = [s for f in binance_names for s in read_binance_depth(root / f)]
        return self._kraken, self._binance

    def recorded_symbols(self) -> list[str]:
        kraken, binance = self._load()
        return sorted(
            {b.symbol for r in kraken for b in r.books.values()} | {s.symbol for s in binance}
        )

    def fetch_order_books(self, symbols: list[str], depth: int = 100) -> OrderBookFetch:
        kraken, binance = self._load()
        source = self.describe()
        frames, rows = [], []
        for symbol in dict.fromkeys(symbols):
            found = False
            for book in (b for r in kraken for b in r.books.values() if b.symbol == symbol):
                found = True
                as_of = pd.Timestamp(book.as_of, unit="s", tz="UTC") if book.as_of else None
                if book.broken or book.snapshot_at is None:
                    reason = book.broken or "no snapshot recorded for this pair"
                    rows.append(_status_row(symbol, "kraken", "error", reason, as_of))
                    continue
                bids, asks = book.levels(depth)
                frames.append(book_levels(symbol, "kraken", bids, asks, as_of, source, depth))
                reason = f"Kraken WS v1 book rebuilt, {book.checksums_verified} checksums verified"
                rows.append(
                    _status_row(
                        symbol,
                        "kraken",
                        "replay",
                        reason,
                        as_of,
                        len(frames[-1]),
                        book.checksums_verified,
                    )
                )
            for snap in (s for s in binance if s.symbol == symbol):
                found = True
                frames.append(
                    book_levels(symbol, "binance", snap.bids, snap.asks, snap.as_of, source, depth)
                )
                reason = f"Binance REST depth snapshot (lastUpdateId {snap.last_update_id})"
                rows.append(
                    _status_row(symbol, "binance", "replay", reason, snap.as_of, len(frames[-1]))
                )
            if not found:
                rows.append(
                    _status_row(symbol, "", "unavailable", f"no recorded book for {symbol}")
                )
        books = typed_books(pd.concat(frames, ignore_index=True)) if frames else empty_books()
        stamps = [r.last_ts for r in kraken if r.last_ts] + [s.as_of.timestamp() for s in binance]
        as_of = pd.Timestamp(max(stamps), unit="s", tz="UTC") if stamps else pd.NaT
        return OrderBookFetch(books, symbol_status_frame(rows), "replay", as_of, source)


def order_book_source_for(settings: Settings) -> ConfigurableResource:
    """The order-book source for one environment: the recorded books beside a snapshot run,
    otherwise the live exchange over REST (Depth) or WebSocket (ccxt.pro), per settings."""
    if settings.source == "snapshot":
        return RecordedOrderBooks(recordings_dir=str(settings.risk_orderbook_dir))
    if settings.risk_book_transport == "websocket":
        from crypto_assets.resources.market_stream import KrakenStream

        return KrakenStream(
            exchange_id=settings.exchange_id, timeout_ms=settings.request_timeout_ms
        )
    return ExchangeOrderBooks(
        exchange_id=settings.exchange_id,
        max_concurrency=settings.max_concurrency,
        timeout_ms=settings.request_timeout_ms,
        max_retries=settings.max_retries,
    )
