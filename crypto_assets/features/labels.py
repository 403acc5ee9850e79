"""Forward-return labels per coin per candle, and hourly-to-daily resampling.

Timing convention (the canonical frame stamps a candle with its OPEN time, and a candle at
``date`` is complete at ``date + timeframe``):

* entry: the close of the candle at ``date``, known at ``date + timeframe``;
* exit: the close of the candle at ``date + duration``, known at
  ``label_end = date + duration + timeframe``.

So the label of the row at ``date`` becomes known at ``label_end`` (see ``label_available_at``)
and must not be used for training or evaluation before then; walk-forward CV purges rows whose
``label_end`` reaches past the start of the test fold.

The exit candle is found by time (a join on symbol and ``date + duration``), never by row
shifts, so a hole in the data gives NaN instead of a label over the wrong horizon, and a label
exists only when its exit candle exists (never a partial horizon).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from crypto_assets.features.indicators import validate_ohlcv
from crypto_assets.horizons import HORIZONS, TIMEFRAMES, Horizon, require_known

MIN_HOURLY_CANDLES_PER_DAY = 20


def horizons_for(timeframe: str, horizons: Iterable[Horizon | str] | None = None) -> list[Horizon]:
    """The horizons modelled on ``timeframe`` candles (all of ``HORIZONS`` by default); names
    ("30d") and ``Horizon`` objects are both accepted."""
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"unsupported timeframe {timeframe!r}; expected one of {list(TIMEFRAMES)}")
    if horizons is None:
        return [h for h in HORIZONS.values() if h.timeframe == timeframe]
    require_known([h for h in horizons if isinstance(h, str)])
    chosen = [HORIZONS[h] if isinstance(h, str) else h for h in horizons]
    step = TIMEFRAMES[timeframe]
    for h in chosen:
        if h.duration <= pd.Timedelta(0) or h.duration % step != pd.Timedelta(0):
            raise ValueError(
                f"horizon {h.name!r} ({h.duration}) is not a positive multiple of {timeframe}"
            )
    if len({h.name for h in chosen}) != len(chosen):
        raise ValueError(f"horizon names must be unique, got {[h.name for h in chosen]}")
    return chosen


def forward_returns(
    ohlcv: pd.DataFrame,
    timeframe: str,
    horizons: list[Horizon | str] | None = None,
    *,
    round_trip_cost: float,
) -> pd.DataFrame:
    """Net forward return and label end time per (symbol, date) and horizon.

    ``fwd_ret_<name>`` = close(date + duration) / close(date) - 1 - round_trip_cost, so a
    label is what a buy at the entry close and a sell at the exit close would have earned after
    costs (the configured ``Settings.round_trip_cost``; deliberately no default here, so the
    cost has one source). ``label_end_<name>`` is the time the label becomes known (the exit
    candle's close).
    Both are missing (NaN / NaT) when the exit candle is not in the data. One row per input
    candle, sorted by (symbol, date), index reset.
    """
    validate_ohlcv(ohlcv, timeframe)
    if not (0.0 <= round_trip_cost < 1.0) or not np.isfinite(round_trip_cost):
        raise ValueError(f"round_trip_cost must be in [0, 1), got {round_trip_cost}")
    chosen = horizons_for(timeframe, horizons)
    base = (
        ohlcv[["symbol", "date", "close"]]
        .astype({"date": "datetime64[ns, UTC]"})
        .sort_values(["symbol", "date"], kind="stable")
        .reset_index(drop=True)
    )
    result = base[["symbol", "date"]].copy()
    entry = base["close"].to_numpy(dtype=np.float64)
    exits = base.rename(columns={"date": "exit_date", "close": "exit_close"})
    step = TIMEFRAMES[timeframe]
    for h in chosen:
        wanted = pd.DataFrame({"symbol": base["symbol"], "exit_date": base["date"] + h.duration})
        found = wanted.merge(exits, on=["symbol", "exit_date"], how="left", validate="many_to_one")
        exit_close = found["exit_close"].to_numpy(dtype=np.float64)
        has_exit = ~np.isnan(exit_close)
        result[f"fwd_ret_{h.name}"] = exit_close / entry - 1.0 - round_trip_cost
        result[f"label_end_{h.name}"] = (base["date"] + h.duration + step).where(has_exit)
    return result


def label_available_at(
    date: pd.Series | pd.Timestamp, horizon: Horizon | str
) -> pd.Series | pd.Timestamp:
    """When the label of the candle opened at ``date`` becomes known: date + duration + tf.

    Use it to drop labels that were still in the future at a decision time (feedback loop,
    purged walk-forward CV): a label with ``label_available_at > as_of`` must not be used.
    """
    h = HORIZONS[horizon] if isinstance(horizon, str) else horizon
    return date + h.duration + TIMEFRAMES[h.timeframe]


def mask_unknown_labels(labels: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Copy of ``labels`` with every label not yet known at ``as_of`` set to NaN / NaT.

    Labels in the data can run past a decision time in a backtest; this hides them as they were
    hidden in real time.
    """
    as_of = pd.Timestamp(as_of)
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (UTC)")
    out = labels.copy()
    for end_col in [c for c in labels.columns if str(c).startswith("label_end_")]:
        name = str(end_col).removeprefix("label_end_")
        unknown = ~(out[end_col] <= as_of)
        out.loc[unknown, end_col] = pd.NaT
        if f"fwd_ret_{name}" in out.columns:
            out.loc[unknown, f"fwd_ret_{name}"] = np.nan
    return out


def resample_ohlcv(
    ohlcv_1h: pd.DataFrame, timeframe: str = "1d", min_candles: int = MIN_HOURLY_CANDLES_PER_DAY
) -> pd.DataFrame:
    """UTC daily candles from hourly ones, for snapshots that have hourly data only.

    open = first, high = max, low = min, close = last, volume = sum over the day's hourly
    candles. A day is kept only if (a) it has at least ``min_candles`` hourly candles (default
    20 of 24: real exchanges skip hours with no trades, and a few missing quiet hours barely
    move a daily bar, while a half-empty day would be a different bar) and (b) it has ended
    within the data, i.e. the latest candle in the frame closes at or after the day's end, so
    the day still in progress is never emitted as if complete.
    """
    if timeframe != "1d":
        raise ValueError(f"only hourly -> '1d' resampling is supported, got {timeframe!r}")
    if not 1 <= min_candles <= 24:
        raise ValueError(f"min_candles must be in 1..24, got {min_candles}")
    validate_ohlcv(ohlcv_1h, "1h")
    columns = ["symbol", "date", "open", "high", "low", "close", "volume"]
    if ohlcv_1h.empty:
        return ohlcv_1h[columns].astype({"date": "datetime64[ns, UTC]"}).iloc[:0]
    hourly = (
        ohlcv_1h[columns]
        .astype({"date": "datetime64[ns, UTC]"})
        .sort_values(["symbol", "date"], kind="stable")
    )
    day = hourly["date"].dt.floor("D").rename("day")
    daily = hourly.groupby(["symbol", day], sort=True).agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
        candles=("close", "size"),
    )
    data_end = hourly["date"].max() + TIMEFRAMES["1h"]
    daily = daily.reset_index().rename(columns={"day": "date"})
    complete = (daily["candles"] >= min_candles) & (daily["date"] + TIMEFRAMES["1d"] <= data_end)
    return daily.loc[complete, columns].reset_index(drop=True)
