"""Who may read and post: the bind rule, the access token, cross-site request checks, and the
limits on what a request may carry.

- Bound to 127.0.0.1 by default. Bound anywhere else, a token (``CRYPTO_ASSETS_DASHBOARD_TOKEN``)
  is required to start at all, and every request must carry it, as HTTP Basic auth (any user
  name, the token as password; the browser asks once) or ``Authorization: Bearer <token>``. It
  travels in clear text over plain HTTP: put a TLS proxy in front beyond a trusted network.
- A post changes state only when it comes from the dashboard's own page: its ``Origin`` (or,
  without one, ``Referer``) must be this host, and its form token must equal the ``csrf``
  cookie the page set (SameSite=Strict). Anything else is a 403 and nothing is stored.
- Query strings and bodies are bounded; unknown parameters are refused (400), not ignored.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from urllib.parse import urlsplit

MAX_QUERY_CHARS = 1024
MAX_BODY_BYTES = 8 * 1024  # a verdict with the longest note fits several times over
CSRF_COOKIE = "csrf"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class StartRefused(RuntimeError):
    """The dashboard would be reachable from other machines without a token."""


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve beyond this machine without a token (``StartRefused``, one line)."""
    if not is_loopback(host) and not token:
        raise StartRefused(
            f"refusing to bind the dashboard to {host} without a token: set "
            "CRYPTO_ASSETS_DASHBOARD_TOKEN (at least 12 characters) or bind to 127.0.0.1"
        )


def token_ok(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries the token (Basic password or Bearer)."""
    if not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        offered = value.strip()
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        offered = decoded.partition(":")[2]
    else:
        return False
    return hmac.compare_digest(offered.encode(), token.encode())


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def same_origin(origin: str | None, referer: str | None, host: str | None) -> bool:
    """Whether a post comes from a page of this host (``Origin``, else ``Referer``)."""
    if not host:
        return False
    source = origin if origin not in (None, "", "null") else referer
    if not source:
        return False
    return urlsplit(source).netloc.lower() == host.lower()


def csrf_ok(cookie: str | None, submitted: str | None) -> bool:
    return bool(cookie and submitted) and hmac.compare_digest(cookie.encode(), submitted.encode())
