"""A local HTTP server on 127.0.0.1 for the on-chain API clients: real recorded payloads where
they exist, with the APIs' paging, errors and rate limits around them.

What is REAL here (read in place from ../shared/data/onchain):
- Whale Alert ``/v1/transactions``: the recorded response's 24 transactions, verbatim, paged by
  ``limit`` with a server-made ``cursor`` (the recorded cursor is of the unpaged query);
- Etherscan ``token/tokenholderlist``: the 338 real holder addresses and balances of the
  recorded Etherscan holder export, in the API's documented envelope
  (``{"status","message","result":[{"TokenHolderAddress","TokenHolderQuantity"}]}``). The export
  gives balances in token units, so ``TokenHolderQuantity`` carries those, not the API's raw
  integer units (shares do not depend on the unit); paged by ``page``/``offset``;
- blockchain.com ``/charts/<name>``: the real daily BTC values of the recorded Kaggle file
  (which holds blockchain.info's chart series) in the charts API's documented shape.

Everything else a test serves is a PARSING FIXTURE in the shape of the official documentation,
registered by the test itself (``route``), which says so: no Etherscan ``tokentx``, daily stats
or block lookup, no Esplora and no CoinGecko coin-list payload is recorded here.

Faults per path (``inject``): HTTP 500 / 429 (JSON error body), a truncated body, Etherscan's
"Max rate limit reached" answer (HTTP 200), or a delay. ``etherscan_limit`` makes the server
enforce Etherscan's per-second limit itself, answering over-limit calls the way Etherscan does
and counting them (``violations``), for the rate-limit tests and benchmark.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from crypto_assets.settings import SHARED_DATA_DIR
from crypto_assets_tests.local_server import LocalServer, QuietHandler

ONCHAIN_DIR = SHARED_DATA_DIR / "onchain"
WHALE_FILE = ONCHAIN_DIR / "whale_alert_v1_transactions_2019-06-18.json"
HOLDER_FILE = ONCHAIN_DIR / "etherscan_tokenholders_0x1bBD79f1_2022-04-21.csv"
BTC_FILE = ONCHAIN_DIR / "bitcoin_dataset_onchain_daily.csv.gz"
HOLDER_TOKEN = "0x1bbd79f1ecb3f2ccc586a5e3a26ee1d1d2e1991f"
ETHERSCAN_RATE_LIMIT = {
    "status": "0",
    "message": "NOTOK",
    "result": "Max rate limit reached, please use API Key for higher rate limit",
}
FAULTS = ("http500", "http429", "truncated", "etherscan_ratelimit", "delay")
CHART_COLUMNS = {
    "n-transactions": "btc_n_transactions",
    "n-unique-addresses": "btc_n_unique_addresses",
    "transaction-fees": "btc_transaction_fees",
    "hash-rate": "btc_hash_rate",
    "difficulty": "btc_difficulty",
}
Handler = Callable[[str, dict[str, list[str]]], tuple[int, Any]]


@dataclass(frozen=True)
class Request:
    t: float  # time.monotonic() at arrival
    path: str
    query: dict[str, list[str]]
    status: int


@dataclass
class Fault:
    kind: str
    remaining: int
    delay_s: float = 0.0


def _one(query: dict[str, list[str]], name: str, default: str = "") -> str:
    return query.get(name, [default])[0]


class OnchainReplayServer(LocalServer):
    """Serve recorded on-chain payloads (and test-registered doc fixtures) on 127.0.0.1."""

    def __init__(self, whale_key: str = "test-whale-key", etherscan_key: str = "test-etherscan"):
        self.whale_key = whale_key
        self.etherscan_key = etherscan_key
        self.requests: list[Request] = []
        self.faults: dict[str, deque[Fault]] = {}
        self.routes: dict[str, Handler] = {}
        self.etherscan_actions: dict[str, Handler] = {}
        self.etherscan_limit: int | None = None  # calls per second the server enforces
        self.violations = 0
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self.whale_payload = json.loads(WHALE_FILE.read_text())
        self.route("/v1/transactions", self._whale_alert)
        self.route("/v2/api", self._etherscan)
        self.route("/charts/", self._chart)
        self.etherscan_action("tokenholderlist", self._holders)

    # ----------------------------------------------------------------- control
    def route(self, prefix: str, handler: Handler) -> None:
        self.routes[prefix] = handler

    def etherscan_action(self, action: str, handler: Handler) -> None:
        self.etherscan_actions[action] = handler

    def inject(self, path: str, kind: str, count: int = 1, delay_s: float = 0.0) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self.faults.setdefault(path, deque()).append(Fault(kind, count, delay_s))

    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path.startswith(path))

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for prefix, queue in self.faults.items():
                if path.startswith(prefix) and queue:
                    fault = queue[0]
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.popleft()
                    return fault
        return None

    # -------------------------------------------------------------- handlers
    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        for prefix, handler in self.routes.items():
            if path.startswith(prefix):
                return handler(path, query)
        return 404, {"error": "path not served by the on-chain replay server"}

    def _whale_alert(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if _one(query, "api_key") != self.whale_key:  # error body shaped as the docs show
            return 401, {"result": "error", "message": "invalid api_key"}
        start = int(_one(query, "start", "0"))
        end = int(_one(query, "end", str(2**40)))
        min_value = float(_one(query, "min_value", "0"))
        limit = int(_one(query, "limit", "100"))
        offset = int(_one(query, "cursor", "0") or 0)
        chosen = [
            t
            for t in self.whale_payload["transactions"]
            if start <= t["timestamp"] <= end and t["amount_usd"] >= min_value
        ]
        page = chosen[offset : offset + limit]
        body: dict[str, Any] = {"result": "success", "count": len(page), "transactions": page}
        if page:
            body["cursor"] = str(offset + len(page))
        return 200, body

    def _etherscan(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if self.etherscan_limit is not None and self._over_limit():
            return 200, ETHERSCAN_RATE_LIMIT
        if _one(query, "apikey") != self.etherscan_key:
            return 200, {"status": "0", "message": "NOTOK", "result": "Invalid API Key"}
        handler = self.etherscan_actions.get(_one(query, "action"))
        if handler is None:
            return 200, {
                "status": "0",
                "message": "NOTOK",
                "result": "Error! Missing Or invalid Action name",
            }
        return handler(path, query)

    def _over_limit(self) -> bool:
        with self._lock:
            now = time.monotonic()
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= (self.etherscan_limit or 0):
                self.violations += 1
                return True
            self._recent.append(now)
            return False

    def _holders(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if _one(query, "contractaddress").lower() != HOLDER_TOKEN:
            return 200, {"status": "0", "message": "No token holders found", "result": []}
        holders = pd.read_csv(HOLDER_FILE, dtype=str)
        page, offset = int(_one(query, "page", "1")), int(_one(query, "offset", "10"))
        chunk = holders.iloc[(page - 1) * offset : page * offset]
        rows = [
            {"TokenHolderAddress": r.HolderAddress, "TokenHolderQuantity": r.Balance}
            for r in chunk.itertuples()
        ]
        message = "OK" if rows else "No token holders found"
        return 200, {"status": "1" if rows else "0", "message": message, "result": rows}

    def _chart(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        name = path.rsplit("/", 1)[-1]
        if name not in CHART_COLUMNS:
            return 404, {"error": "Unknown chart"}
        raw = pd.read_csv(BTC_FILE)
        days = pd.to_datetime(raw["Date"], utc=True)
        start = pd.Timestamp(_one(query, "start", "2010-01-01"), tz="UTC")
        span = int(_one(query, "timespan", "30days").removesuffix("days"))
        mask = (days >= start) & (days < start + pd.Timedelta(days=span))
        values = [
            {"x": int(d.timestamp()), "y": float(v)}
            for d, v in zip(days[mask], raw.loc[mask, CHART_COLUMNS[name]], strict=True)
        ]
        return 200, {"status": "ok", "name": name, "unit": "", "period": "day", "values": values}


class _Handler(QuietHandler):
    replay: OnchainReplayServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        arrived = time.monotonic()
        fault = self.replay._next_fault(parts.path)
        status, payload = self.replay.answer(parts.path, query)
        body = json.dumps(payload).encode()
        if fault is not None:
            if fault.kind == "delay":
                time.sleep(fault.delay_s)
            elif fault.kind == "http500":
                status, body = 500, b"Internal Server Error"
            elif fault.kind == "http429":
                status, body = 429, b'{"result":"error","message":"rate limit exceeded"}'
            elif fault.kind == "truncated":
                body = body[: max(1, len(body) // 2)]
            elif fault.kind == "etherscan_ratelimit":
                status, body = 200, json.dumps(ETHERSCAN_RATE_LIMIT).encode()
        with self.replay._lock:
            self.replay.requests.append(Request(arrived, parts.path, query, status))
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def max_in_window(times: list[float], window_s: float = 1.0) -> int:
    """The most request arrivals in any sliding window of ``window_s`` seconds."""
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] >= window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
