"""The sequence view: each row's own coin's last rows, never a later one, gaps left empty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_assets.features.sequences import gather, sequence_index

DAY = pd.Timedelta(days=1)


def _frame() -> pd.DataFrame:
    dates = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")
    a = pd.DataFrame({"symbol": "A/USDT", "date": dates, "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    b = pd.DataFrame({"symbol": "B/USDT", "date": dates[[0, 1, 3, 4]], "x": [10.0, 20, 40, 50]})
    # interleaved and out of order, as a frame sorted by (date, symbol) would be
    return pd.concat([a, b]).sort_values(["date", "symbol"]).reset_index(drop=True)


def test_each_row_reads_its_own_coins_past_up_to_itself() -> None:
    frame = _frame()
    index = sequence_index(frame, 3, DAY)
    assert index.shape == (len(frame), 3)
    assert (index[:, -1] == np.arange(len(frame))).all()  # the last step is the row itself
    values = gather(frame[["x"]].to_numpy(), index)[:, :, 0]
    keys = zip(frame["symbol"], frame["x"], strict=True)
    by_row = dict(zip(keys, values.tolist(), strict=True))
    assert by_row[("A/USDT", 4.0)] == [2.0, 3.0, 4.0]
    assert np.isnan(by_row[("A/USDT", 1.0)][:2]).all()  # before the first candle
    # B has no row on day 3: that step is missing, not filled with another coin or day
    assert np.isnan(by_row[("B/USDT", 40.0)][1]) and by_row[("B/USDT", 40.0)][0] == 20.0
    assert by_row[("B/USDT", 50.0)][1:] == [40.0, 50.0]


def test_no_step_points_to_a_later_row() -> None:
    frame = _frame()
    index = sequence_index(frame, 4, DAY)
    dates = pd.DatetimeIndex(frame["date"]).asi8
    symbols = frame["symbol"].to_numpy()
    present = index >= 0
    pointed = np.where(present, index, 0)
    assert (dates[pointed] <= dates[:, None])[present].all()
    assert (symbols[pointed] == symbols[:, None])[present].all()


def test_bad_frames_are_refused() -> None:
    frame = _frame()
    with pytest.raises(ValueError, match="more than one row"):
        sequence_index(pd.concat([frame, frame.head(1)]), 2, DAY)
    shifted = frame.assign(date=frame["date"] + pd.Timedelta(hours=1) * (frame.index % 2))
    with pytest.raises(ValueError, match="not aligned"):
        sequence_index(shifted, 2, DAY)
    assert sequence_index(frame.head(0), 3, DAY).shape == (0, 3)
