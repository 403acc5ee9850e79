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
