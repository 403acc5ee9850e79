"""Whale Alert ``/v1/transactions``: large transfers across chains with owner labels.

``WhaleAlertResource`` is the live client (key: CRYPTO_ASSETS_WHALE_ALERT_API_KEY). It pages
with Whale Alert's ``cursor`` until a page comes back short, retries HTTP 429/5xx and truncated
bodies, and reports Whale Alert's own error message. Plan limits are Whale Alert's (how far
back a key may query, the smallest ``min_value``): a query outside them gets Whale Alert's
refusal as its status, not an invented day.

``WhaleAlertReplay`` answers from the recorded real response
(``whale_alert_v1_transactions_2019-06-18.json``: 24 transfers, 2019-06-18 05:49-05:55 UTC).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import pandas as pd

from crypto_assets.frames import utc
from crypto_assets.onchain.source import OnchainResult, OnchainUnavailable, now_utc, result
from crypto_assets.onchain.transfers import parse_whale_alert, unique_in_window
from crypto_assets.resources.onchain_http import HttpSourceResource, readable_answer

API_URL = "https://api.whale-alert.io/v1"
RECORDING = "whale_alert_v1_transactions_2019-06-18.json"
MAX_PAGE = 100  # Whale Alert's maximum ``limit``


def check_whale_alert(payload: Any) -> None:
    if not isinstance(payload, dict):
        raise OnchainUnavailable(f"whale_alert: unexpected body {str(payload)[:120]}", "error")
    if payload.get("result") != "success":
        raise OnchainUnavailable(f"whale_alert: {payload.get('message', payload)}"[:300], "error")


class WhaleAlertResource(HttpSourceResource):
    """Live Whale Alert client."""

    api_key: str | None = None
    base_url: str = API_URL
    calls_per_second: float = 0.16  # ~10 requests per minute, a free-plan pace
    page_size: int = MAX_PAGE
    max_pages: int = 200
    backoff_s: float = 2.0

    client_name: ClassVar[str] = "whale_alert"

    def describe(self) -> str:
        where = "live api" if self.base_url == API_URL else f"api {self.base_url}"
        return f"whale_alert ({where})"

    def fetch_transfers(
        self, start: pd.Timestamp, end: pd.Timestamp, min_usd: float, watch: pd.DataFrame
    ) -> OnchainResult:
        """Transfers in [start, end) worth at least ``min_usd`` (Whale Alert's own USD value)."""
        if not self.api_key:
            raise OnchainUnavailable(
                "no Whale Alert API key (set CRYPTO_ASSETS_WHALE_ALERT_API_KEY)", "no_key"
            )
        as_of, before, notes = now_utc(), self.http.requests, []
        params: dict[str, Any] = {
            "api_key": self.api_key,
            "start": int(utc(start).timestamp()),
            "end": int(utc(end).timestamp()) - 1,
            "min_value": int(min_usd),
            "limit": self.page_size,
        }
        pages: list[pd.DataFrame] = []
        for _ in range(self.max_pages):
            payload = self.http.get("transactions", params, check=check_whale_alert)
            with readable_answer("whale_alert"):
                pages.append(parse_whale_alert(payload, self.describe(), as_of))
            count = int(payload.get("count") or 0)
            cursor = payload.get("cursor")
            if count < self.page_size or not cursor:
                break
            params["cursor"] = cursor
        else:
            notes.append(f"stopped after {self.max_pages} pages")
        frame = pd.concat(pages, ignore_index=True)
        frame = unique_in_window(frame, ["chain", "tx_hash", "coin"], start, end)
        return result(
            frame,
            self.describe(),
            "ok",
            as_of,
            requests=self.http.requests - before,
            notes=notes,
        )


class WhaleAlertReplay(dg.ConfigurableResource):
    """The recorded real Whale Alert response (queried with min_value=500000), served for the
    minutes it covers; the whale threshold is applied later, by the classification."""

    data_dir: str

    def describe(self) -> str:
        return f"whale_alert replay ({Path(self.data_dir) / RECORDING})"

    def fetch_transfers(
        self, start: pd.Timestamp, end: pd.Timestamp, min_usd: float, watch: pd.DataFrame
    ) -> OnchainResult:
        path = Path(self.data_dir) / RECORDING
        if not path.exists():
            raise OnchainUnavailable(f"recording {path} not found")
        payload = json.loads(path.read_text())
        recorded = pd.Timestamp(max(t["timestamp"] for t in payload["transactions"]), unit="s")
        as_of = utc(recorded)
        frame = parse_whale_alert(payload, self.describe(), as_of)
        covered = f"{frame['time'].min():%Y-%m-%d %H:%M}..{frame['time'].max():%H:%M} UTC"
        mask = (frame["time"] >= utc(start)) & (frame["time"] < utc(end))
        reason = "" if mask.any() else f"the recording covers {covered} only"
        return result(
            frame[mask].reset_index(drop=True), self.describe(), "replay", as_of, reason=reason
        )
