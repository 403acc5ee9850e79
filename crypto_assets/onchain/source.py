"""The on-chain source contract: what every on-chain source (live API or replay of a recorded
file) returns, and how an attempt that failed is reported instead of invented.

Shaped like the market contract: :class:`OnchainResult` carries a canonical frame, one status
row (``source, status, reason, as_of, rows``), ``as_of`` and a source description; a source
that cannot be used at all raises :class:`OnchainUnavailable` with the status it stands for
("no_key", "unavailable", "error"), which :func:`attempt` turns into a status row and no data.

Stored on-chain tables keep both kinds of rows in one schema-stable table: ``row_kind="data"``
rows hold what a source returned, ``row_kind="status"`` rows say, per source and day, whether
it answered (``ok`` / ``replay``) or why not. A reader takes :func:`data_rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import pandas as pd

Status = Literal["ok", "no_key", "unavailable", "error", "replay"]
STATUSES: tuple[str, ...] = ("ok", "no_key", "unavailable", "error", "replay")
GOOD_STATUSES = frozenset({"ok", "replay"})
STATUS_COLUMNS = ["source", "status", "reason", "as_of", "rows"]
STATUS_SCHEMA = {
    "source": "text",
    "status": "text",
    "reason": "text",
    "as_of": "time",
    "rows": "float",
}


class OnchainUnavailable(Exception):
    """The source cannot be used now: no key, no network, or it refused (one-line reason)."""

    def __init__(self, reason: str, status: Status = "unavailable") -> None:
        if status not in ("no_key", "unavailable", "error"):
            raise ValueError(f"OnchainUnavailable status must be a failure, not {status!r}")
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class SourceStatus:
    source: str  # e.g. "whale_alert (live api)"
    status: Status
    reason: str  # empty when ok; otherwise why (no key, HTTP 429, recording covers ...)
    as_of: pd.Timestamp  # UTC time of the attempt, or the recording's date for replay
    rows: int

    def as_row(self) -> dict[str, object]:
        return {
            "source": self.source,
            "status": self.status,
            "reason": self.reason,
            "as_of": self.as_of,
            "rows": self.rows,
        }


@dataclass
class OnchainResult:
    frame: pd.DataFrame  # canonical rows (schema of the method that returned it)
    status: SourceStatus
    requests: int = 0  # HTTP requests made (0 for a replay)
    notes: list[str] = field(default_factory=list)  # limits worth logging (caps, plan limits)

    @property
    def as_of(self) -> pd.Timestamp:
        return self.status.as_of

    @property
    def source(self) -> str:
        return self.status.source


# ------------------------------------------------------------------------- contracts
@runtime_checkable
class TransferSource(Protocol):
    """Large transfers (Whale Alert), or transfers of watched labelled wallets (Etherscan,
    Esplora), in the canonical transfer schema (``onchain.transfers.TRANSFER_SCHEMA``)."""

    def describe(self) -> str: ...

    def fetch_transfers(
        self, start: pd.Timestamp, end: pd.Timestamp, min_usd: float, watch: pd.DataFrame
    ) -> OnchainResult: ...


@runtime_checkable
class HolderSource(Protocol):
    """A token's holder list (address, balance) as of the fetch (``onchain.holders``)."""

    def describe(self) -> str: ...

    def fetch_holders(self, chain: str, contract: str, day: pd.Timestamp) -> OnchainResult: ...


@runtime_checkable
class NetworkMetricsSource(Protocol):
    """Daily network metrics per coin (``onchain.network.METRIC_SCHEMA``)."""

    def describe(self) -> str: ...

    def network_coins(self) -> list[str]: ...

    def fetch_network_metrics(
        self, coins: Sequence[str], start: pd.Timestamp, end: pd.Timestamp
    ) -> OnchainResult: ...


@runtime_checkable
class CoinListSource(Protocol):
    """Coins with their contracts per platform (``onchain.contracts.COIN_LIST_SCHEMA``)."""

    def describe(self) -> str: ...

    def fetch_coin_list(self) -> OnchainResult: ...


# ---------------------------------------------------------------------------- helpers
def utc(value: pd.Timestamp | str | float) -> pd.Timestamp:
    """A tz-aware UTC timestamp (naive input is taken as UTC, never as local time)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def now_utc() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def conform(frame: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """``frame`` with exactly the schema's columns and fixed dtypes, also when empty, so a
    first write never types a storage column as NULL. Kinds: time, text, float, bool."""
    out = frame.reindex(columns=list(schema))
    for column, kind in schema.items():
        if kind == "time":
            out[column] = pd.to_datetime(out[column], utc=True).astype("datetime64[ns, UTC]")
        elif kind == "text":
            out[column] = out[column].astype("string")
        elif kind == "bool":
            out[column] = out[column].astype("boolean")
        else:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out.reset_index(drop=True)


def empty(schema: dict[str, str]) -> pd.DataFrame:
    return conform(pd.DataFrame(), schema)


def result(
    frame: pd.DataFrame,
    source: str,
    status: Status,
    as_of: pd.Timestamp,
    reason: str = "",
    requests: int = 0,
    notes: list[str] | None = None,
) -> OnchainResult:
    """An :class:`OnchainResult` whose status row counts the frame's rows."""
    row = SourceStatus(source, status, reason, utc(as_of), len(frame))
    return OnchainResult(frame, row, requests, list(notes or []))


def attempt(
    source: str, call: Callable[[], OnchainResult], schema: dict[str, str], now: pd.Timestamp
) -> OnchainResult:
    """Run one source call; an :class:`OnchainUnavailable` becomes a status row, no data.

    Anything else propagates: a bug must fail loudly, not hide as a source outage."""
    try:
        return call()
    except OnchainUnavailable as exc:
        return OnchainResult(empty(schema), SourceStatus(source, exc.status, exc.reason, now, 0))


def stored_frame(
    data: pd.DataFrame,
    statuses: Sequence[SourceStatus],
    schema: dict[str, str],
    day: pd.Timestamp,
) -> pd.DataFrame:
    """One partition of an on-chain table: data rows plus one status row per source.

    ``schema`` is the data schema; the stored schema adds ``day``, ``row_kind`` and the status
    columns (``source`` and ``as_of`` are shared with data rows, which carry their own)."""
    full = stored_schema(schema)
    parts = []
    if len(data):
        parts.append(data.assign(day=day, row_kind="data"))
    if statuses:
        rows = pd.DataFrame([s.as_row() for s in statuses]).assign(day=day, row_kind="status")
        parts.append(rows)
    frame = pd.concat([conform(p, full) for p in parts], ignore_index=True) if parts else None
    return frame if frame is not None else empty(full)


def stored_schema(schema: dict[str, str]) -> dict[str, str]:
    return {"day": "time", "row_kind": "text", **schema, **STATUS_SCHEMA}


def data_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The data rows of a stored on-chain table (status rows dropped)."""
    if frame is None or frame.empty or "row_kind" not in frame:
        return frame.iloc[0:0] if frame is not None else pd.DataFrame()
    return frame[frame["row_kind"] == "data"].reset_index(drop=True)


def status_rows(frame: pd.DataFrame) -> pd.DataFrame:
    if frame is None or frame.empty or "row_kind" not in frame:
        return pd.DataFrame(columns=STATUS_COLUMNS)
    return frame.loc[frame["row_kind"] == "status", STATUS_COLUMNS].reset_index(drop=True)


def failed_statuses(statuses: Sequence[SourceStatus]) -> list[SourceStatus]:
    return [s for s in statuses if s.status not in GOOD_STATUSES]
