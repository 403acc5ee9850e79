"""The honest status of one fetch from any source (exchange, snapshot, text, on-chain, ...).

Every source contract (``<domain>/source.py``) returns, besides its canonical frame, one status
row: where the data came from, whether it is live ("ok"), recorded ("replay"), or missing and
why ("no_key", "unavailable", "error"), when (the attempt's UTC time, or the recording's date
for a replay) and how many rows it gave. An asset that cannot reach its source stores this row
and no invented data; ``crypto_assets.defs.checks.source_status_check`` turns it into a check.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from crypto_assets.frames import utc

STATUSES = ("ok", "replay", "no_key", "unavailable", "error")
USABLE = ("ok", "replay")
STATUS_COLUMNS = ["source", "status", "reason", "as_of", "rows"]


@dataclass(frozen=True)
class SourceStatus:
    source: str  # e.g. "kraken (live api)", "snapshot binance_2024"
    status: str  # one of STATUSES
    reason: str  # why, in one line ("" when ok)
    as_of: pd.Timestamp  # attempt time (UTC), or the recording's as-of for a replay
    rows: int

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"source status {self.status!r} is not one of {STATUSES}")

    @property
    def usable(self) -> bool:
        return self.status in USABLE

    def frame(self) -> pd.DataFrame:
        """The status as the one-row frame an asset stores."""
        return status_frame([self])


def status_frame(statuses: list[SourceStatus]) -> pd.DataFrame:
    """Status rows with fixed dtypes (also when empty)."""
    frame = pd.DataFrame(
        [(s.source, s.status, s.reason, utc(s.as_of), s.rows) for s in statuses],
        columns=STATUS_COLUMNS,
    )
    return frame.astype(
        {
            "source": "string",
            "status": "string",
            "reason": "string",
            "as_of": "datetime64[ns, UTC]",
            "rows": "int64",
        }
    )
