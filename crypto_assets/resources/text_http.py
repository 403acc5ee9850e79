"""One polite HTTP client for the text sources: spacing between requests, the server's own
rate-limit headers, 429 with Retry-After, retries with backoff, and a refusal of truncated
bodies. Every request is logged (monotonic time, status, wait) so the benchmark can show that
the configured rate was never exceeded.

Rate-limit headers understood (whichever the server sends):
- ``Retry-After`` (seconds or an HTTP date) on 429/503;
- Discord: JSON ``retry_after`` on 429, ``X-RateLimit-Remaining`` + ``X-RateLimit-Reset-After``;
- Reddit: ``x-ratelimit-remaining`` + ``x-ratelimit-reset`` (seconds);
- X API v2: ``x-rate-limit-remaining`` + ``x-rate-limit-reset`` (epoch seconds).
When ``remaining`` reaches 0 the client waits for the reset before its next request.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from crypto_assets.social.source import TextSourceUnavailable

log = logging.getLogger(__name__)
USER_AGENT = "crypto_assets/0.1 (+https://github.com/crypto_assets; text signals)"


@dataclass
class RequestLog:
    t: float  # time.monotonic() when sent
    url: str
    status: int
    waited_s: float  # time slept before this request (spacing, reset or Retry-After)


@dataclass
class PoliteHttp:
    min_interval_s: float = 1.0
    max_retries: int = 3
    backoff_base_s: float = 1.0
    timeout_s: float = 20.0
    max_wait_s: float = 120.0  # a Retry-After longer than this gives up (status unavailable)
    user_agent: str = USER_AGENT
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    log: list[RequestLog] = field(default_factory=list)
    _session: requests.Session | None = None
    _next_at: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.log)

    def _wait_turn(self) -> float:
        delay = max(0.0, self._next_at - self.clock())
        if delay > 0:
            self.sleep(delay)
        return delay

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if self._session is None:
            self._session = requests.Session()
        headers = {"User-Agent": self.user_agent, **kwargs.pop("headers", {})}
        waited = self._wait_turn()
        sent = self.clock()
        self._next_at = sent + self.min_interval_s
        try:
            response = self._session.request(
                method, url, headers=headers, timeout=self.timeout_s, **kwargs
            )
        except requests.RequestException as exc:
            self.log.append(RequestLog(sent, url, 0, waited))
            raise _Transient(f"{type(exc).__name__}: {_line(exc)}") from exc
        self.log.append(RequestLog(sent, url, response.status_code, waited))
        self._respect_remaining(response)
        return response

    def _respect_remaining(self, response: requests.Response) -> None:
        """Hold the next request until the window resets when the server says 0 are left."""
        h = response.headers
        remaining = h.get("x-ratelimit-remaining") or h.get("x-rate-limit-remaining")
        if remaining is None or float(remaining) > 0:
            return
        reset = _float(h.get("x-ratelimit-reset-after") or h.get("x-ratelimit-reset"))
        epoch = _float(h.get("x-rate-limit-reset"))
        if epoch is not None:
            reset = max(0.0, epoch - time.time())
        if reset is not None:
            self._next_at = max(self._next_at, self.clock() + min(reset, self.max_wait_s))

    def request(self, url: str, method: str = "GET", **kwargs: Any) -> requests.Response:
        """A 2xx response, after honouring 429s and retrying transient failures.

        Raises TextSourceUnavailable: ``no_key`` for 401/403, ``unavailable`` when the network
        or server stays down or asks to wait longer than ``max_wait_s``, ``error`` otherwise.
        """
        attempt = 0
        while True:
            try:
                response = self._send(method, url, **kwargs)
            except _Transient as exc:
                attempt = self._backoff(attempt, str(exc), url)
                continue
            status = response.status_code
            if 200 <= status < 300:
                return response
            if status == 429 or (status == 503 and "Retry-After" in response.headers):
                wait = retry_after_s(response)
                if wait > self.max_wait_s:
                    raise TextSourceUnavailable(
                        "unavailable", f"rate limited by {_host(url)} for {wait:.0f} s"
                    )
                self._next_at = max(self._next_at, self.clock() + wait)
                attempt = self._count(attempt, f"HTTP {status} rate limited", url)
                continue
            if status >= 500:
                attempt = self._backoff(attempt, f"HTTP {status}", url)
                continue
            if status in (401, 403):
                raise TextSourceUnavailable(
                    "no_key", f"{_host(url)} refused the credentials (HTTP {status})"
                )
            raise TextSourceUnavailable(
                "error", f"{_host(url)} answered HTTP {status}: {_body(response)}"
            )

    def get_json(self, url: str, **kwargs: Any) -> Any:
        """Parsed JSON of a 2xx answer; a truncated or non-JSON body is retried, then an error."""
        attempt = 0
        while True:
            response = self.request(url, **kwargs)
            try:
                return json.loads(response.content)
            except ValueError:
                reason = f"truncated or invalid JSON ({len(response.content)} bytes)"
                attempt = self._backoff(attempt, reason, url, final="error")

    def get_bytes(self, url: str, **kwargs: Any) -> bytes:
        return self.request(url, **kwargs).content

    def _count(self, attempt: int, reason: str, url: str, final: str = "unavailable") -> int:
        if attempt >= self.max_retries:
            raise TextSourceUnavailable(final, f"{_host(url)}: {reason} after {attempt + 1} tries")  # type: ignore[arg-type]
        log.warning("%s: %s, retry %d/%d", _host(url), reason, attempt + 1, self.max_retries)
        return attempt + 1

    def _backoff(self, attempt: int, reason: str, url: str, final: str = "unavailable") -> int:
        attempt = self._count(attempt, reason, url, final)
        self._next_at = max(self._next_at, self.clock() + self.backoff_base_s * 2 ** (attempt - 1))
        return attempt


class _Transient(Exception):
    pass


def retry_after_s(response: requests.Response) -> float:
    """Seconds to wait from Retry-After (seconds or HTTP date), Discord's JSON ``retry_after``,
    or the rate-limit reset headers; 1 s when the server says nothing."""
    header = response.headers.get("Retry-After")
    if header:
        value = _float(header)
        if value is not None:
            return max(value, 0.0)
        parsed = email.utils.parsedate_to_datetime(header)
        return max(parsed.timestamp() - time.time(), 0.0)
    try:
        body = response.json()
        if isinstance(body, dict) and "retry_after" in body:
            return float(body["retry_after"])
    except ValueError:
        pass
    reset = _float(
        response.headers.get("x-ratelimit-reset-after") or response.headers.get("x-ratelimit-reset")
    )
    if reset is not None:
        return reset
    epoch = _float(response.headers.get("x-rate-limit-reset"))
    return max(epoch - time.time(), 0.0) if epoch is not None else 1.0


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _host(url: str) -> str:
    return requests.utils.urlparse(url).netloc or url


def _line(value: object, limit: int = 200) -> str:
    flat = " ".join(str(value).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _body(response: requests.Response) -> str:
    return _line(response.text, 200)
