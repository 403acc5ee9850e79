"""A local Binance spot REST replay server: ccxt's real Binance code path over HTTP on 127.0.0.1.

Only the network is replaced. The candles served are REAL: the Binance daily candles of
``market/binance_2024/ohlcv_1d.parquet`` (read in place).

- ``GET /api/v3/klines`` (symbol, interval, startTime, endTime, limit) with Binance's rules:
  only ``interval=1d`` is recorded; ``startTime`` keeps candles opening at or after it,
  ``endTime`` at or before it; ``limit`` defaults to 500, at most 1000; with ``startTime`` the
  earliest ``limit`` candles, otherwise the latest; only candles opened by the server's frozen
  clock ``now`` (the last one may still be forming and is served with its final recorded values,
  as a client must drop it anyway). Rows are Binance's kline arrays ``[openTime, "open", "high",
  "low", "close", "volume", closeTime, quoteVolume, trades, takerBase, takerQuote, "0"]``; the
  recording holds OHLCV only, so quoteVolume, trades and the taker fields are served as "0" / 0
  (ccxt reads fields 0-5 only; nothing downstream may read them). An unknown symbol gets
  Binance's ``{"code": -1121, "msg": "Invalid symbol."}`` (HTTP 400), another interval
  ``-1120 Invalid interval``.
- ``GET /api/v3/exchangeInfo``: NO recorded Binance exchangeInfo response is available here, so
  this one is a PARSING FIXTURE: one entry per served symbol in the field shape of Binance's
  documentation (the spot example ccxt quotes in ``binance.fetch_markets``), status
  ``TRADING`` unless named in ``halted`` (``BREAK``). Only the symbol list comes from the data.

Every request is logged (path, query, status) so tests can count pages.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

from crypto_assets_tests.local_server import LocalServer, QuietHandler
from crypto_assets_tests.replay_server import DATA_DIR

BINANCE_DAILY = DATA_DIR / "market" / "binance_2024" / "ohlcv_1d.parquet"
DAY_MS = 86_400_000
DEFAULT_NOW = "2024-09-08T00:00:00Z"  # after the recording's last daily candle (2024-09-06)
INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}
INVALID_INTERVAL = {"code": -1120, "msg": "Invalid interval."}
# quoteVolume, trades, takerBase, takerQuote, ignore: not in the recording (see above)
UNRECORDED = ("0", 0, "0", "0", "0")


@functools.lru_cache(maxsize=1)
def recorded_daily() -> pd.DataFrame:
    """The real Binance daily candles (symbol like "BTC/USDT", date, OHLCV), read once."""
    frame = pd.read_parquet(BINANCE_DAILY)
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    return frame.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)


def _symbol_info(symbol: str, status: str) -> dict[str, Any]:
    """One exchangeInfo ``symbols`` entry in the documented shape (parsing fixture)."""
    base, quote = symbol.split("/")
    return {
        "symbol": f"{base}{quote}",
        "status": status,
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [],
        "permissions": ["SPOT"],
    }


class BinanceReplayServer(LocalServer):
    """Serve the recorded Binance daily candles on 127.0.0.1 (random port), Binance-style."""

    def __init__(
        self,
        symbols: Iterable[str] | None = None,
        now: str | pd.Timestamp = DEFAULT_NOW,
        halted: Iterable[str] = (),
    ) -> None:
        frame = recorded_daily()
        wanted = sorted(set(symbols)) if symbols is not None else sorted(frame["symbol"].unique())
        self.now = pd.Timestamp(now)
        self.halted = set(halted)
        self.requests: list[tuple[str, dict[str, list[str]], int]] = []
        self._lock = threading.Lock()
        self._candles: dict[str, pd.DataFrame] = {}
        for symbol, group in frame.loc[frame["symbol"].isin(wanted)].groupby("symbol"):
            self._candles[str(symbol).replace("/", "")] = group.reset_index(drop=True)
        self._info = [_symbol_info(s, "BREAK" if s in self.halted else "TRADING") for s in wanted]
        self._httpd: ThreadingHTTPServer | None = None

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _, _ in self.requests if p == path)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        """Status and JSON body for one request."""
        if path == "/api/v3/exchangeInfo":
            now_ms = int(self.now.value // 10**6)
            return 200, {
                "timezone": "UTC",
                "serverTime": now_ms,
                "rateLimits": [],
                "exchangeFilters": [],
                "symbols": self._info,
            }
        if path == "/api/v3/klines":
            return self._klines(query)
        return 404, {"code": -1, "msg": "path not recorded in the Binance replay server"}

    def _klines(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        candles = self._candles.get(query.get("symbol", [""])[0])
        if candles is None:
            return 400, INVALID_SYMBOL
        if query.get("interval", [""])[0] != "1d":
            return 400, INVALID_INTERVAL
        limit = min(max(int(query.get("limit", ["500"])[0]), 1), 1000)
        opens = candles["date"].astype("int64").to_numpy() // 10**6
        mask = opens <= self.now.value // 10**6
        if "startTime" in query:
            mask &= opens >= int(query["startTime"][0])
        if "endTime" in query:
            mask &= opens <= int(query["endTime"][0])
        rows = np.flatnonzero(mask)
        rows = rows[:limit] if "startTime" in query else rows[-limit:]
        picked = candles.iloc[rows]
        return 200, [
            [int(t), repr(o), repr(h), repr(lo), repr(c), repr(v), int(t) + DAY_MS - 1, *UNRECORDED]
            for t, o, h, lo, c, v in zip(
                opens[rows],
                picked["open"].astype(float).tolist(),
                picked["high"].astype(float).tolist(),
                picked["low"].astype(float).tolist(),
                picked["close"].astype(float).tolist(),
                picked["volume"].astype(float).tolist(),
                strict=True,
            )
        ]


class _Handler(QuietHandler):
    replay: BinanceReplayServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        status, payload = self.replay.answer(parts.path, query)
        with self.replay._lock:
            self.replay.requests.append((parts.path, query, status))
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
