"""Etherscan API V2 (one endpoint for every EVM chain, ``chainid`` picks the chain) as on-chain
sources: token transfers of labelled exchange wallets, token holder lists, ETH daily stats.

``EtherscanResource`` is the live client. It honours the free plan's 3 calls/s with a sliding
window (and 100k calls/day per process), retries Etherscan's "Max rate limit reached" answer
(HTTP 200, status "0") and HTTP 429/5xx with backoff, and pages ``page``/``offset`` up to the
API's 10,000-row window, then moves the block window on. Holder lists and daily stats are API
Pro endpoints: a free key gets Etherscan's refusal, reported as the status, never papered over.

``EtherscanReplay`` answers from the recorded real holder export
(``etherscan_tokenholders_0x1bBD79f1_2022-04-21.csv``); no transfer list or daily stats were
recorded, and it says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import pandas as pd
from pydantic import Field

from crypto_assets.frames import utc
from crypto_assets.onchain.holders import (
    HOLDER_SCHEMA,
    parse_etherscan_holders,
    parse_holder_export,
)
from crypto_assets.onchain.labels import canonical_chain, normalize_address
from crypto_assets.onchain.network import ETHERSCAN_DAILY, METRIC_SCHEMA, metrics_frame
from crypto_assets.onchain.network import parse_etherscan_daily as parse_daily
from crypto_assets.onchain.source import OnchainResult, OnchainUnavailable, empty, now_utc, result
from crypto_assets.onchain.transfers import (
    ETHERSCAN_CHAINS,
    TRANSFER_SCHEMA,
    parse_etherscan_tokentx,
    unique_in_window,
)
from crypto_assets.resources.onchain_http import (
    HttpSourceResource,
    RetryableAnswer,
    readable_answer,
)

API_URL = "https://api.etherscan.io/v2/api"
WINDOW_ROWS = 10_000  # Etherscan returns at most page x offset <= 10,000 rows per query
EMPTY_MESSAGES = ("No transactions found", "No records found", "No token holders found")
HOLDER_EXPORT = "etherscan_tokenholders_0x1bBD79f1_2022-04-21.csv"
HOLDER_EXPORT_TOKEN = ("ethereum", "0x1bbd79f1ecb3f2ccc586a5e3a26ee1d1d2e1991f")
HOLDER_EXPORT_DAY = pd.Timestamp("2022-04-21", tz="UTC")  # commit date; snapshot <= this day


def check_etherscan(payload: Any) -> None:
    """Etherscan's envelope: status "1" is data; "0" is an empty answer, a rate-limit answer
    (retried) or a refusal (reported with Etherscan's own words)."""
    if not isinstance(payload, dict) or "status" not in payload:
        raise OnchainUnavailable(f"etherscan: unexpected body {str(payload)[:120]}", "error")
    if str(payload["status"]) == "1":
        return
    message, detail = str(payload.get("message", "")), payload.get("result")
    if message in EMPTY_MESSAGES or (isinstance(detail, list) and not detail):
        return
    text = str(detail)
    if "rate limit" in text.lower():
        raise RetryableAnswer(f"etherscan: {text}")
    raise OnchainUnavailable(f"etherscan: {message}: {text}"[:300], "error")


class EtherscanResource(HttpSourceResource):
    """Live Etherscan API V2 client (key required: CRYPTO_ASSETS_ETHERSCAN_API_KEY)."""

    api_key: str | None = None
    base_url: str = API_URL
    chain_ids: list[int] = Field(default_factory=lambda: [1, 56, 137])
    calls_per_second: float = 3.0
    daily_limit: int = 100_000
    max_wallets: int = 50  # labelled exchange wallets followed per chain
    page_size: int = 1_000  # tokentx rows per page
    holder_page_size: int = 1_000
    holder_max_pages: int = 10
    # "chain:contract" holder lists followed besides the universe's mapped contracts
    extra_tokens: list[str] = Field(default_factory=list)

    client_name: ClassVar[str] = "etherscan"

    def describe(self) -> str:
        where = "live api" if self.base_url == API_URL else f"api {self.base_url}"
        return f"etherscan v2 ({where})"

    def _daily_limit(self) -> int | None:
        return self.daily_limit

    def _require_key(self) -> None:
        if not self.api_key:
            raise OnchainUnavailable(
                "no Etherscan API key (set CRYPTO_ASSETS_ETHERSCAN_API_KEY; free at etherscan.io)",
                "no_key",
            )

    def call(self, chain_id: int, **params: Any) -> Any:
        """One API V2 call; returns ``result`` ([] for Etherscan's empty answers)."""
        self._require_key()
        query = {"chainid": chain_id, **params, "apikey": self.api_key}
        payload = self.http.get("", query, check=check_etherscan)
        detail = payload.get("result")
        return [] if str(payload.get("status")) != "1" and not isinstance(detail, str) else detail

    # ---------------------------------------------------------------- transfers
    def block_at(self, chain_id: int, when: pd.Timestamp, closest: str) -> int:
        value = self.call(
            chain_id,
            module="block",
            action="getblocknobytime",
            timestamp=int(utc(when).timestamp()),
            closest=closest,
        )
        return int(value)

    def token_transfers(
        self, chain_id: int, address: str, start_block: int, end_block: int
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """All ERC-20 transfers of ``address`` in [start_block, end_block], paging ``page`` /
        ``offset`` and moving ``startblock`` on when the 10,000-row window is full."""
        rows: list[dict[str, Any]] = []
        notes: list[str] = []
        block = start_block
        while True:
            page, window_rows = 1, []
            while True:
                batch = self.call(
                    chain_id,
                    module="account",
                    action="tokentx",
                    address=address,
                    startblock=block,
                    endblock=end_block,
                    page=page,
                    offset=self.page_size,
                    sort="asc",
                )
                window_rows.extend(batch)
                if len(batch) < self.page_size or page * self.page_size >= WINDOW_ROWS:
                    break
                page += 1
            rows.extend(window_rows)
            full = len(window_rows) >= WINDOW_ROWS
            last = int(window_rows[-1]["blockNumber"]) if window_rows else block
            if not full:
                return rows, notes
            if last <= block:
                notes.append(f"{address}: block {block} alone holds >{WINDOW_ROWS} transfers: cut")
                return rows, notes
            block = last  # the last block may be split across windows: duplicates removed later

    def fetch_transfers(
        self, start: pd.Timestamp, end: pd.Timestamp, min_usd: float, watch: pd.DataFrame
    ) -> OnchainResult:
        """Token transfers in [start, end) of the watched labelled wallets on each chain."""
        self._require_key()
        as_of, frames, notes = now_utc(), [], []
        before = self.http.requests
        for chain_id in self.chain_ids:
            chain = ETHERSCAN_CHAINS.get(chain_id, str(chain_id))
            wallets = watch[watch["chain"] == chain]["address"].head(self.max_wallets)
            if wallets.empty:
                continue
            first = self.block_at(chain_id, start, "after")
            last = self.block_at(chain_id, end - pd.Timedelta(seconds=1), "before")
            for address in wallets:
                rows, cut = self.token_transfers(chain_id, address, first, last)
                notes += cut
                with readable_answer("etherscan tokentx"):
                    frames.append(parse_etherscan_tokentx(rows, chain, self.describe(), as_of))
        frame = pd.concat(frames, ignore_index=True) if frames else empty(TRANSFER_SCHEMA)
        keys = ["chain", "tx_hash", "from_address", "to_address", "amount"]
        frame = unique_in_window(frame, keys, start, end)
        return result(
            frame,
            self.describe(),
            "ok",
            as_of,
            requests=self.http.requests - before,
            notes=notes,
        )

    # ------------------------------------------------------------------ holders
    def tracked_tokens(self) -> list[tuple[str, str]]:
        return [_token(text) for text in self.extra_tokens]

    def fetch_holders(self, chain: str, contract: str, day: pd.Timestamp) -> OnchainResult:
        """The holder list of one token (API Pro), paged until a short page or the page cap.

        A live holder list is as of now: a partition of an earlier day is refused rather than
        stamped with today's list."""
        chain_id = _chain_id(chain)
        as_of, rows, complete = now_utc(), [], False
        if as_of - (utc(day).floor("D") + pd.Timedelta(days=1)) > pd.Timedelta(days=1):
            raise OnchainUnavailable(
                f"a live holder list is as of now; {utc(day):%Y-%m-%d} is in the past"
            )
        before = self.http.requests
        for page in range(1, self.holder_max_pages + 1):
            batch = self.call(
                chain_id,
                module="token",
                action="tokenholderlist",
                contractaddress=contract,
                page=page,
                offset=self.holder_page_size,
            )
            rows.extend(batch)
            if len(batch) < self.holder_page_size:
                complete = True
                break
        with readable_answer("etherscan tokenholderlist"):
            frame = parse_etherscan_holders(
                rows, canonical_chain(chain), contract, self.describe(), as_of
            )
        notes = [] if complete else [f"{contract}: cut at {len(rows)} holders (page cap)"]
        return result(
            frame,
            self.describe(),
            "ok",
            as_of,
            requests=self.http.requests - before,
            notes=notes,
        )

    # ------------------------------------------------------------------ network
    def network_coins(self) -> list[str]:
        return ["ETH"] if 1 in self.chain_ids else []

    def fetch_network_metrics(
        self, coins: Sequence[str], start: pd.Timestamp, end: pd.Timestamp
    ) -> OnchainResult:
        """ETH daily stats over [start, end) (API Pro endpoints)."""
        if "ETH" not in {c.upper() for c in coins}:
            return result(empty(METRIC_SCHEMA), self.describe(), "ok", now_utc())
        as_of, series = now_utc(), []
        before = self.http.requests
        for action in ETHERSCAN_DAILY:
            rows = self.call(
                1,
                module="stats",
                action=action,
                startdate=str(utc(start).date()),
                enddate=str((utc(end) - pd.Timedelta(days=1)).date()),
                sort="asc",
            )
            with readable_answer(f"etherscan {action}"):
                series.append(parse_daily(rows, action))
        frame = metrics_frame(series, "ETH", self.describe(), as_of)
        return result(frame, self.describe(), "ok", as_of, requests=self.http.requests - before)


class EtherscanReplay(dg.ConfigurableResource):
    """Replay of the recorded real Etherscan holder export (one ERC-20 token, 2022-04-21)."""

    data_dir: str

    def describe(self) -> str:
        return f"etherscan replay ({Path(self.data_dir) / HOLDER_EXPORT})"

    def tracked_tokens(self) -> list[tuple[str, str]]:
        return [HOLDER_EXPORT_TOKEN]

    def fetch_holders(self, chain: str, contract: str, day: pd.Timestamp) -> OnchainResult:
        token = (canonical_chain(chain), normalize_address(chain, contract))
        if token != HOLDER_EXPORT_TOKEN:
            return result(
                empty(HOLDER_SCHEMA),
                self.describe(),
                "unavailable",
                HOLDER_EXPORT_DAY,
                reason=f"no recorded holder list for {token[0]}:{token[1]}",
            )
        if utc(day).floor("D") != HOLDER_EXPORT_DAY:
            return result(
                empty(HOLDER_SCHEMA),
                self.describe(),
                "replay",
                HOLDER_EXPORT_DAY,
                reason="the recorded holder export is of 2022-04-21 only",
            )
        frame = parse_holder_export(
            Path(self.data_dir) / HOLDER_EXPORT, *token, self.describe(), HOLDER_EXPORT_DAY
        )
        return result(frame, self.describe(), "replay", HOLDER_EXPORT_DAY)

    def fetch_transfers(
        self, start: pd.Timestamp, end: pd.Timestamp, min_usd: float, watch: pd.DataFrame
    ) -> OnchainResult:
        raise OnchainUnavailable("no Etherscan transfer list is recorded (replay has none)")

    def network_coins(self) -> list[str]:
        return []

    def fetch_network_metrics(
        self, coins: Sequence[str], start: pd.Timestamp, end: pd.Timestamp
    ) -> OnchainResult:
        raise OnchainUnavailable("no Etherscan daily stats are recorded (replay has none)")


def _chain_id(chain: str) -> int:
    by_name = {name: chain_id for chain_id, name in ETHERSCAN_CHAINS.items()}
    name = canonical_chain(chain)
    if name not in by_name:
        raise OnchainUnavailable(f"etherscan: chain {chain!r} is not one it serves here", "error")
    return by_name[name]


def _token(text: str) -> tuple[str, str]:
    chain, _, contract = text.partition(":")
    if not contract:
        raise ValueError(f"extra token {text!r}: expected 'chain:contract'")
    return canonical_chain(chain), normalize_address(chain, contract)
