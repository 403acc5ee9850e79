"""As-of joins of non-price sources onto the feature table (sentiment now; news and on-chain
join the same way). Only data published at or before the moment a feature row is known is
used, and a source without data leaves its columns null instead of failing the table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_assets.frames import UTC_DTYPE

SENTIMENT_COLUMNS = ["sentiment_mean_24h", "sentiment_count_24h"]


def asof_join_sentiment(
    features: pd.DataFrame,
    texts: pd.DataFrame,
    timeframes: dict[str, pd.Timedelta],
    window: pd.Timedelta = pd.Timedelta(hours=24),
) -> pd.DataFrame:
    """Add the mean score and count of texts published in the ``window`` before each row is
    known (candle open + timeframe). ``texts`` needs ``time`` and ``score`` columns."""
    out = features.copy()
    out["sentiment_mean_24h"] = np.nan
    out["sentiment_count_24h"] = 0.0
    if out.empty or texts is None or texts.empty or not {"time", "score"} <= set(texts.columns):
        return out
    scored = texts[["time", "score"]].dropna()
    # one resolution on both sides: DuckDB hands stored times back in microseconds
    times = pd.to_datetime(scored["time"], utc=True).astype(UTC_DTYPE).astype("int64").to_numpy()
    order = np.argsort(times, kind="stable")
    times = times[order]
    cumulative = np.concatenate([[0.0], np.cumsum(scored["score"].to_numpy(dtype=float)[order])])
    step = out["timeframe"].map(timeframes) if "timeframe" in out else pd.Timedelta(0)
    known_at = (pd.to_datetime(out["date"], utc=True).astype(UTC_DTYPE) + step).astype("int64")
    known_at = known_at.to_numpy()
    hi = np.searchsorted(times, known_at, side="right")
    lo = np.searchsorted(times, known_at - window.value, side="right")
    count = (hi - lo).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (cumulative[hi] - cumulative[lo]) / count
    out["sentiment_count_24h"] = count
    out["sentiment_mean_24h"] = np.where(count > 0, mean, np.nan)
    return out
