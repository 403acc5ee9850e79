"""A day's features from only the look-back they need equal, bit for bit, the same day's
features from the whole history: for every model input (``features.pipeline``: indicators,
risk factors, ranks, market regime), on both timeframes, for coins with holes
and coins listed inside the look-back (real candles: binance_2024, and Kraken BTC/ETH since 2013,
whose early years have real holes and give daily histories longer than the daily look-back)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_assets.features.indicators import feature_columns, lookback
from crypto_assets.features.labels import resample_ohlcv
from crypto_assets.features.pipeline import build_feature_frame
from crypto_assets.horizons import TIMEFRAMES
from crypto_assets.market.snapshot import read_snapshot
from crypto_assets_tests.fixtures import KRAKEN_BTC_ETH_DIR

DAY = pd.Timedelta(days=1)
MARKET = ("beta_60d", "idio_vol_60d")  # risk factors measured against the market


@pytest.fixture(scope="module")
def kraken_hourly() -> pd.DataFrame:
    """Real Kraken BTC/USD and ETH/USD hourly candles, 2013-10..2023-03 (with real holes)."""
    return read_snapshot(KRAKEN_BTC_ETH_DIR)["1h"]


def _first_candles(ohlcv: pd.DataFrame) -> dict[str, pd.Timestamp]:
    return ohlcv.groupby("symbol")["date"].min().to_dict()


def _day_features(ohlcv: pd.DataFrame, timeframe: str, day: pd.Timestamp, span: pd.Timedelta):
    """The features of ``day`` computed from the candles of the ``span`` before it only."""
    window = ohlcv[(ohlcv["date"] >= day - span) & (ohlcv["date"] < day + DAY)]
    return build_feature_frame(window, timeframe, start=day, first_candle=_first_candles(ohlcv))


def _full_day(ohlcv: pd.DataFrame, timeframe: str, day: pd.Timestamp) -> pd.DataFrame:
    full = build_feature_frame(ohlcv, timeframe, first_candle=_first_candles(ohlcv))
    return full[(full["date"] >= day) & (full["date"] < day + DAY)].reset_index(drop=True)


def _differing(left: pd.DataFrame, right: pd.DataFrame) -> list[str]:
    pd.testing.assert_frame_equal(left[["symbol", "date"]], right[["symbol", "date"]])
    return [
        c
        for c in feature_columns(left)
        if not np.array_equal(left[c].to_numpy(), right[c].to_numpy(), equal_nan=True)
    ]


def _with_hole(ohlcv: pd.DataFrame, symbol: str, start: str, hours: int) -> pd.DataFrame:
    """``symbol`` without its candles in [start, start + hours) (a gap sanitation allows)."""
    t0 = pd.Timestamp(start, tz="UTC")
    gone = (ohlcv["symbol"] == symbol) & ohlcv["date"].between(
        t0, t0 + pd.Timedelta(hours=hours), inclusive="left"
    )
    return ohlcv[~gone].reset_index(drop=True)


@pytest.mark.parametrize("day", ["2024-04-15", "2024-06-01", "2024-08-30"])
def test_hourly_day_from_lookback_equals_full_history(
    hourly_full_few: pd.DataFrame, day: str
) -> None:
    candles = _with_hole(hourly_full_few, "BTC/USDT", "2024-05-20 03:00", 5)
    t = pd.Timestamp(day, tz="UTC")
    full = _full_day(candles, "1h", t)
    bounded = _day_features(candles, "1h", t, lookback("1h"))
    assert len(full) > 0 and set(full["symbol"]) >= {"BTC/USDT", "BURGER/USDT"}
    assert _differing(full, bounded) == []
    # every coin feature has values (three coins are too few for the market regime)
    assert full[[c for c in feature_columns(full) if not c.startswith("mkt_")]].notna().any().all()


@pytest.mark.parametrize("day", ["2024-03-10", "2024-07-01", "2024-09-05"])
def test_daily_day_from_lookback_equals_full_history(daily_real: pd.DataFrame, day: str) -> None:
    candles = _with_hole(daily_real, "ETH/USDT", "2024-02-10", 24 * 3)
    t = pd.Timestamp(day, tz="UTC")
    full = _full_day(candles, "1d", t)
    bounded = _day_features(candles, "1d", t, lookback("1d"))
    assert len(full) > 100
    assert _differing(full, bounded) == []
    if day != "2024-03-10":  # past the 60-day factor windows: every column has values
        assert full.drop(columns=["symbol", "date"]).notna().any().all()


def test_a_shorter_window_is_caught(hourly_full_few: pd.DataFrame) -> None:
    """The check has teeth: 30 bars less than the look-back changes the longest features."""
    t = pd.Timestamp("2024-06-01", tz="UTC")
    full = _full_day(hourly_full_few, "1h", t)
    short = _day_features(hourly_full_few, "1h", t, lookback("1h") - 30 * TIMEFRAMES["1h"])
    assert "dist_ema_168" in _differing(full, short)


def test_listing_age_comes_from_the_stored_first_candle(hourly_full_few: pd.DataFrame) -> None:
    t = pd.Timestamp("2024-08-01", tz="UTC")
    bounded = _day_features(hourly_full_few, "1h", t, lookback("1h"))
    btc = bounded[bounded["symbol"] == "BTC/USDT"]
    first = hourly_full_few.loc[hourly_full_few["symbol"] == "BTC/USDT", "date"].min()
    expected = (btc["date"] - first) / DAY
    np.testing.assert_array_equal(btc["days_since_first_candle"], expected)


@pytest.mark.parametrize("day", ["2018-02-06", "2019-06-01", "2023-03-30"])
def test_daily_day_from_lookback_equals_full_history_over_years(
    kraken_hourly: pd.DataFrame, day: str
) -> None:
    """Nine years of daily candles (more than the 518-day look-back), holes included."""
    daily = resample_ohlcv(kraken_hourly, "1d")
    t = pd.Timestamp(day, tz="UTC")
    assert daily["date"].min() < t - lookback("1d")  # the look-back really cuts history off
    full = _full_day(daily, "1d", t)
    assert _differing(full, _day_features(daily, "1d", t, lookback("1d"))) == []
    # most coin features have values: a window over a hole in the early years is NaN,
    # honestly (on 2018-02-06 a hole within 30 days blanks every 30- and 60-day window), and
    # two coins are too few for a market (no regime, no beta)
    coin_features = [c for c in feature_columns(full) if not c.startswith(("mkt_", *MARKET))]
    assert full[coin_features].notna().any().mean() > 0.6


@pytest.mark.parametrize("day", ["2016-03-01", "2022-11-09"])
def test_hourly_day_with_real_holes(kraken_hourly: pd.DataFrame, day: str) -> None:
    t = pd.Timestamp(day, tz="UTC")
    full = _full_day(kraken_hourly, "1h", t)
    assert len(full) > 0
    assert _differing(full, _day_features(kraken_hourly, "1h", t, lookback("1h"))) == []
