"""The HTTP plumbing every on-chain client shares: a sliding-window rate limiter, retries with
backoff on transient failures, strict JSON, and a log of request times (for the rate-limit
benchmark). Failures that outlast the retries become :class:`OnchainUnavailable` with one line
that never contains the API key."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import dagster as dg
import requests
from pydantic import PrivateAttr

from crypto_assets.onchain.source import OnchainUnavailable

log = logging.getLogger(__name__)
TRANSIENT_HTTP = {429, 500, 502, 503, 504}
SECRET_PARAMS = re.compile(r"(api_?key|apikey|x-cg-demo-api-key)=[^&\s]+", re.IGNORECASE)


def redact(text: object) -> str:
    """One line without any key=... secret (URLs in exceptions carry query strings)."""
    return " ".join(SECRET_PARAMS.sub(r"\1=***", str(text)).split())[:300]


@contextlib.contextmanager
def readable_answer(name: str) -> Iterator[None]:
    """Turn a parser's complaint about an API answer (missing field, wrong type) into a status
    row ("error") instead of a failed run: the API changed or sent garbage, the code did not."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        raise OnchainUnavailable(f"{name}: unreadable answer: {exc!r}"[:300], "error") from exc


class RetryableAnswer(Exception):
    """An answer the API gives when it wants the client to slow down or retry (HTTP 200 with an
    error body, e.g. Etherscan's "Max rate limit reached")."""


class SlidingWindowLimiter:
    """At most ``calls`` request starts in any ``period`` seconds (plus ``margin``), thread-safe.

    A fixed spacing of period/calls can still fit calls+1 starts in a closed one-second window;
    the sliding window cannot. The margin absorbs arrival jitter: the server counts arrivals,
    the client only controls starts."""

    def __init__(self, calls: float, period: float = 1.0, margin: float = 0.05) -> None:
        if calls <= 0:
            raise ValueError("calls must be positive")
        self.calls = max(1, int(calls)) if calls >= 1 else 1
        self.period = period if calls >= 1 else period / calls
        self.margin = margin
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until a request may start; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                while self._starts and now - self._starts[0] >= self.period + self.margin:
                    self._starts.popleft()
                if len(self._starts) < self.calls:
                    self._starts.append(now)
                    return waited
                pause = self._starts[0] + self.period + self.margin - now
            time.sleep(max(pause, 0.001))
            waited += max(pause, 0.001)


class JsonHttp:
    """GET JSON from one API under a rate limit, with bounded retries.

    ``check`` inspects a decoded body: it raises :class:`RetryableAnswer` to retry (rate-limit
    bodies sent with HTTP 200) or :class:`OnchainUnavailable` to stop."""

    def __init__(
        self,
        name: str,
        base_url: str,
        calls_per_second: float,
        timeout_s: float = 20.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        daily_limit: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.limiter = SlidingWindowLimiter(calls_per_second)
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.daily_limit = daily_limit
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", **dict(headers or {})})
        self.request_times: list[float] = []  # monotonic start time of every request sent
        self.retries = 0
        self._day: str = ""
        self._day_count = 0

    @property
    def requests(self) -> int:
        return len(self.request_times)

    def _count_today(self) -> None:
        today = time.strftime("%Y-%m-%d", time.gmtime())
        if today != self._day:
            self._day, self._day_count = today, 0
        if self.daily_limit is not None and self._day_count >= self.daily_limit:
            raise OnchainUnavailable(
                f"{self.name}: daily quota of {self.daily_limit} calls used in this process"
            )
        self._day_count += 1

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        check: Callable[[Any], None] | None = None,
    ) -> Any:
        """Decoded JSON of GET base_url/path; retries transient failures, then gives up with
        OnchainUnavailable (status "unavailable", or "error" for a refused request)."""
        url = f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.retries += 1
            self._count_today()
            self.limiter.wait()
            self.request_times.append(time.monotonic())
            try:
                response = self.session.get(url, params=params, timeout=self.timeout_s)
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {redact(exc)}"
                self._sleep(attempt, None)
                continue
            if response.status_code in (401, 403):
                raise OnchainUnavailable(
                    f"{self.name}: HTTP {response.status_code} {redact(response.text[:200])}",
                    "error",
                )
            if response.status_code in TRANSIENT_HTTP:
                last = f"HTTP {response.status_code} {redact(response.text[:120])}"
                self._sleep(attempt, response.headers.get("Retry-After"))
                continue
            if response.status_code >= 400:
                raise OnchainUnavailable(
                    f"{self.name}: HTTP {response.status_code} {redact(response.text[:200])}",
                    "error",
                )
            try:
                payload = response.json()
            except ValueError:
                last = f"truncated or invalid JSON body ({len(response.content)} bytes)"
                self._sleep(attempt, None)
                continue
            try:
                if check is not None:
                    check(payload)
            except RetryableAnswer as exc:
                last = redact(exc)
                self._sleep(attempt, None)
                continue
            return payload
        raise OnchainUnavailable(
            f"{self.name}: gave up after {self.max_retries + 1} attempts: {last}", "unavailable"
        )

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        if attempt >= self.max_retries:
            return
        delay = self.backoff_s * (2**attempt)
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = max(delay, float(retry_after))
        log.info("%s: retry %d in %.2f s", self.name, attempt + 1, delay)
        time.sleep(delay)

    def close(self) -> None:
        self.session.close()


class HttpSourceResource(dg.ConfigurableResource):
    """Base of the on-chain API clients: connection knobs as config, one lazily built
    :class:`JsonHttp` per resource instance (its request log feeds the benchmark)."""

    base_url: str
    calls_per_second: float = 1.0
    timeout_s: float = 20.0
    max_retries: int = 4
    backoff_s: float = 1.0

    _http: JsonHttp | None = PrivateAttr(default=None)
    client_name: ClassVar[str] = "http"

    def _headers(self) -> dict[str, str] | None:
        return None

    def _daily_limit(self) -> int | None:
        return None

    @property
    def http(self) -> JsonHttp:
        if self._http is None:
            self._http = JsonHttp(
                self.client_name,
                self.base_url,
                self.calls_per_second,
                self.timeout_s,
                self.max_retries,
                self.backoff_s,
                self._daily_limit(),
                self._headers(),
            )
        return self._http
