"""The order-book source contract: what every book source (live REST, live WebSocket, recorded
replay) returns, so the risk assets never know which one they run on.

It lives in ``risk/`` rather than ``market/``: order books feed only the risk rules, and the
market domain's contract is about candles and listings. It is shaped like the market one
(Protocol, result dataclass, Unavailable exception); the source as a whole reports the house's
status row (``crypto_assets.sources.SourceStatus``), and each requested symbol its own row.

Guarantees every implementation keeps:
- books are canonical levels (``BOOK_COLUMNS``): bids best (highest) first, asks best (lowest)
  first, level 0 = best, prices > 0, amounts > 0 in base units, one ``as_of`` per book (when the
  book was that state: the fetch time live, the recording's time in a replay);
- every requested symbol gets exactly one row in ``OrderBookFetch.symbols`` saying whether its
  book came back and, if not, why; one bad symbol never sinks the batch;
- a source that cannot be used at all raises :class:`OrderBookUnavailable` (one line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from crypto_assets.sources import STATUSES, SourceStatus

BOOK_COLUMNS = ["symbol", "exchange", "side", "level", "price", "amount", "as_of", "source"]
SIDES = ("bid", "ask")
# one row per requested symbol: did its book come back, and from where / why not
SYMBOL_STATUS_COLUMNS = [
    "symbol",
    "exchange",
    "status",
    "reason",
    "as_of",
    "rows",  # book levels that came back (both sides)
    "checksums_verified",
]
USD_LIKE = frozenset({"USD", "USDT", "USDC"})


class OrderBookUnavailable(Exception):
    """The book source cannot be used at all (network down, recording missing): one line."""


@dataclass
class OrderBookFetch:
    books: pd.DataFrame  # BOOK_COLUMNS, every level of every book that came back
    symbols: pd.DataFrame  # SYMBOL_STATUS_COLUMNS, one row per requested symbol
    status: str  # one of crypto_assets.sources.STATUSES, for the source as a whole
    as_of: pd.Timestamp  # fetch time (live) or the recording's time (replay)
    source: str  # e.g. "kraken (live api)" / "recorded books /path (KRAKEN.ws.50.0, ...)"
    requests: int = 0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"order-book status {self.status!r} is not one of {STATUSES}")

    def source_status(self) -> SourceStatus:
        """The house's status row of the fetch as a whole (the per-symbol reasons summed up)."""
        failed = self.symbols[~self.symbols["status"].isin(["ok", "replay"])]
        reason = "; ".join(
            f"{r.symbol}: {r.reason}" for r in failed.head(5).itertuples() if r.reason
        )
        if len(failed) > 5:
            reason += f"; and {len(failed) - 5} more"
        return SourceStatus(self.source, self.status, reason, self.as_of, len(self.books))


@runtime_checkable
class OrderBookSource(Protocol):
    def describe(self) -> str: ...

    def fetch_order_books(self, symbols: list[str], depth: int = 100) -> OrderBookFetch: ...


def empty_books() -> pd.DataFrame:
    """No levels, canonical dtypes (so concat and storage never guess)."""
    return typed_books(pd.DataFrame(columns=BOOK_COLUMNS))


def typed_books(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reindex(columns=BOOK_COLUMNS)
    for column in ("symbol", "exchange", "side", "source"):
        out[column] = out[column].astype("string")
    out["level"] = out["level"].astype("int64")
    for column in ("price", "amount"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    out["as_of"] = pd.to_datetime(out["as_of"], utc=True).astype("datetime64[ns, UTC]")
    return out.reset_index(drop=True)


def symbol_status_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=SYMBOL_STATUS_COLUMNS)
    for column in ("symbol", "exchange", "status", "reason"):
        frame[column] = frame[column].astype("string")
    frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True).astype("datetime64[ns, UTC]")
    frame["rows"] = pd.to_numeric(frame["rows"]).fillna(0).astype("int64")
    frame["checksums_verified"] = pd.to_numeric(frame["checksums_verified"]).fillna(0)
    frame["checksums_verified"] = frame["checksums_verified"].astype("int64")
    return frame


def book_levels(
    symbol: str,
    exchange: str,
    bids: list[tuple[float, float]],
    asks: list[tuple[float, float]],
    as_of: pd.Timestamp,
    source: str,
    depth: int | None = None,
) -> pd.DataFrame:
    """One book as canonical levels: sorted best first, empty / non-positive levels dropped,
    cut at ``depth`` levels per side. Raises ValueError on a crossed book (best bid >= best
    ask): that is a broken book, never something to analyse."""
    parts = []
    for side, levels, descending in (("bid", bids, True), ("ask", asks, False)):
        array = np.asarray(levels, dtype="float64").reshape(-1, 2)
        array = array[(array[:, 0] > 0) & (array[:, 1] > 0)]
        order = np.argsort(-array[:, 0] if descending else array[:, 0], kind="stable")
        array = array[order][:depth] if depth else array[order]
        parts.append(
            pd.DataFrame(
                {
                    "side": side,
                    "level": np.arange(len(array)),
                    "price": array[:, 0],
                    "amount": array[:, 1],
                }
            )
        )
    bid_top, ask_top = parts[0]["price"].head(1), parts[1]["price"].head(1)
    if len(bid_top) and len(ask_top) and bid_top.iloc[0] >= ask_top.iloc[0]:
        raise ValueError(
            f"{symbol} book is crossed: best bid {bid_top.iloc[0]} >= best ask {ask_top.iloc[0]}"
        )
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.assign(symbol=symbol, exchange=exchange, as_of=as_of, source=source)
    return typed_books(frame)


def quote_of(symbol: str) -> str:
    return symbol.split("/", 1)[1] if "/" in symbol else ""
