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

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import pandas as pd

from crypto_assets.frames import pin_dtypes, utc
from crypto_assets.sources import STATUS_COLUMNS, USABLE, SourceStatus

Status = Literal["ok", "no_key", "unavailable", "error", "replay"]
GOOD_STATUSES = frozenset(USABLE)
STATUS_SCHEMA = {
    "source": "text",
    "status": "text",
    "reason": "text",
    "as_of": "time",
    "rows": "float",
}
FAILURE_ORDER = ("error", "unavailable", "no_key")  # the worst failure names a combined status


class OnchainUnavailable(Exception):
    """The source cannot be used now: no key, no network, or it refused (one-line reason)."""

    def __init__(self, reason: str, status: Status = "unavailable") -> None:
        if status not in ("no_key", "unavailable", "error"):
            raise ValueError(f"OnchainUnavailable status must be a failure, not {status!r}")
        super().__init__(reason)
        self.reason = reason
        self.status = status


def status_row(status: SourceStatus) -> dict[str, object]:
    """A status as one record (the stored status columns)."""
    return {column: getattr(status, column) for column in STATUS_COLUMNS}


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

    def tracked_tokens(self) -> list[tuple[str, str]]: ...

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
def now_utc() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def conform(frame: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """``frame`` with exactly the schema's columns and fixed dtypes, also when empty, so a
    first write never types a storage column as NULL. Kinds: time, text, float, bool (the
    house's ``frames.pin_dtypes`` with the schema's kinds; bools stay nullable booleans)."""
    bools = [c for c, kind in schema.items() if kind == "bool"]
    out = pin_dtypes(
        frame.reindex(columns=list(schema)).drop(columns=bools),
        [c for c in schema if c not in bools],
        times=[c for c, kind in schema.items() if kind == "time"],
        texts=[c for c, kind in schema.items() if kind == "text"],
    )
    for column in bools:  # same index as ``out``: pin_dtypes keeps the frame's rows
        out[column] = frame.reindex(columns=[column])[column].astype("boolean")
    return out[list(schema)].reset_index(drop=True)


def empty(schema: dict[str, str]) -> pd.DataFrame:
    """A typed frame with no rows (built once per schema: a day loop asks for many)."""
    return _empty(tuple(schema.items())).copy()


@functools.lru_cache(maxsize=64)
def _empty(schema: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    return conform(pd.DataFrame(), dict(schema))


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


def stored_parts(
    data: pd.DataFrame, statuses: Sequence[SourceStatus], day: pd.Timestamp
) -> list[pd.DataFrame]:
    """One day of an on-chain table, not yet typed: its data rows plus one status row per
    source. A multi-day run collects the parts and types them once (:func:`stored_table`)."""
    parts = []
    if len(data):
        parts.append(data.assign(day=day, row_kind="data"))
    if statuses:
        rows = pd.DataFrame([status_row(s) for s in statuses]).assign(day=day, row_kind="status")
        parts.append(rows)
    return parts


def stored_table(parts: Sequence[pd.DataFrame], schema: dict[str, str]) -> pd.DataFrame:
    """The parts of one or many days as a stored on-chain table: ``schema`` is the data
    schema; the stored schema adds ``day``, ``row_kind`` and the status columns (``source``
    and ``as_of`` are shared with data rows, which carry their own)."""
    frames = [p for p in parts if len(p)]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return conform(table, stored_schema(schema))


def stored_frame(
    data: pd.DataFrame,
    statuses: Sequence[SourceStatus],
    schema: dict[str, str],
    day: pd.Timestamp,
) -> pd.DataFrame:
    """One partition of an on-chain table: data rows plus one status row per source."""
    return stored_table(stored_parts(data, statuses, day), schema)


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


def combined_status(statuses: Sequence[SourceStatus], name: str) -> SourceStatus:
    """One status for an asset fed by several sources and days (what its check reports).

    Usable ("replay" when every usable answer was a replay, else "ok") only when no source
    failed; otherwise the worst failure (error > unavailable > no_key), with every failed
    source and its reason, so an outage of one source is never hidden behind the others."""
    failed = failed_statuses(statuses)
    sources = ", ".join(dict.fromkeys(s.source for s in statuses)) or name
    rows = sum(int(s.rows) for s in statuses)
    as_of = max((utc(s.as_of) for s in statuses), default=now_utc())
    if not statuses:
        return SourceStatus(sources, "error", f"{name}: no source was asked", as_of, 0)
    if not failed:
        kind = "replay" if all(s.status == "replay" for s in statuses) else "ok"
        return SourceStatus(sources, kind, "", as_of, rows)
    worst = next(k for k in FAILURE_ORDER if any(s.status == k for s in failed))
    reasons = dict.fromkeys(f"{s.source}: {s.status} ({s.reason})" for s in failed)
    return SourceStatus(sources, worst, "; ".join(reasons), as_of, rows)
