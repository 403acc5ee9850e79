"""Bitcoin transfers of labelled exchange addresses from an Esplora REST API (mempool.space or
Blockstream; no key).

Esplora has no "large transactions" query; what it can answer cheaply is an address's history.
``EsploraResource`` therefore follows the labelled Bitcoin exchange addresses of the label book
(the recorded labels are EVM-only, so these come from the user's label file): newest first,
``/address/:a/txs`` then ``/address/:a/txs/chain/:last_seen_txid`` (25 confirmed per page) until
the window's start is passed. USD values come later, from the prior day's close.

No Esplora response is recorded, so ``EsploraReplay`` says so instead of answering.
"""

from __future__ import annotations

from typing import Any, ClassVar

import dagster as dg
import pandas as pd

from crypto_assets.frames import utc
from crypto_assets.onchain.source import OnchainResult, OnchainUnavailable, empty, now_utc, result
from crypto_assets.onchain.transfers import TRANSFER_SCHEMA, parse_esplora_txs, unique_in_window
from crypto_assets.resources.onchain_http import HttpSourceResource, readable_answer

MEMPOOL_URL = "https://mempool.space/api"
NO_WATCHED = "no labelled bitcoin exchange address to follow (add some to the label file)"
NO_WATCHED = "no labelled bitcoin exchange address to follow (add some to the label file)"


def check_list(payload: Any) -> None:
    if not isinstance(payload, list):
        raise OnchainUnavailable(f"esplora: expected a list, got {str(payload)[:120]}", "error")


class EsploraResource(HttpSourceResource):
    """Live Esplora client (mempool.space by default)."""

    base_url: str = MEMPOOL_URL
    calls_per_second: float = 2.0  # a polite pace for a free public service
    max_addresses: int = 20
    max_pages: int = 40  # 25 confirmed transactions per page

    client_name: ClassVar[str] = "esplora"

    def describe(self) -> str:
        return f"esplora ({self.base_url})"

    def address_history(
        self, address: str, start: pd.Timestamp
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Transactions of ``address`` back to ``start`` (newest first), paging by txid."""
        txs = self.http.get(f"address/{address}/txs", check=check_list)
        notes: list[str] = []
        pages = 1
        while txs:
            confirmed = [t for t in txs if (t.get("status") or {}).get("confirmed")]
            oldest = min((int(t["status"]["block_time"]) for t in confirmed), default=None)
            if oldest is None or oldest < utc(start).timestamp():
                break
            if pages >= self.max_pages:
                notes.append(f"{address}: stopped after {pages} pages")
                break
            older = self.http.get(
                f"address/{address}/txs/chain/{confirmed[-1]['txid']}", check=check_list
            )
            pages += 1
            if not older:
                break
            txs = txs + older
            if len(older) < 25:
                break
        return txs, notes

    def fetch_transfers(
        self, start: pd.Timestamp, end: pd.Timestamp, min_usd: float, watch: pd.DataFrame
    ) -> OnchainResult:
        as_of, before = now_utc(), self.http.requests
        addresses = watch[watch["chain"] == "bitcoin"]["address"].head(self.max_addresses)
        if addresses.empty:
            return result(
                empty(TRANSFER_SCHEMA),
                self.describe(),
                "ok",
                as_of,
                reason=NO_WATCHED,
            )
        frames, notes = [], []
        for address in addresses:
            txs, cut = self.address_history(address, start)
            notes += cut
            with readable_answer("esplora"):
                frames.append(parse_esplora_txs(txs, address, self.describe(), as_of))
        keys = ["tx_hash", "from_address", "to_address", "amount"]
        frame = unique_in_window(pd.concat(frames, ignore_index=True), keys, start, end)
        return result(
            frame,
            self.describe(),
            "ok",
            as_of,
            requests=self.http.requests - before,
            notes=notes,
        )


class EsploraReplay(dg.ConfigurableResource):
    """No Esplora / mempool.space response is recorded: every call says so."""

    def describe(self) -> str:
        return "esplora replay (nothing recorded)"

    def fetch_transfers(
        self, start: pd.Timestamp, end: pd.Timestamp, min_usd: float, watch: pd.DataFrame
    ) -> OnchainResult:
        raise OnchainUnavailable("no Esplora / mempool.space response is recorded")
