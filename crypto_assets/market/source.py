"""The market-data source contract: what every implementation (a live exchange, a recorded
snapshot; ``crypto_assets.resources.market_source``) gives the assets, so that an asset never
knows which one it runs on.

Guarantees every implementation keeps (the assets rely on them):
- ``now()`` is the source's clock: wall time for a live exchange (or a frozen clock in tests),
  the moment the newest candle completed for a snapshot. Nothing later than it is complete.
- ``fetch_markets(as_of)`` is the market list as known at ``as_of``. A snapshot knows every
  past day; a live exchange knows only today's list, so it returns that list stamped with its
  fetch time whatever ``as_of`` is (fetched once per resource instance, i.e. once per run).
- candles are canonical OHLCV (``crypto_assets.market.schemas``), COMPLETE only (open time +
  timeframe <= now), with open time in ``[start, end)`` and ``>= since_by_symbol[symbol]``;
- one bad symbol never sinks the batch: it becomes a row in ``FetchResult.failures``;
- a source that cannot be reached at all raises :class:`SourceUnavailable` (one line).

Other domains (text, on-chain, order books) shape their contracts the same way: a Protocol of
fetch methods, a result dataclass (canonical frame + a ``crypto_assets.sources.SourceStatus``
row + as_of + source description) and an Unavailable exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import pandas as pd

from crypto_assets.market.schemas import OHLCV_COLUMNS
from crypto_assets.sources import SourceStatus

FAILURE_COLUMNS = ["symbol", "error_type", "message"]


class SourceUnavailable(Exception):
    """The source cannot be used at all (network down, exchange unreachable): one-line message."""


@dataclass
class FetchResult:
    candles: pd.DataFrame  # canonical OHLCV, complete candles only, open time in [start, end)
    failures: pd.DataFrame  # symbol, error_type, message: one row per failed symbol
    requests: int  # HTTP requests made (0 for a snapshot)
    as_of: pd.Timestamp  # when fetched (live) / snapshot as-of
    source: str  # e.g. "kraken (live api)" / "snapshot /path (binance_2024)"
    notes: list[str] = field(default_factory=list)  # limits worth logging (e.g. history depth)

    def status(self, symbols: int) -> SourceStatus:
        """The fetch's status row: "replay" for recorded data (no request made), "ok" for a
        live answer, "error" when every one of ``symbols`` failed."""
        failed = len(self.failures)
        if symbols and failed >= symbols:
            state = "error"
        else:
            state = "replay" if self.requests == 0 else "ok"
        reasons = [f"{failed} of {symbols} symbols failed"] if failed else []
        return SourceStatus(
            source=self.source,
            status=state,
            reason="; ".join([*reasons, *self.notes]),
            as_of=self.as_of,
            rows=len(self.candles),
        )


@runtime_checkable
class MarketSource(Protocol):
    def describe(self) -> str: ...

    def now(self) -> pd.Timestamp: ...

    def fetch_markets(self, as_of: pd.Timestamp | None = None) -> pd.DataFrame: ...

    def fetch_ohlcv(
        self,
        symbols: list[str],
        timeframe: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        since_by_symbol: dict[str, pd.Timestamp] | None = None,
    ) -> FetchResult: ...


def empty_candles() -> pd.DataFrame:
    """A canonical OHLCV frame with no rows (fixed dtypes, so concatenation never guesses)."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in OHLCV_COLUMNS})
    frame["symbol"] = frame["symbol"].astype(object)
    frame["date"] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame


def failures_frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS).astype(object)
