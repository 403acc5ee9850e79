"""A local Kraken WebSocket v2 replay server, so ccxt.pro's real Kraken code runs on REAL data.

PROTOCOL, said plainly: the only Kraken WebSocket recording here
(``orderbook/KRAKEN.ws.50.0``, 2021-04-17) is protocol **v1** (arrays, ``XBT`` names, string
numbers, checksum in updates only), while ccxt.pro 4.5 speaks only **v2** to Kraken (JSON
objects, ``BTC`` names, numbers). So this server RE-ENVELOPES the recorded messages, one v2
message per recorded v1 message, in recorded order, values untouched:

- ``book``: the recorded snapshot becomes ``{"channel": "book", "type": "snapshot", "data":
  [{"symbol", "bids": [{"price", "qty"}], "asks": [...]}]}`` (no checksum: v1 snapshots carry
  none); each recorded update becomes a ``type: "update"`` message with the same levels, the
  recorded checksum and, as ``timestamp``, the newest level time of the update (RFC 3339). The
  price and qty digits are written exactly as recorded (JSON number literals).
- ``ohlc``: there is NO Kraken WebSocket candle recording. The server serves the real Kraken
  hourly candles of ``market/kraken_btc_eth`` (BTC/USD, ETH/USD; REST dumps, so no vwap field)
  in v2's ``ohlc`` shape: a snapshot of the last ``snapshot_candles`` candles that opened by the
  frozen ``now`` (the newest one may still be forming and carries its final recorded values,
  as the REST replay does), then, if ``ohlc_updates`` > 0, that many later recorded candles as
  ``update`` messages.

Anything else answers as Kraken v2 does: an unsupported pair gets ``success: false``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from typing import Any

import pandas as pd
from aiohttp import WSMsgType, web

from crypto_assets.risk.recordings import iter_kraken_ws, unify_kraken_pair
from crypto_assets_tests.replay_server import KRAKEN_HOURLY, KRAKEN_WS_BOOK


def _iso(seconds: float) -> str:
    return pd.Timestamp(seconds, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _levels(entries: list[list[str]]) -> str:
    return "[" + ",".join(f'{{"price":{p},"qty":{v}}}' for p, v, *_ in entries) + "]"


@functools.lru_cache(maxsize=1)
def v2_book_messages() -> dict[str, list[str]]:
    """Recorded v1 book messages of each pair, re-enveloped as v2 JSON text (by v2 symbol)."""
    out: dict[str, list[str]] = {}
    for _, message in iter_kraken_ws(KRAKEN_WS_BOOK):
        if not (isinstance(message, list) and str(message[-2]).startswith("book")):
            continue
        symbol = unify_kraken_pair(message[-1])
        parts = [p for p in message[1:-2] if isinstance(p, dict)]
        snapshot = any("as" in p for p in parts)
        asks = [e for p in parts for e in p.get("as" if snapshot else "a", [])]
        bids = [e for p in parts for e in p.get("bs" if snapshot else "b", [])]
        fields = [f'"symbol":"{symbol}"', f'"bids":{_levels(bids)}', f'"asks":{_levels(asks)}']
        if not snapshot:
            checksum = next((p["c"] for p in parts if "c" in p), None)
            if checksum is not None:
                fields.append(f'"checksum":{int(checksum)}')
            newest = max(float(e[2]) for e in asks + bids)
            fields.append(f'"timestamp":"{_iso(newest)}"')
        kind = "snapshot" if snapshot else "update"
        out.setdefault(symbol, []).append(
            f'{{"channel":"book","type":"{kind}","data":[{{{",".join(fields)}}}]}}'
        )
    return out


@functools.lru_cache(maxsize=1)
def _hourly() -> dict[str, pd.DataFrame]:
    frame = pd.read_parquet(KRAKEN_HOURLY)
    frame = frame.assign(date=pd.to_datetime(frame["time"], unit="s", utc=True))
    return {
        str(s): g.sort_values("date").reset_index(drop=True) for s, g in frame.groupby("symbol")
    }


def _candle(symbol: str, row: Any) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "open": float(row.open),
        "high": float(row.high),
        "low": float(row.low),
        "close": float(row.close),
        "trades": int(row.trades),
        "volume": float(row.volume),
        "interval_begin": row.date.strftime("%Y-%m-%dT%H:%M:%S.000000000Z"),
        "interval": 60,
    }


class KrakenWsReplayServer:
    """Serve the v2 re-enveloped recordings on ws://127.0.0.1:PORT/v2 from a daemon thread."""

    def __init__(
        self, now: str | pd.Timestamp, snapshot_candles: int = 24, ohlc_updates: int = 0
    ) -> None:
        self.now = pd.Timestamp(now)
        self.snapshot_candles = snapshot_candles
        self.ohlc_updates = ohlc_updates
        self.subscriptions: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/v2"

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=None)
        await socket.prepare(request)
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            body = json.loads(message.data)
            if body.get("method") == "ping":
                await socket.send_str(json.dumps({"method": "pong", "req_id": body.get("req_id")}))
            elif body.get("method") == "subscribe":
                self.subscriptions.append(body)
                await self._subscribe(socket, body)
        return socket

    async def _subscribe(self, socket: web.WebSocketResponse, body: dict[str, Any]) -> None:
        params = body.get("params", {})
        channel = params.get("channel")
        for symbol in params.get("symbol", []):
            messages = self._messages(channel, symbol)
            ack = {"method": "subscribe", "req_id": body.get("req_id"), "success": bool(messages)}
            if messages:
                ack["result"] = {"channel": channel, "symbol": symbol}
            else:
                ack["error"] = f"Currency pair not supported {symbol}"
            await socket.send_str(json.dumps(ack))
            for text in messages:
                await socket.send_str(text)

    def _messages(self, channel: str, symbol: str) -> list[str]:
        if channel == "book":
            return v2_book_messages().get(symbol, [])
        if channel == "ohlc" and symbol in _hourly():
            candles = _hourly()[symbol]
            opened = candles[candles["date"] <= self.now]
            shown = opened.tail(self.snapshot_candles)
            later = candles[candles["date"] > self.now].head(self.ohlc_updates)
            snapshot = {"channel": "ohlc", "type": "snapshot", "data": []}
            snapshot["data"] = [_candle(symbol, r) for r in shown.itertuples()]
            updates = [
                {"channel": "ohlc", "type": "update", "data": [_candle(symbol, r)]}
                for r in later.itertuples()
            ]
            return [json.dumps(m) for m in (snapshot, *updates)]
        return []

    def start(self) -> KrakenWsReplayServer:
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_get("/v2", self._handle)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._ready.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            future.result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)

    def __enter__(self) -> KrakenWsReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
