"""A local Kraken REST replay server: ccxt's real Kraken code path runs on REAL recorded payloads.

Only the network is replaced. Everything served comes from ``../shared/data`` (read in place):

- ``/0/public/AssetPairs``: one of the five recorded complete responses (``assetpairs=`` picks
  the date, default 2026-01-12). The 2026-03 file is a bare ``result`` object and is wrapped in
  Kraken's ``{"error": [], "result": ...}`` envelope.
- ``/0/public/Assets``: the recorded 2023-03 response, verbatim.
- ``/0/public/OHLC``:
  * ``interval=240`` for XXBTZUSD: the recorded 720-candle 4h response (2022-10-23..2023-02-19),
    rows verbatim (the window/``since`` rules below apply; at the default clock the answer is
    exactly the recorded payload, ``last`` included).
  * ``interval=60`` for XXBTZUSD / XETHZUSD: the real Kraken hourly candles of
    ``market/kraken_btc_eth/ohlcv_1h.parquet`` (time, open, high, low, close, volume, trades).
    Kraken's ``vwap`` field was NOT recorded in those dumps: it is served as the string
    ``"0.0"`` so the row keeps Kraken's 8-field shape. ccxt ignores vwap (it reads fields
    0-4 and 6); nothing downstream may read it. Hours without trades are absent in the dump and
    are absent here too (live Kraken would send a zero-volume candle).
  * anything else: Kraken's real error body ``{"error":["EQuery:Unknown asset pair"]}``.
  Kraken semantics: at most the 720 most recent candles up to the server's frozen clock
  ``now``; the last one may still be forming (open time + interval > now) and is served as the
  recorded, final values (a client must drop it); ``since`` keeps candles with time > since;
  ``last`` is the open time of the newest committed candle.
- ``/0/public/Ticker``: the recorded XBTUSDT ticker from ccxt's static tests, verbatim; other
  pairs answer ``EQuery:Unknown asset pair``.
- ``/0/public/Time``: the frozen clock.
- ``/0/public/Depth``: NO Kraken REST Depth response was ever recorded, so this answer is built
  from the REAL Kraken WebSocket v1 ``book`` recording (``orderbook/KRAKEN.ws.50.0``,
  2021-04-17): the book of the pair's ``wsname`` rebuilt (every checksum verified) up to receive
  time ``depth_at`` (default: the end of the recording), served in Depth's shape
  ``{pair_id: {"asks": [[price, volume, time], ...], "bids": [...]}}`` with the recorded price
  and volume strings and each level's recorded time cut to whole seconds (REST's form); at most
  ``count`` (default 100, as Kraken) levels per side. A pair in AssetPairs without a recorded
  book answers HTTP 404 (nothing recorded); an unknown pair, Kraken's ``EQuery`` error.

LOAD TEST ONLY (``load_test_snapshot=``, used by ``benchmarks/ingest.py``, never by the product
or its tests of correctness): Kraken pairs without recorded Kraken candles are answered at
interval=60 with the real Binance hourly candles of the same base coin from that snapshot,
so a full-universe ingestion moves realistic volumes of data. Such answers are counted in
``load_test_answers``.

Fault injection per path (``inject``): HTTP 500, truncated JSON, Kraken's rate-limit error
(HTTP 200 or 429), or a delay, each for the next N requests on that path. Every request is
logged (monotonic time, path, status) for the benchmark.
"""

from __future__ import annotations

import functools
import gzip
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from crypto_assets_tests.local_server import LocalServer, QuietHandler

DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
KRAKEN_API_DIR = DATA_DIR / "kraken_api"
KRAKEN_WS_BOOK = DATA_DIR / "orderbook" / "KRAKEN.ws.50.0"
KRAKEN_HOURLY = DATA_DIR / "market" / "kraken_btc_eth" / "ohlcv_1h.parquet"
ASSETPAIRS_DATES = ("2015-03-03", "2025-06-11", "2025-09-11", "2026-01-12", "2026-03-06")
# 30 min after the open of the last candle of the recorded 4h payload: the answer at
# interval=240 is then byte-for-byte the recorded one (its `last` is the candle before).
DEFAULT_NOW = "2023-02-19T20:30:00Z"
MAX_CANDLES = 720
UNKNOWN_PAIR = {"error": ["EQuery:Unknown asset pair"]}
RATE_LIMITED = {"error": ["EAPI:Rate limit exceeded"]}
FAULT_KINDS = ("http500", "truncated", "ratelimit", "http429", "delay")


