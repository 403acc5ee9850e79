"""As-of join of scored texts onto feature rows: only texts public when the row is known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_assets.features.external import asof_join_sentiment
from crypto_assets.horizons import TIMEFRAMES

T0 = pd.Timestamp("2024-03-01", tz="UTC")


def test_trailing_day_of_texts_as_of_the_row_close() -> None:
    # inline frames: the join logic only (real texts are scored in the sentiment tests)
    features = pd.DataFrame(
        {
            "symbol": ["A/USD", "A/USD", "A/USD"],
            "date": [T0, T0 + pd.Timedelta(hours=5), T0 + pd.Timedelta(days=3)],
            "timeframe": ["1h", "1h", "1h"],
        }
    )
    texts = pd.DataFrame(
        {
            "time": [
                T0 + pd.Timedelta(minutes=30),
                T0 + pd.Timedelta(hours=1),
                T0 + pd.Timedelta(hours=6),
            ],
            "score": [0.5, -1.0, 1.0],
        }
    )
    out = asof_join_sentiment(features, texts, TIMEFRAMES)
    # row 0 is known at 01:00: texts at 00:30 and 01:00 count; the 06:00 text is in its future
    assert out["sentiment_count_24h"].tolist() == [2.0, 3.0, 0.0]  # 06:00 text known at 06:00
    assert out["sentiment_mean_24h"].iloc[0] == -0.25
    assert np.isnan(out["sentiment_mean_24h"].iloc[2])  # nothing in the trailing 24 h


def test_no_texts_leaves_columns_null() -> None:
    features = pd.DataFrame({"symbol": ["A/USD"], "date": [T0], "timeframe": ["1d"]})
    out = asof_join_sentiment(features, pd.DataFrame(), TIMEFRAMES)
    assert out["sentiment_count_24h"].tolist() == [0.0]
    assert out["sentiment_mean_24h"].isna().all()
