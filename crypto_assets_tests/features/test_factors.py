"""Risk factors of daily returns: the right numbers on frames built to know them, no
look-ahead, and a day read from only its look-back equals the whole history bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_assets.features.factors import build_factor_features, factor_feature_names
from crypto_assets.features.pipeline import feature_names, feature_views
from crypto_assets.horizons import HORIZONS
from crypto_assets.ml.config import TrainConfig

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2024-01-01", tz="UTC")


def _candles(returns: dict[str, np.ndarray], volume: float = 1_000.0) -> pd.DataFrame:
    """Daily candles whose closes follow the given daily log returns (first close 10)."""
    rows = []
    for symbol, r in returns.items():
        close = 10.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
        for i, c in enumerate(close):
            rows.append((symbol, START + i * DAY, c, c * 1.01, c * 0.99, c, volume))
    columns = ["symbol", "date", "open", "high", "low", "close", "volume"]
    return pd.DataFrame(rows, columns=columns)


def _others(days: int = 90) -> dict[str, np.ndarray]:
    """Five coins with different, deterministic return paths."""
    t = np.arange(days)
    return {
        f"C{k}/USD": 0.02 * np.sin(t * (0.3 + 0.17 * k) + k) + 0.004 * np.cos(t * 1.3 * k)
        for k in range(1, 6)
    }


def test_beta_and_idiosyncratic_volatility_of_a_coin_that_is_a_multiple_of_the_market() -> None:
    others = _others()
    mean_others = np.mean(list(others.values()), axis=0)
    # X = 2 x the others' mean, so the market (all six) = 7/6 x that mean and X = 12/7 x market
    frame = build_factor_features(_candles({**others, "X/USD": 2.0 * mean_others}), "1d")
    x = frame[frame["symbol"] == "X/USD"].set_index("date")
    assert x["beta_60d"].iloc[:60].isna().all()  # 60 returns need 61 closes
    np.testing.assert_allclose(x["beta_60d"].iloc[60:], 12 / 7, rtol=1e-9)
    np.testing.assert_allclose(x["idio_vol_60d"].iloc[60:], 0.0, atol=1e-9)
    other = frame[frame["symbol"] == "C1/USD"]
    assert (other["idio_vol_60d"].dropna() > 1e-3).all()  # not a multiple of the market


def test_largest_day_skewness_and_illiquidity() -> None:
    r = np.tile([0.01, -0.01], 20)
    r[35] = 0.10  # one jump: the largest day, and a right-skewed window
    candles = _candles({**_others(41), "J/USD": r}, volume=2_000.0)
    j = build_factor_features(candles, "1d").query("symbol == 'J/USD'").set_index("date")
    day = START + 36 * DAY  # the close after the jump
    assert j["max_ret_30d"].iloc[:30].isna().all()
    assert j.loc[day - DAY, "max_ret_30d"] == pytest.approx(0.01)
    assert j.loc[day, "max_ret_30d"] == pytest.approx(0.10)
    assert abs(j.loc[day - DAY, "skew_30d"]) < 0.2 and j.loc[day, "skew_30d"] > 3
    window = r[36 - 30 : 36]  # candle i closes after return r[i - 1]: the last 30 up to day 36
    closes = candles[candles["symbol"] == "J/USD"].set_index("date")["close"]
    dollar = closes.loc[day - 29 * DAY : day].to_numpy() * 2_000.0
    assert j.loc[day, "amihud_30d"] == pytest.approx(np.log(np.mean(np.abs(window) / dollar)))


def test_a_hole_or_a_thin_market_gives_nan_not_a_guess() -> None:
    candles = _candles(_others())
    hole = (candles["symbol"] == "C1/USD") & (candles["date"] == START + 70 * DAY)
    frame = build_factor_features(candles[~hole], "1d").set_index(["symbol", "date"])
    c1 = frame.loc["C1/USD"]
    assert c1.loc[START + 69 * DAY].notna().all()
    # the candle after the hole has no one-day return either, so 31 / 61 days are blanked
    assert c1.loc[START + 71 * DAY : START + 71 * DAY + 29 * DAY, "max_ret_30d"].isna().all()
    assert c1.loc[START + 71 * DAY : START + 71 * DAY + 59 * DAY, "beta_60d"].isna().all()
    # four coins on the other days: no market, so no beta (the others keep their own factors)
    c2 = frame.loc["C2/USD"]
    assert c2["beta_60d"].loc[START + 70 * DAY :].isna().all()
    assert c2["max_ret_30d"].loc[START + 70 * DAY :].notna().all()


def test_no_look_ahead(daily_real: pd.DataFrame) -> None:
    t = pd.Timestamp("2024-06-15", tz="UTC")
    before = build_factor_features(daily_real, "1d")
    changed = daily_real.copy()
    later = changed["date"] > t
    changed.loc[later, ["open", "high", "low", "close"]] *= 3.0  # every coin, after t
    after = build_factor_features(changed, "1d")
    upto = before["date"] <= t
    pd.testing.assert_frame_equal(before[upto], after[upto])
    assert not before[~upto].equals(after[~upto])


def test_a_day_from_its_factor_window_only_equals_the_whole_history(
    daily_real: pd.DataFrame,
) -> None:
    """A frame that starts 60 days before the day (the longest factor window) gives the same
    bits as the whole history: the market return is summed coin by coin, and each window
    from blocks fixed by absolute time. One day less changes beta (the check has teeth)."""
    t = pd.Timestamp("2024-07-20", tz="UTC")
    whole = build_factor_features(daily_real, "1d")
    whole = whole[whole["date"] == t].reset_index(drop=True)
    assert len(whole) > 100 and whole[factor_feature_names("1d")].notna().any().all()
    for days, equal in ((60, True), (59, False)):
        part = daily_real[(daily_real["date"] >= t - days * DAY) & (daily_real["date"] <= t)]
        bounded = build_factor_features(part, "1d", start=t).reset_index(drop=True)
        same = all(
            np.array_equal(whole[c].to_numpy(), bounded[c].to_numpy(), equal_nan=True)
            for c in factor_feature_names("1d")
        )
        assert same is equal


def test_daily_models_see_the_factors_and_the_30d_score_uses_them() -> None:
    assert factor_feature_names("1h") == []
    names = feature_names("1d")
    for factor in factor_feature_names("1d"):
        assert factor in names and f"{factor}_xrank" in names
        assert factor not in feature_names("1h")
    views = feature_views("1d")
    config = TrainConfig()
    thirty = config.views_for(HORIZONS["30d"])
    assert thirty == [views["technical"], views["returns"] + views["factors"]]
    assert config.views_for(HORIZONS["7d"]) == [views["technical"], views["returns"]]
    assert config.views_for(HORIZONS["24h"]) == [feature_views("1h")["technical"]]
    # the network (one trunk for score and probability) reads the views and the regime
    rnn_30d = config.params_for("rnn", HORIZONS["30d"])["inputs"]
    rnn_7d = config.params_for("rnn", HORIZONS["7d"])["inputs"]
    assert set(rnn_30d) == set(names) and set(rnn_30d) - set(rnn_7d) == set(views["factors"])
    # columns added to every view (the on-chain comparison) reach the network's inputs too
    extra = TrainConfig(view_extras=["net_active_addresses"])
    assert all(v[-1] == "net_active_addresses" for v in extra.views_for(HORIZONS["7d"]))
    assert "net_active_addresses" in extra.params_for("rnn", HORIZONS["7d"])["inputs"]
    # an explicit list for every horizon (the ablations) replaces the per-horizon default
    plain = TrainConfig(score_views=["technical"], horizon_score_views={})
    assert plain.views_for(HORIZONS["30d"]) == [views["technical"]]