def load_json_gz(path: Path) -> Any:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


@functools.lru_cache(maxsize=1)
def _recorded_4h() -> list[list[Any]]:
    recorded = load_json_gz(KRAKEN_API_DIR / "OHLC_XXBTZUSD_4h_2022-10-23_2023-02-19.json.gz")
    return recorded["result"]["XXBTZUSD"]


@functools.lru_cache(maxsize=1)
def _recorded_hourly() -> dict[str, pd.DataFrame]:
    """Real Kraken hourly candles by pair altname (XBTUSD, ETHUSD), read once per process."""
    hourly = pd.read_parquet(KRAKEN_HOURLY)
    return {
        str(k): g.sort_values("time").reset_index(drop=True)
        for k, g in hourly.groupby("kraken_pair")
    }


@functools.lru_cache(maxsize=4)
def recorded_ws_books(until: float | None = None) -> dict[str, Any]:
    """Kraken WS v1 books of the recording by wsname, rebuilt up to receive time ``until``."""
    from crypto_assets.risk.recordings import replay_kraken_book

    return replay_kraken_book(KRAKEN_WS_BOOK, until).books


@functools.lru_cache(maxsize=8)
def assetpairs_payload(date: str) -> dict[str, Any]:
    """The recorded AssetPairs response of ``date``, always in Kraken's envelope."""
    if date not in ASSETPAIRS_DATES:
        raise ValueError(f"no recorded AssetPairs for {date!r}; have {ASSETPAIRS_DATES}")
    raw = load_json_gz(KRAKEN_API_DIR / "assetpairs" / f"AssetPairs_{date}.json.gz")
    if "result" in raw and "error" in raw:
        return raw
    return {"error": [], "result": raw}  # 2026-03: the bare result object


@dataclass
class Fault:
    kind: str
    remaining: int
    delay_s: float = 0.0


@dataclass(frozen=True)
class RequestRecord:
    t: float  # time.monotonic()
    path: str
    query: str
    status: int


def _fmt(value: float) -> str:
    return repr(float(value))


def _hourly_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """Kraken OHLC rows [time, o, h, l, c, vwap, volume, count] from a recorded candle frame."""
    times = frame["time"].to_numpy()
    trades = frame["trades"].to_numpy() if "trades" in frame else [0] * len(frame)
    return [
        [int(t), _fmt(o), _fmt(h), _fmt(lo), _fmt(c), "0.0", f"{v:.8f}", int(n)]
        for t, o, h, lo, c, v, n in zip(
            times,
            frame["open"],
            frame["high"],
            frame["low"],
            frame["close"],
            frame["volume"],
            trades,
            strict=True,
        )
    ]


