"""Technical features: no look-ahead, exact values, scale-freeness, validation, ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from crypto_assets.features import indicators, windows
from crypto_assets.features.indicators import (
    add_cross_sectional_ranks,
    build_technical_features,
    feature_columns,
    technical_feature_names,
)
from crypto_assets.features.labels import forward_returns

PRICES = ["open", "high", "low", "close"]


def _features_with_ranks(ohlcv: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    return add_cross_sectional_ranks(build_technical_features(ohlcv, timeframe))


def _perturb_after(ohlcv: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    """Every candle after ``cut`` changed (prices, range, volume) plus a coin listed after it."""
    frame = ohlcv.copy()
    after = frame["date"] > cut
    step = np.arange(int(after.sum())) % 7
    factor = 1.1 + 0.05 * step - 0.12 * (step % 2)  # never 1
    frame.loc[after, PRICES] = frame.loc[after, PRICES].mul(factor, axis=0)
    frame.loc[after, "high"] *= 1.03
    frame.loc[after, "volume"] *= 3.0 + step
    newcomer = ohlcv.loc[after & (ohlcv["symbol"] == ohlcv["symbol"].iloc[0])].copy()
    newcomer["symbol"] = "NEWCOIN/USDT"
    return pd.concat([frame, newcomer], ignore_index=True)


def _assert_same_up_to(reference: pd.DataFrame, other: pd.DataFrame, cut: pd.Timestamp) -> None:
    """Every column of every row dated <= cut is identical (NaN == NaN), row for row."""
    left = reference.loc[reference["date"] <= cut].reset_index(drop=True)
    right = other.loc[other["date"] <= cut].reset_index(drop=True)
    assert list(left.columns) == list(right.columns)
    pd.testing.assert_frame_equal(left[["symbol", "date"]], right[["symbol", "date"]])
    for column in feature_columns(left):
        np.testing.assert_array_equal(
            left[column].to_numpy(), right[column].to_numpy(), err_msg=f"{column} at <= {cut}"
        )


@pytest.mark.parametrize(
    "cut",
    ["2024-03-05 11:00", "2024-04-02 09:00", "2024-04-20 17:00", "2024-05-09 22:00"],
)
def test_no_lookahead_hourly(hourly_real: pd.DataFrame, cut: str) -> None:
    t = pd.Timestamp(cut, tz="UTC")
    full = _features_with_ranks(hourly_real, "1h")
    assert full["date"].max() > t
    truncated = _features_with_ranks(hourly_real.loc[hourly_real["date"] <= t], "1h")
    changed = _features_with_ranks(_perturb_after(hourly_real, t), "1h")
    _assert_same_up_to(full, truncated, t)
    _assert_same_up_to(full, changed, t)
    # The perturbation really changed the features after t (so the check above has teeth).
    later = changed.loc[changed["date"].gt(t) & changed["symbol"].ne("NEWCOIN/USDT")]
    assert not np.allclose(
        full.loc[full["date"] > t, "ret_1h"], later["ret_1h"], equal_nan=True, rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("cut", ["2024-01-20", "2024-04-02", "2024-06-30", "2024-09-01"])
def test_no_lookahead_daily(daily_real: pd.DataFrame, cut: str) -> None:
    t = pd.Timestamp(cut, tz="UTC")
    full = _features_with_ranks(daily_real, "1d")
    _assert_same_up_to(full, _features_with_ranks(daily_real.loc[daily_real["date"] <= t], "1d"), t)
    _assert_same_up_to(full, _features_with_ranks(_perturb_after(daily_real, t), "1d"), t)


def test_lookahead_check_catches_forward_looking_columns(hourly_real: pd.DataFrame) -> None:
    """The checker used above fails on a column that does look ahead (a forward return)."""
    t = pd.Timestamp("2024-04-20 17:00", tz="UTC")

    def leaky(ohlcv: pd.DataFrame) -> pd.DataFrame:
        labels = forward_returns(ohlcv, "1h", round_trip_cost=0.004)
        return labels[["symbol", "date"]].assign(leak=labels["fwd_ret_24h"])

    with pytest.raises(AssertionError, match="leak"):
        _assert_same_up_to(leaky(hourly_real), leaky(_perturb_after(hourly_real, t)), t)


def test_exact_values_against_direct_computation(hourly_real: pd.DataFrame) -> None:
    feats = build_technical_features(hourly_real, "1h")
    btc = feats.loc[feats["symbol"] == "BTC/USDT"].reset_index(drop=True)
    raw = hourly_real.loc[hourly_real["symbol"] == "BTC/USDT"].sort_values("date")
    raw = raw.reset_index(drop=True)
    close, volume = raw["close"], raw["volume"]
    np.testing.assert_allclose(btc["ret_24h"], close / close.shift(24) - 1, rtol=1e-12)
    np.testing.assert_allclose(btc["ret_30d"], close / close.shift(720) - 1, rtol=1e-12)
    log_ret = np.log(close / close.shift(1))
    np.testing.assert_allclose(btc["vol_24h"], log_ret.rolling(24).std(), rtol=1e-9)
    c = close.to_numpy()
    # Kernel indicators: TA-Lib's values once the kernel is warm (the kernel is TA-Lib's EMA
    # truncated where the weight left out is < 1e-9; before that they differ by their seeds),
    # and NaN on exactly the same leading bars.
    talib_values = {
        "rsi_14": talib.RSI(c, 14),
        "dist_ema_72": c / talib.EMA(c, 72) - 1,
        "macd_norm": talib.MACD(c, 12, 26, 9)[0] / c,
        "macd_signal_norm": talib.MACD(c, 12, 26, 9)[1] / c,
        "atr_14_norm": talib.ATR(raw["high"].to_numpy(), raw["low"].to_numpy(), c, 14) / c,
    }
    warm = windows.kernel_length(2 / 73)  # the longest kernel among these (EMA 72)
    for name, expected in talib_values.items():
        np.testing.assert_array_equal(np.isnan(btc[name]), np.isnan(expected), err_msg=name)
        np.testing.assert_allclose(
            btc[name][warm:], expected[warm:], rtol=1e-7, atol=1e-9, err_msg=name
        )
    signed = np.sign(close.diff()).fillna(0) * volume
    obv_slope = signed.rolling(24).sum() / volume.rolling(24).sum()
    obv_slope[:24] = np.nan  # needs the close before the window
    np.testing.assert_allclose(btc["obv_slope_24h"], obv_slope, rtol=1e-8, atol=1e-12)
    vz = (volume - volume.rolling(168).mean()) / volume.rolling(168).std()
    np.testing.assert_allclose(btc["volume_z_7d"], vz, rtol=1e-8)
    np.testing.assert_allclose(btc["hl_range"], (raw["high"] - raw["low"]) / close, rtol=1e-12)
    drawdown = close / raw["high"].rolling(720).max() - 1
    np.testing.assert_allclose(btc["drawdown_30d"], drawdown, rtol=1e-12)
    hours = (raw["date"] - raw["date"].iloc[0]) / pd.Timedelta(days=1)
    np.testing.assert_allclose(btc["days_since_first_candle"], hours, rtol=1e-12)
    # NaN exactly while the lookback is unfilled, then defined.
    assert btc["ret_30d"].iloc[:720].isna().all() and btc["ret_30d"].iloc[720:].notna().all()
    assert (
        btc["drawdown_30d"].iloc[:719].isna().all() and btc["drawdown_30d"].iloc[719:].notna().all()
    )


def test_coin_features_do_not_depend_on_other_coins_or_row_order(
    hourly_real: pd.DataFrame,
) -> None:
    together = build_technical_features(hourly_real.sample(frac=1.0, random_state=7), "1h")
    for symbol in ["ENA/USDT", "PEPE/USDT"]:
        alone = build_technical_features(hourly_real.loc[hourly_real["symbol"] == symbol], "1h")
        mine = together.loc[together["symbol"] == symbol].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone, check_exact=True)


def test_output_layout_and_timeframe_columns(hourly_real, daily_real) -> None:
    hourly = build_technical_features(hourly_real, "1h")
    daily = build_technical_features(daily_real, "1d")
    assert len(hourly) == len(hourly_real) and len(daily) == len(daily_real)
    for frame, tf in [(hourly, "1h"), (daily, "1d")]:
        assert list(frame.columns) == ["symbol", "date", *technical_feature_names(tf)]
        assert frame.index.equals(pd.RangeIndex(len(frame)))
        ordered = frame.sort_values(["symbol", "date"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(frame, ordered)
        assert str(frame["date"].dtype) == "datetime64[ns, UTC]"
        assert all(frame[c].dtype == np.float64 for c in feature_columns(frame))
        assert not ({"open", "high", "low", "close", "volume"} & set(frame.columns))
    assert {"ret_1h", "ret_24h", "ret_7d", "ret_30d"} <= set(hourly.columns)
    assert "ret_1h" not in daily.columns and {"ret_24h", "ret_7d", "ret_30d"} <= set(daily.columns)
    # On daily candles ret_24h is the one-bar return.
    btc = daily.loc[daily["symbol"] == "BTC/USDT", "ret_24h"].to_numpy()
    close = daily_real.loc[daily_real["symbol"] == "BTC/USDT"].sort_values("date")["close"]
    np.testing.assert_allclose(btc, close.pct_change().to_numpy(), rtol=1e-12)


def test_features_are_scale_free(hourly_real: pd.DataFrame) -> None:
    """Quoting a coin in a 1000x smaller unit (prices x1000, base volume /1000) changes nothing."""
    rescaled = hourly_real.copy()
    pepe = rescaled["symbol"] == "PEPE/USDT"
    rescaled.loc[pepe, PRICES] *= 1000.0
    rescaled.loc[pepe, "volume"] /= 1000.0
    a = _features_with_ranks(hourly_real, "1h")
    b = _features_with_ranks(rescaled, "1h")
    for column in feature_columns(a):
        np.testing.assert_allclose(a[column], b[column], rtol=1e-7, atol=1e-9, err_msg=column)


def test_short_history_gives_nan_not_errors(daily_real: pd.DataFrame) -> None:
    few = daily_real.loc[daily_real["symbol"] == "SLF/USDT"]  # 8 daily candles
    feats = build_technical_features(few, "1d")
    assert len(feats) == len(few) == 8
    assert feats["rsi_14"].isna().all() and feats["ret_30d"].isna().all()
    assert feats["ret_7d"].iloc[7] == pytest.approx(few["close"].iloc[7] / few["close"].iloc[0] - 1)


def test_empty_frame(daily_real: pd.DataFrame) -> None:
    feats = add_cross_sectional_ranks(build_technical_features(daily_real.iloc[:0], "1d"))
    assert feats.empty and "rsi_14_xrank" in feats.columns


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["volume"]), "lacks columns"),
        (lambda f: f.assign(date=f["date"].dt.tz_localize(None)), "datetime64"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "duplicate"),
        (lambda f: f.assign(symbol=f["symbol"].where(f.index != 2, None)), "missing"),
        (lambda f: f.assign(close=f["close"].where(f.index != 3, 0.0)), "non-positive"),
        (lambda f: f.assign(volume=f["volume"].where(f.index != 3, np.nan)), "non-finite"),
        (lambda f: f.assign(high=f["low"] * 0.5), "high < low"),
        (lambda f: f.assign(date=f["date"] + pd.Timedelta(minutes=30)), "boundary"),
    ],
)
def test_bad_input_raises_clear_error(daily_real: pd.DataFrame, mutate, message: str) -> None:
    frame = daily_real.iloc[:50].reset_index(drop=True)
    with pytest.raises(ValueError, match=message):
        build_technical_features(mutate(frame), "1d")


def test_unknown_timeframe_and_hourly_frame_labelled_daily(hourly_real: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="unsupported timeframe"):
        build_technical_features(hourly_real, "4h")
    with pytest.raises(ValueError, match="wrong timeframe"):
        build_technical_features(hourly_real, "1d")


def test_cross_sectional_ranks(daily_real: pd.DataFrame) -> None:
    feats = build_technical_features(daily_real, "1d")
    ranked = add_cross_sectional_ranks(feats)
    columns = technical_feature_names("1d")
    assert list(ranked.columns) == [*feats.columns, *[f"{c}_xrank" for c in columns]]
    expected = feats.groupby("date")[columns].rank(pct=True)
    for c in columns:
        np.testing.assert_array_equal(ranked[f"{c}_xrank"], expected[c], err_msg=c)
        assert ranked[f"{c}_xrank"].isna().equals(feats[c].isna())
    values = ranked[[f"{c}_xrank" for c in columns]].to_numpy()
    assert np.nanmin(values) > 0 and np.nanmax(values) == 1.0
    # The top coin by 30d return on a date has rank 1.
    day = ranked.loc[ranked["date"] == pd.Timestamp("2024-06-01", tz="UTC")]
    assert day.loc[day["ret_30d"].idxmax(), "ret_30d_xrank"] == 1.0
    # Ranking again replaces, not duplicates; a subset of columns can be asked for.
    again = add_cross_sectional_ranks(ranked, ["ret_7d"])
    assert list(again.columns).count("ret_7d_xrank") == 1
    np.testing.assert_array_equal(again["ret_7d_xrank"], ranked["ret_7d_xrank"])
    with pytest.raises(ValueError, match="not in the frame"):
        add_cross_sectional_ranks(feats, ["nope"])


def test_sparse_rank_path_matches_dense(daily_real: pd.DataFrame, monkeypatch) -> None:
    feats = build_technical_features(daily_real, "1d")
    dense = add_cross_sectional_ranks(feats, ["ret_7d", "rsi_14"])
    monkeypatch.setattr(indicators, "DENSE_RANK_MAX_CELLS_PER_ROW", 0)
    monkeypatch.setattr(indicators, "DENSE_RANK_MIN_CELLS", 0)
    sparse = add_cross_sectional_ranks(feats, ["ret_7d", "rsi_14"])
    pd.testing.assert_frame_equal(dense, sparse, check_exact=True)


def test_feature_columns_excludes_identifiers_prices_and_labels() -> None:
    frame = pd.DataFrame(
        {
            "symbol": ["A/USD"],
            "date": pd.to_datetime(["2024-01-01"], utc=True),
            "close": [1.0],
            "rsi_14": [50.0],
            "rsi_14_xrank": [1.0],
            "fwd_ret_1h": [0.1],
            "label_end_1h": pd.to_datetime(["2024-01-01 02:00"], utc=True),
            "flag": [True],
        }
    )
    assert feature_columns(frame) == ["rsi_14", "rsi_14_xrank"]


def test_small_work_pieces_give_identical_results(daily_real: pd.DataFrame, monkeypatch) -> None:
    """Splitting coins into many panels and dates into many rank slabs changes no number."""
    whole = _features_with_ranks(daily_real, "1d")
    monkeypatch.setattr(indicators, "PANEL_MAX_CELLS", 600)
    pieces = _features_with_ranks(daily_real, "1d")
    pd.testing.assert_frame_equal(whole, pieces, check_exact=True)


@pytest.mark.parametrize("sparse", [False, True])
def test_ranks_refuse_duplicate_rows(daily_real: pd.DataFrame, monkeypatch, sparse: bool) -> None:
    if sparse:
        monkeypatch.setattr(indicators, "DENSE_RANK_MAX_CELLS_PER_ROW", 0)
        monkeypatch.setattr(indicators, "DENSE_RANK_MIN_CELLS", 0)
    feats = build_technical_features(daily_real.iloc[:300], "1d")
    with pytest.raises(ValueError, match="duplicate"):
        add_cross_sectional_ranks(pd.concat([feats, feats.iloc[[5]]], ignore_index=True))
