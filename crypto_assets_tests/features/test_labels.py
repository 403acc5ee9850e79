"""Forward-return labels and hourly -> daily resampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_assets.features.labels import (
    forward_returns,
    horizons_for,
    label_available_at,
    mask_unknown_labels,
    resample_ohlcv,
)
from crypto_assets.horizons import HORIZONS, Horizon

HOUR = pd.Timedelta(hours=1)
START = pd.Timestamp("2024-03-01", tz="UTC")


def _hourly(closes: list[float], symbol: str = "AAA/USD", start: pd.Timestamp = START):
    """A small inline hourly frame (test logic only): open = previous close, +-1 % wicks."""
    close = np.asarray(closes, dtype=float)
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame(
        {
            "symbol": symbol,
            "date": start + HOUR * np.arange(len(close)),
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": 10.0 + np.arange(len(close)),
        }
    )


CLOSES = [100.0 + 2 * i + (i % 3) for i in range(30)]


def test_exact_values_and_label_end() -> None:
    labels = forward_returns(_hourly(CLOSES), "1h", round_trip_cost=0.004)
    assert list(labels.columns) == [
        "symbol", "date", "fwd_ret_1h", "label_end_1h", "fwd_ret_24h", "label_end_24h"
    ]  # fmt: skip
    c = np.asarray(CLOSES)
    np.testing.assert_allclose(labels["fwd_ret_1h"].iloc[:-1], c[1:] / c[:-1] - 1 - 0.004)
    np.testing.assert_allclose(labels["fwd_ret_24h"].iloc[:6], c[24:] / c[:6] - 1 - 0.004)
    assert labels["fwd_ret_1h"].iloc[0] == pytest.approx(103 / 100 - 1 - 0.004)
    # Entry at the close of the 00:00 candle (known 01:00); exit at the close of the
    # 01:00 candle, known at 02:00.
    assert labels["label_end_1h"].iloc[0] == START + 2 * HOUR
    assert labels["label_end_24h"].iloc[0] == START + 25 * HOUR
    assert str(labels["label_end_24h"].dtype) == "datetime64[ns, UTC]"


def test_cost_is_subtracted_once() -> None:
    gross = forward_returns(_hourly(CLOSES), "1h", round_trip_cost=0.0)
    net = forward_returns(_hourly(CLOSES), "1h", round_trip_cost=0.01)
    diff = (gross["fwd_ret_24h"] - net["fwd_ret_24h"]).dropna()
    assert len(diff) == 6
    np.testing.assert_allclose(diff, 0.01, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="round_trip_cost"):
        forward_returns(_hourly(CLOSES), "1h", round_trip_cost=-0.1)


def test_last_bars_have_no_label() -> None:
    labels = forward_returns(_hourly(CLOSES), "1h", round_trip_cost=0.004)
    assert labels["fwd_ret_1h"].iloc[-1:].isna().all()
    assert labels["fwd_ret_1h"].iloc[:-1].notna().all()
    assert labels["fwd_ret_24h"].iloc[-24:].isna().all()
    assert labels["label_end_24h"].iloc[-24:].isna().all()
    assert labels["fwd_ret_24h"].iloc[:-24].notna().all()


def test_gap_gives_nan_not_a_wrong_horizon() -> None:
    frame = _hourly(CLOSES).drop(index=[5]).reset_index(drop=True)  # hour 05:00 missing
    labels = forward_returns(frame, "1h", round_trip_cost=0.004).set_index("date")
    assert np.isnan(labels.loc[START + 4 * HOUR, "fwd_ret_1h"])  # exit candle missing
    assert pd.isna(labels.loc[START + 4 * HOUR, "label_end_1h"])
    after_gap = labels.loc[START + 6 * HOUR, "fwd_ret_1h"]
    assert after_gap == pytest.approx(CLOSES[7] / CLOSES[6] - 1 - 0.004)
    # Rows that are not next to the gap keep their labels; a row-shift would have used
    # the 06:00 close as the 1h exit of 04:00.
    assert labels["fwd_ret_1h"].isna().sum() == 2  # 04:00 and the last row


def test_labels_depend_only_on_entry_and_exit_closes() -> None:
    """Everything before t except close[t] (and other coins) can change: the label stays."""
    base = _hourly(CLOSES)
    t = START + 10 * HOUR
    changed = base.copy()
    before = changed["date"] < t
    changed.loc[before, ["open", "high", "low", "close"]] *= 1.7
    changed.loc[:, "volume"] *= 5.0
    at_t = changed["date"] == t
    changed.loc[at_t, "open"] *= 0.5
    changed.loc[at_t, "low"] *= 0.5
    changed.loc[at_t, "high"] *= 1.5
    other = _hourly(CLOSES[::-1], symbol="BBB/USD")
    a = forward_returns(base, "1h", round_trip_cost=0.004).set_index("date")
    b = forward_returns(pd.concat([changed, other]), "1h", round_trip_cost=0.004)
    b = b.loc[b["symbol"] == "AAA/USD"].set_index("date")
    pd.testing.assert_frame_equal(a.loc[t:], b.loc[t:])
    assert not np.allclose(a.loc[: t - HOUR, "fwd_ret_1h"], b.loc[: t - HOUR, "fwd_ret_1h"])


def test_daily_horizons_on_real_candles(daily_real: pd.DataFrame) -> None:
    labels = forward_returns(daily_real, "1d", round_trip_cost=0.004)
    assert [c for c in labels.columns if c.startswith("fwd_ret_")] == ["fwd_ret_7d", "fwd_ret_30d"]
    btc = daily_real.loc[daily_real["symbol"] == "BTC/USDT"].set_index("date")["close"]
    day = pd.Timestamp("2024-03-01", tz="UTC")
    row = labels.loc[(labels["symbol"] == "BTC/USDT") & (labels["date"] == day)].iloc[0]
    exit_close = btc.loc[day + pd.Timedelta(days=30)]
    assert row["fwd_ret_30d"] == pytest.approx(exit_close / btc.loc[day] - 1 - 0.004, rel=1e-12)
    assert row["label_end_30d"] == pd.Timestamp("2024-04-01", tz="UTC")
    # Every coin's last 30 daily rows are unlabelled for 30d, none earlier (no gaps here).
    last = labels.groupby("symbol").tail(30)
    assert last["fwd_ret_30d"].isna().all()
    assert labels.drop(index=last.index)["fwd_ret_30d"].notna().all()


def test_horizon_selection_and_validation() -> None:
    assert [h.name for h in horizons_for("1h")] == ["1h", "24h"]
    assert [h.name for h in horizons_for("1d")] == ["7d", "30d"]
    custom = Horizon("3d", pd.Timedelta(days=3), "1d")
    daily = _hourly(CLOSES).assign(date=START + pd.Timedelta(days=1) * np.arange(30))
    labels = forward_returns(daily, "1d", horizons=[custom], round_trip_cost=0.004)
    assert list(labels.columns[2:]) == ["fwd_ret_3d", "label_end_3d"]
    by_name = forward_returns(_hourly(CLOSES), "1h", horizons=["24h"], round_trip_cost=0.004)
    assert list(by_name.columns[2:]) == ["fwd_ret_24h", "label_end_24h"]
    with pytest.raises(ValueError, match="unknown horizon"):
        forward_returns(_hourly(CLOSES), "1h", horizons=["2h"], round_trip_cost=0.004)
    with pytest.raises(ValueError, match="multiple"):
        forward_returns(
            _hourly(CLOSES),
            "1h",
            horizons=[Horizon("90m", 1.5 * HOUR, "1h")],
            round_trip_cost=0.004,
        )
    with pytest.raises(ValueError, match="unsupported timeframe"):
        forward_returns(_hourly(CLOSES), "4h", round_trip_cost=0.004)


def test_label_available_at_and_masking() -> None:
    labels = forward_returns(_hourly(CLOSES), "1h", round_trip_cost=0.004)
    assert label_available_at(START, "24h") == START + 25 * HOUR
    np.testing.assert_array_equal(
        label_available_at(labels["date"], HORIZONS["1h"]).iloc[:-1],
        labels["label_end_1h"].iloc[:-1],
    )
    as_of = START + 5 * HOUR
    masked = mask_unknown_labels(labels, as_of)
    known = masked["fwd_ret_1h"].notna()
    assert known.sum() == 4  # entries at 00:00..03:00 end by 05:00
    assert (masked.loc[known, "label_end_1h"] <= as_of).all()
    assert masked["fwd_ret_24h"].isna().all()
    assert labels["fwd_ret_1h"].notna().sum() == 29  # input untouched
    with pytest.raises(ValueError, match="timezone"):
        mask_unknown_labels(labels, pd.Timestamp("2024-03-01"))


def test_resample_inline_rules() -> None:
    day1 = _hourly(CLOSES[:24])
    day2 = _hourly(CLOSES[:19], start=START + pd.Timedelta(days=1))  # 19 candles: incomplete
    day3 = _hourly(CLOSES[:22], start=START + pd.Timedelta(days=2)).drop(index=[3, 7])
    day4 = _hourly(CLOSES[:23], start=START + pd.Timedelta(days=3))  # data ends mid-day 4
    frame = pd.concat([day1, day2, day3, day4], ignore_index=True)
    daily = resample_ohlcv(frame, "1d")
    assert list(daily.columns) == ["symbol", "date", "open", "high", "low", "close", "volume"]
    assert list(daily["date"]) == [START, START + pd.Timedelta(days=2)]
    first = daily.iloc[0]
    assert first["open"] == day1["open"].iloc[0] and first["close"] == day1["close"].iloc[-1]
    assert first["high"] == day1["high"].max() and first["low"] == day1["low"].min()
    assert first["volume"] == pytest.approx(day1["volume"].sum())
    assert daily.iloc[1]["close"] == day3["close"].iloc[-1]  # 20 candles is enough
    # The 4th day is complete once any candle of the frame reaches past its end.
    late = _hourly([1.0, 1.0], symbol="ZZZ/USD", start=START + pd.Timedelta(days=4))
    with_late = resample_ohlcv(pd.concat([frame, late]), "1d")
    assert START + pd.Timedelta(days=3) in set(with_late["date"])
    with pytest.raises(ValueError, match="only hourly"):
        resample_ohlcv(frame, "4h")


def test_resample_matches_real_daily_candles(hourly_full_few, daily_real) -> None:
    """Binance's own daily candles are what resampling its hourly candles gives."""
    ours = resample_ohlcv(hourly_full_few, "1d")
    theirs = daily_real.loc[daily_real["symbol"].isin(hourly_full_few["symbol"].unique())]
    merged = ours.merge(theirs, on=["symbol", "date"], how="outer", indicator=True)
    both = merged["_merge"] == "both"
    assert both.sum() > 500
    for c in ["open", "high", "low", "close"]:
        np.testing.assert_array_equal(merged.loc[both, f"{c}_x"], merged.loc[both, f"{c}_y"])
    np.testing.assert_allclose(
        merged.loc[both, "volume_x"], merged.loc[both, "volume_y"], rtol=1e-9
    )
    # Only the listing days (fewer than 20 hourly candles) are missing from ours.
    missing = merged.loc[merged["_merge"] == "right_only"]
    assert set(missing["symbol"]) <= {"ENA/USDT"} and len(missing) <= 1
    assert (merged["_merge"] != "left_only").all()
