"""A local HTTP server on 127.0.0.1 for the text clients: each route answers a queue of canned
responses (status, headers, body) and every request is logged (monotonic time, path, query).

What it serves is said by each test: REAL recorded payloads where they exist (the DefiLlama
hacks record; real recorded Reddit/CryptoPanic/Telegram texts placed in the documented shapes),
and doc-shaped parsing fixtures where no real payload exists here (RSS/Atom, Discord, X)."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Canned:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncate: int | None = None  # send only the first N bytes of the body (a cut connection)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            data = self.body
        elif isinstance(self.body, str):
            data = self.body.encode()
        else:
            data = json.dumps(self.body).encode()
        return data[: self.truncate] if self.truncate is not None else data


@dataclass
class Logged:
    t: float
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class TextServer:
    """Routes: ``server.route("/path", Canned(...), Canned(...))``; the last answer repeats."""

    def __init__(self) -> None:
        self.routes: dict[str, deque[Canned]] = defaultdict(deque)
        self.log: list[Logged] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                parts = urlsplit(self.path)
                server.log.append(
                    Logged(
                        time.monotonic(),
                        self.command,
                        parts.path,
                        parse_qs(parts.query),
                        dict(self.headers.items()),
                    )
                )
                queue = server.routes.get(parts.path)
                if self.command == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    self.rfile.read(length)
                if not queue:
                    canned = Canned(404, {"error": "not found"})
                else:
                    canned = queue.popleft() if len(queue) > 1 else queue[0]
                data = canned.payload()
                self.send_response(canned.status)
                for key, value in canned.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def route(self, path: str, *answers: Canned) -> None:
        self.routes[path] = deque(answers)

    def requests_to(self, path: str) -> list[Logged]:
        return [r for r in self.log if r.path == path]

    def __enter__(self) -> TextServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
