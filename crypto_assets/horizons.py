"""The four prediction horizons and the candle timeframe each one is modelled on.

Short horizons use hourly candles; 7d and 30d use daily candles (resampled from hourly when a
snapshot has no daily file), which keeps overlapping-label row counts sane.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

TIMEFRAMES: dict[str, pd.Timedelta] = {"1h": pd.Timedelta(hours=1), "1d": pd.Timedelta(days=1)}


@dataclass(frozen=True)
class Horizon:
    name: str
    duration: pd.Timedelta
    timeframe: str  # candle timeframe the model for this horizon is trained on

    @property
    def bars(self) -> int:
        """Number of candles of ``timeframe`` the horizon spans."""
        return int(self.duration / TIMEFRAMES[self.timeframe])


HORIZONS: dict[str, Horizon] = {
    "1h": Horizon("1h", pd.Timedelta(hours=1), "1h"),
    "24h": Horizon("24h", pd.Timedelta(hours=24), "1h"),
    "7d": Horizon("7d", pd.Timedelta(days=7), "1d"),
    "30d": Horizon("30d", pd.Timedelta(days=30), "1d"),
}
HORIZON_NAMES: list[str] = list(HORIZONS)


def require_known(names: list[str]) -> None:
    """Raise ``ValueError`` naming every name that is not a horizon (an empty one included)."""
    unknown = [name for name in names if name not in HORIZONS]
    if unknown:
        raise ValueError(f"unknown horizon(s) {unknown}; choose some of {','.join(HORIZON_NAMES)}")


def label_lookahead(timeframe: str | None = None) -> pd.Timedelta:
    """How far past a candle's open its labels look: the longest horizon (of ``timeframe``, or
    of all) plus the exit candle itself, which must complete before the label is known."""
    chosen = [h for h in HORIZONS.values() if timeframe is None or h.timeframe == timeframe]
    return max(h.duration + TIMEFRAMES[h.timeframe] for h in chosen)


def days_covering(span: pd.Timedelta) -> int:
    """Whole UTC days needed to cover ``span`` (partition offsets are counted in days)."""
    return int(-(-span // pd.Timedelta(days=1)))


# Daily partitions a day's labels may still be waiting on: a label of day d is complete once
# d + LABEL_LOOKAHEAD_DAYS has passed, so the refresh re-materializes that many days back, plus
# one of margin for a daily run that lands late.
LABEL_LOOKAHEAD_DAYS: int = days_covering(label_lookahead())
LABEL_REFRESH_DAYS: int = LABEL_LOOKAHEAD_DAYS + 1
