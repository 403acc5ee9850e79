"""As-of join of ``coin_text_signals`` onto a feature frame: only what was public at the moment
each feature row is known (candle open + timeframe).

Day D's signals are complete when D ends, so a row known at time t uses day
``floor(t) - 1 day`` (for a daily candle of day D, known at D+1 00:00: day D itself). Days the
signal table covers but where a coin had no post mean zero mentions for that coin; days it does
not cover leave the text columns null (no source was collecting then), never zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TEXT_FEATURES = {
    "mentions": "text_mentions",
    "mentions_z": "text_mentions_z",
    "sentiment_mean": "text_sentiment_mean",
    "sentiment_std": "text_sentiment_std",
    "bull_bear_ratio": "text_bull_bear_ratio",
    "authors": "text_authors",
}
_ZERO_WHEN_SILENT = {"text_mentions", "text_authors"}
_ONE_WHEN_SILENT = {"text_bull_bear_ratio"}


def asof_join_text_signals(
    features: pd.DataFrame,
    signals: pd.DataFrame,
    timeframes: dict[str, pd.Timedelta],
    timeframe: str | None = None,
) -> pd.DataFrame:
    """``features`` (symbol, date[, timeframe]) plus ``TEXT_FEATURES`` columns as of each row.

    ``timeframe`` applies to every row when the frame has no ``timeframe`` column.
    """
    out = features.copy()
    if "timeframe" in out:
        step = pd.to_timedelta(out["timeframe"].map(timeframes))
    else:
        if timeframe is None:
            raise ValueError("features have no 'timeframe' column: pass timeframe=")
        step = timeframes[timeframe]
    known_at = pd.to_datetime(out["date"], utc=True) + step
    day = known_at.dt.floor("1D") - pd.Timedelta(days=1)
    coin = out["symbol"].astype(str).str.split("/").str[0]
    for column in TEXT_FEATURES.values():
        out[column] = np.nan
    if signals is None or signals.empty:
        return out
    sig = signals[["day", "coin", *TEXT_FEATURES]].rename(columns=TEXT_FEATURES)
    sig = sig.assign(day=pd.to_datetime(sig["day"], utc=True).astype("datetime64[ns, UTC]"))
    keys = pd.DataFrame(
        {"day": day.astype("datetime64[ns, UTC]").to_numpy(), "coin": coin.to_numpy()}
    )
    joined = keys.merge(sig, on=["day", "coin"], how="left", validate="many_to_one")
    covered = keys["day"].isin(set(sig["day"]))
    for column in TEXT_FEATURES.values():
        values = joined[column].astype("float64")
        if column in _ZERO_WHEN_SILENT:
            values = values.where(~covered | values.notna(), 0.0)
        elif column in _ONE_WHEN_SILENT:
            values = values.where(~covered | values.notna(), 1.0)
        out[column] = values.to_numpy()
    return out
