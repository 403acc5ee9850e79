"""What a candle fetch could not give: history older than the source serves, and holes.

A run asks the source for every candle of its window (not only those newer than the newest
stored one), so candles missing at either end of the stored history or inside it are filled
whenever the source still has them. What remains missing is reported here, never silently
accepted: Kraken's API serves only the 720 most recent candles of a timeframe, so older history
can only come from its CSV archive (``crypto-assets backfill --kraken-csv``).

Not counted as missing: candles before a coin's first known candle inside the source's reach
(the coin was not trading yet) and after its last one (staleness is sanitation's verdict).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from crypto_assets.frames import utc
from crypto_assets.horizons import TIMEFRAMES

GAP_COLUMNS = ["symbol", "kind", "first_missing", "last_missing", "candles"]
BEFORE_REACH = "older than the source serves"
HOLE = "missing inside the history"


def _runs(times: np.ndarray, step: int) -> list[tuple[int, int, int]]:
    """Consecutive runs of missing open times (ns): (first, last, count)."""
    if not len(times):
        return []
    breaks = np.flatnonzero(np.diff(times) != step) + 1
    return [
        (int(part[0]), int(part[-1]), len(part)) for part in np.split(times, breaks) if len(part)
    ]


def missing_history(
    candles: pd.DataFrame,
    symbols: Iterable[str],
    timeframe: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    available_from: pd.Timestamp | None,
) -> pd.DataFrame:
    """Per symbol of ``symbols``, the candles of ``[start, end)`` (open times on the
    timeframe's grid) that neither storage nor the source has (``candles``: both, merged):
    one row per run of missing candles, ``kind`` saying whether the source cannot reach them
    (before ``available_from``) or they are a hole inside the coin's known history."""
    step = TIMEFRAMES[timeframe]
    first = utc(start).ceil(step)
    grid = pd.date_range(first, utc(end), freq=step, inclusive="left", tz="UTC")
    if not len(grid):
        return pd.DataFrame(columns=GAP_COLUMNS)
    grid_ns = grid.asi8
    reach = utc(available_from).value if available_from is not None else grid_ns[0]
    by_symbol: dict[str, np.ndarray] = {}
    if len(candles):
        times = pd.to_datetime(candles["date"], utc=True).astype("datetime64[ns, UTC]")
        grouped = times.astype("int64").groupby(candles["symbol"].astype(str).to_numpy())
        by_symbol = {str(symbol): group.to_numpy() for symbol, group in grouped}
    rows = []
    for symbol in sorted(set(symbols)):
        present = by_symbol.get(symbol, np.array([], dtype="int64"))
        missing = grid_ns[~np.isin(grid_ns, present)]
        early = missing[missing < reach]
        rows += [(symbol, BEFORE_REACH, a, b, n) for a, b, n in _runs(early, step.value)]
        known = present[(present >= reach) & (present >= grid_ns[0]) & (present <= grid_ns[-1])]
        if len(known):
            inside = missing[(missing > known.min()) & (missing < known.max())]
            rows += [(symbol, HOLE, a, b, n) for a, b, n in _runs(inside, step.value)]
    frame = pd.DataFrame(rows, columns=GAP_COLUMNS)
    for column in ("first_missing", "last_missing"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def describe_missing(
    gaps: pd.DataFrame,
    timeframe: str,
    available_from: pd.Timestamp | None = None,
    examples: int = 5,
) -> str:
    """One line for a user: how much history is missing, why, and what to do."""
    if gaps.empty:
        return f"every {timeframe} candle of the window is stored"
    parts = []
    early = gaps[gaps["kind"] == BEFORE_REACH]
    if len(early):
        since = f" (it serves {timeframe} candles from {available_from:%Y-%m-%d %H:%M} UTC on)"
        parts.append(
            f"{early['symbol'].nunique()} coin(s) lack {int(early['candles'].sum())} {timeframe} "
            f"candle(s) from {early['first_missing'].min():%Y-%m-%d %H:%M} to "
            f"{early['last_missing'].max():%Y-%m-%d %H:%M} UTC: {BEFORE_REACH}"
            + (since if available_from is not None else "")
            + "; `crypto-assets backfill --kraken-csv` loads older history"
        )
    holes = gaps[gaps["kind"] == HOLE]
    if len(holes):
        shown = ", ".join(
            f"{r.symbol} {r.first_missing:%Y-%m-%d %H:%M}"
            + (f"..{r.last_missing:%Y-%m-%d %H:%M}" if r.candles > 1 else "")
            for r in holes.sort_values("candles", ascending=False).head(examples).itertuples()
        )
        parts.append(
            f"{holes['symbol'].nunique()} coin(s) miss {int(holes['candles'].sum())} {timeframe} "
            f"candle(s) inside their history that the source does not have either, e.g. {shown}"
        )
    return "; ".join(parts)