class KrakenReplayServer(LocalServer):
    """Serve recorded Kraken REST payloads on 127.0.0.1 (random port) from a daemon thread."""

    def __init__(
        self,
        assetpairs: str = "2026-01-12",
        now: str | pd.Timestamp = DEFAULT_NOW,
        load_test_snapshot: Path | None = None,
        depth_at: float | None = None,
    ) -> None:
        self.assetpairs_date = assetpairs
        self.depth_at = depth_at
        self.now = pd.Timestamp(now)
        self.faults: dict[str, deque[Fault]] = {}
        self.requests: list[RequestRecord] = []
        self.load_test_answers = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._bodies: dict[str, bytes] = {}
        self._pairs = assetpairs_payload(assetpairs)["result"]
        # query name (id, altname) -> canonical Kraken pair id, as the real API resolves it
        self._pair_ids: dict[str, str] = {}
        for pair_id, info in self._pairs.items():
            self._pair_ids[pair_id] = pair_id
            if isinstance(info, dict) and info.get("altname"):
                self._pair_ids.setdefault(info["altname"], pair_id)
        # (pair id, interval minutes) -> time-sorted Kraken rows, or a recorded candle frame
        self._ohlc: dict[tuple[str, int], list[list[Any]] | pd.DataFrame] = {}
        self._load_ohlc()
        self._load_test: dict[str, pd.DataFrame] = {}
        if load_test_snapshot is not None:
            self._load_binance(Path(load_test_snapshot))
        self._httpd: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ data
    def _load_ohlc(self) -> None:
        if "XXBTZUSD" in self._pairs:
            self._ohlc[("XXBTZUSD", 240)] = _recorded_4h()
        for altname, frame in _recorded_hourly().items():
            pair_id = self._pair_ids.get(altname)
            if pair_id is not None:
                self._ohlc[(pair_id, 60)] = frame

    def _load_binance(self, snapshot: Path) -> None:
        frame = pd.read_parquet(snapshot / "ohlcv_1h.parquet")
        frame["base"] = frame["symbol"].str.split("/").str[0]
        frame["time"] = frame["date"].astype("int64") // 10**9
        by_base = {
            b: g.sort_values("time").reset_index(drop=True) for b, g in frame.groupby("base")
        }
        for pair_id, info in self._pairs.items():
            wsname = info.get("wsname") if isinstance(info, dict) else None
            if not wsname or (pair_id, 60) in self._ohlc:
                continue
            base = wsname.split("/")[0].replace("XBT", "BTC").replace("XDG", "DOGE")
            if base in by_base:
                self._load_test[pair_id] = by_base[base]

    # --------------------------------------------------------------- control
    def inject(self, path: str, kind: str, count: int = 1, delay_s: float = 0.0) -> None:
        """Make the next ``count`` requests on ``path`` (e.g. "/0/public/OHLC") fail as ``kind``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose from {FAULT_KINDS}")
        with self._lock:
            self.faults.setdefault(path, deque()).append(Fault(kind, count, delay_s))

    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    # ------------------------------------------------------------- responses
    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(path)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            return fault

    def _static(self, key: str, build: Any) -> bytes:
        if key not in self._bodies:
            self._bodies[key] = json.dumps(build(), separators=(",", ":")).encode()
        return self._bodies[key]

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        """Status and JSON body for one request (no faults applied)."""
        now_s = int(self.now.timestamp())
        if path == "/0/public/AssetPairs":
            return 200, self._static("pairs", lambda: {"error": [], "result": self._pairs})
        if path == "/0/public/Assets":
            return 200, self._static(
                "assets", lambda: load_json_gz(KRAKEN_API_DIR / "Assets_2023-03.json.gz")
            )
        if path == "/0/public/Time":
            rfc = formatdate(now_s, usegmt=True)
            return 200, json.dumps(
                {"error": [], "result": {"unixtime": now_s, "rfc1123": rfc}}
            ).encode()
        if path == "/0/public/Ticker":
            return 200, self._ticker(query)
        if path == "/0/public/OHLC":
            return 200, self._ohlc_answer(query, now_s)
        if path == "/0/public/Depth":
            return self._depth_answer(query)
        if path == "/_replay/requests":  # not Kraken: the request log, for the benchmark
            with self._lock:
                log = [[r.t, r.path, r.status] for r in self.requests]
                extra = {"load_test_answers": self.load_test_answers}
            return 200, json.dumps({"requests": log, **extra}).encode()
        return 404, b"path not recorded in the Kraken replay server"

    def _ticker(self, query: dict[str, list[str]]) -> bytes:
        pair = query.get("pair", [""])[0]
        recorded = json.loads((KRAKEN_API_DIR / "kraken_http_responses.json").read_text())
        response = recorded["fetchTicker"][0]["httpResponse"]
        if pair not in response["result"]:
            return json.dumps(UNKNOWN_PAIR).encode()
        return json.dumps(response).encode()

    def _depth_answer(self, query: dict[str, list[str]]) -> tuple[int, bytes]:
        pair_id = self._pair_ids.get(query.get("pair", [""])[0])
        if pair_id is None:
            return 200, json.dumps(UNKNOWN_PAIR).encode()
        book = recorded_ws_books(self.depth_at).get(self._pairs[pair_id].get("wsname"))
        if book is None or book.snapshot_at is None or book.broken:
            return 404, b"no recorded order book for this pair"
        count = max(1, min(int(query.get("count", ["100"])[0]), 500))
        sides = {
            name: [[p, v, int(float(t))] for p, v, t in side.top(count)]
            for name, side in (("asks", book.asks), ("bids", book.bids))
        }
        return 200, json.dumps({"error": [], "result": {pair_id: sides}}).encode()

    def _ohlc_answer(self, query: dict[str, list[str]], now_s: int) -> bytes:
        pair_id = self._pair_ids.get(query.get("pair", [""])[0])
        interval = int(query.get("interval", ["1"])[0])
        rows = self._ohlc.get((pair_id, interval)) if pair_id else None
        if rows is None and pair_id in self._load_test and interval == 60:
            rows = self._load_test[pair_id]
            with self._lock:
                self.load_test_answers += 1
        if rows is None:
            return json.dumps(UNKNOWN_PAIR).encode()
        if isinstance(rows, pd.DataFrame):  # only the visible window is formatted
            cut = int(rows["time"].searchsorted(now_s, side="right"))
            rows = _hourly_rows(rows.iloc[max(0, cut - MAX_CANDLES) : cut])
        visible = [r for r in rows if int(r[0]) <= now_s][-MAX_CANDLES:]
        committed = [r for r in visible if int(r[0]) + interval * 60 <= now_s]
        last = int(committed[-1][0]) if committed else (int(visible[0][0]) if visible else 0)
        if "since" in query:
            since = int(float(query["since"][0]))
            visible = [r for r in visible if int(r[0]) > since]
        body = {"error": [], "result": {pair_id: visible, "last": last}}
        return json.dumps(body, separators=(",", ":")).encode()


class _Handler(QuietHandler):
    replay: KrakenReplayServer

    def do_GET(self) -> None:
        with self.replay._lock:
            self.replay.in_flight += 1
            self.replay.max_in_flight = max(self.replay.max_in_flight, self.replay.in_flight)
        try:
            self._answer()
        finally:
            with self.replay._lock:
                self.replay.in_flight -= 1

    def _log(self, path: str, query: str, status: int) -> None:
        with self.replay._lock:
            self.replay.requests.append(RequestRecord(time.monotonic(), path, query, status))

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        fault = self.replay._next_fault(parts.path)
        status, body = self.replay.answer(parts.path, query)
        if fault is not None:
            if fault.kind == "delay":
                self._log(parts.path, parts.query, status)  # logged at arrival
                time.sleep(fault.delay_s)
            elif fault.kind == "http500":
                status, body = 500, b"Internal Server Error"
            elif fault.kind == "truncated":
                body = body[: max(1, len(body) // 2)]
            elif fault.kind == "ratelimit":
                status, body = 200, json.dumps(RATE_LIMITED).encode()
            elif fault.kind == "http429":
                status, body = 429, json.dumps(RATE_LIMITED).encode()
        is_control = parts.path.startswith("/_replay/")
        if not is_control and (fault is None or fault.kind != "delay"):
            self._log(parts.path, parts.query, status)
        content_type = "application/json" if body[:1] in (b"{", b"[") else "text/plain"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout test)
            pass


def main(argv: list[str] | None = None) -> None:
    """Run the replay server in the foreground (prints its URL, serves until interrupted)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assetpairs", default="2026-01-12", choices=ASSETPAIRS_DATES)
    parser.add_argument("--now", default=DEFAULT_NOW)
    parser.add_argument(
        "--load-test-snapshot", type=Path, default=None, help="LOAD TEST ONLY (see module doc)"
    )
    args = parser.parse_args(argv)
    server = KrakenReplayServer(args.assetpairs, args.now, args.load_test_snapshot).start()
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
