"""CoinGecko's public coin list with platforms (``/coins/list?include_platform=true``): which
contract each coin has on which chain.

``CoinGeckoResource`` fetches it live (no key needed; an optional demo key is sent as
``x-cg-demo-api-key``). ``CoinGeckoReplay`` reads a recorded payload (JSON or JSON.gz) when one
is configured. None is recorded in ``../shared/data`` (a search of public repositories found
only the documentation's two-coin example), so by default the replay reports "unavailable" and
the coin mapping falls back to native coins only.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pandas as pd

from crypto_assets.frames import utc
from crypto_assets.onchain.contracts import parse_coin_list
from crypto_assets.onchain.source import OnchainResult, OnchainUnavailable, now_utc, result
from crypto_assets.resources.onchain_http import HttpSourceResource, readable_answer

API_URL = "https://api.coingecko.com/api/v3"


class CoinGeckoResource(HttpSourceResource):
    """Live CoinGecko coin list."""

    api_key: str | None = None
    base_url: str = API_URL
    calls_per_second: float = 0.2  # the public API allows a few calls per minute
    timeout_s: float = 60.0
    backoff_s: float = 5.0

    client_name: ClassVar[str] = "coingecko"

    def describe(self) -> str:
        where = "live api" if self.base_url == API_URL else f"api {self.base_url}"
        return f"coingecko coins/list ({where})"

    def _headers(self) -> dict[str, str] | None:
        return {"x-cg-demo-api-key": self.api_key} if self.api_key else None

    def fetch_coin_list(self) -> OnchainResult:
        as_of, before = now_utc(), self.http.requests
        payload = self.http.get("coins/list", {"include_platform": "true"})
        with readable_answer("coingecko"):
            frame = parse_coin_list(payload, self.describe(), as_of)
        return result(frame, self.describe(), "ok", as_of, requests=self.http.requests - before)


class CoinGeckoReplay(dg.ConfigurableResource):
    """A recorded coin list payload; ``recorded_at`` is the day it was fetched."""

    coin_list_file: str | None = None
    recorded_at: str | None = None  # default: the file's modification day

    def describe(self) -> str:
        return f"coingecko replay ({self.coin_list_file or 'nothing recorded'})"

    def fetch_coin_list(self) -> OnchainResult:
        if not self.coin_list_file:
            raise OnchainUnavailable(
                "no recorded CoinGecko /coins/list?include_platform=true payload "
                "(set CRYPTO_ASSETS_COINGECKO_COIN_LIST_FILE to one)"
            )
        path = Path(self.coin_list_file)
        if not path.exists():
            raise OnchainUnavailable(f"recorded coin list {path} not found")
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            payload = json.load(handle)
        when = self.recorded_at or pd.Timestamp(path.stat().st_mtime, unit="s").date()
        as_of = utc(pd.Timestamp(str(when)))
        return result(
            parse_coin_list(payload, self.describe(), as_of), self.describe(), "replay", as_of
        )
