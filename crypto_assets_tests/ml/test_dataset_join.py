"""The dataset join by position (``ml.dataset.build_dataset``, ``key_positions``) gives exactly
what a one-to-one merge on symbol/date, a filter on known labels and a sort by (date, symbol)
give, on real candles, without their copies of every feature column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_assets.features.labels import forward_returns
from crypto_assets.features.pipeline import build_feature_frame, feature_names
from crypto_assets.horizons import HORIZONS
from crypto_assets.ml.dataset import build_dataset, key_positions


def _merged(features: pd.DataFrame, labels: pd.DataFrame, name: str) -> pd.DataFrame:
    """The dataset as the merge wrote it before the positional join."""
    ret, end = f"fwd_ret_{name}", f"label_end_{name}"
    longer = [c for c in labels.columns if c.endswith("_30d")] if name == "7d" else []
    outcome = labels[["symbol", "date", ret, end, *longer]].rename(
        columns={ret: "y_return", end: "label_end"}
    )
    frame = features[["symbol", "date", *feature_names("1d")]].merge(
        outcome, on=["symbol", "date"], how="inner", validate="one_to_one"
    )
    known = frame["y_return"].notna() & np.isfinite(frame["y_return"]) & frame["label_end"].notna()
    return frame[known].sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("name", ["7d", "30d"])
def test_the_positional_join_equals_the_merge(daily_40: pd.DataFrame, name: str) -> None:
    # shuffled and thinned inputs: the join must not rely on the frames' order or on every
    # feature row having a label row
    features = build_feature_frame(daily_40, "1d").sample(frac=1.0, random_state=3)
    labels = forward_returns(daily_40, "1d", ["7d", "30d"], round_trip_cost=0.004)
    labels = labels.sample(frac=0.9, random_state=4)
    dataset = build_dataset(features, labels, HORIZONS[name], feature_names("1d"))
    expected = _merged(features, labels, name)
    assert len(dataset.labelled) < len(features)  # unknown and missing labels were left out
    pd.testing.assert_frame_equal(dataset.labelled, expected)


def test_key_positions_match_instants_whatever_the_time_unit() -> None:
    dates = pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-03"], utc=True)
    left = pd.DataFrame({"symbol": ["A", "B", "A"], "date": dates.as_unit("us")})
    right = pd.DataFrame({"symbol": ["A", "A", "C"], "date": dates[[2, 0, 0]].as_unit("ns")})
    assert key_positions(left, right, "7d").tolist() == [1, -1, 0]


@pytest.mark.parametrize("side", ["feature", "label", "candle"])
def test_a_repeated_symbol_and_date_is_an_error(side: str) -> None:
    date = pd.Timestamp("2024-03-01", tz="UTC")
    once = pd.DataFrame({"symbol": ["A", "B"], "date": [date, date]})
    twice = pd.DataFrame({"symbol": ["A", "A"], "date": [date, date]})
    left, right = (twice, once) if side == "feature" else (once, twice)
    sides = ("feature", side) if side == "candle" else ("feature", "label")
    with pytest.raises(ValueError, match=f"7d: the {side} rows repeat a symbol and date"):
        key_positions(left, right, "7d", sides)
