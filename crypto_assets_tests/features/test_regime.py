"""Market-regime columns on real candles: each value is an aggregate over the coins of its own
date (so it inherits the features' no-look-ahead), NaN where the date has too few coins."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_assets.features.pipeline import build_feature_frame
from crypto_assets.features.regime import MIN_COINS, regime_feature_names


def test_regime_columns_are_the_markets_aggregates_of_each_date(daily_real: pd.DataFrame) -> None:
    # a thin market on the first days: only four coins before March, all of them after
    few = sorted(daily_real["symbol"].unique())[: MIN_COINS - 1]
    early = daily_real["date"] < pd.Timestamp("2024-03-01", tz="UTC")
    candles = daily_real[~early | daily_real["symbol"].isin(few)].reset_index(drop=True)
    frame = build_feature_frame(candles, "1d")
    assert set(regime_feature_names(frame.columns)) <= set(frame.columns)
    by_date = frame.groupby("date")
    coins = by_date["symbol"].transform("size")
    thin = (coins < MIN_COINS) & frame["ret_30d"].notna()
    assert thin.any() and frame.loc[thin, "mkt_ret_30d"].isna().all()
    assert frame.loc[coins >= MIN_COINS, "mkt_ret_30d"].notna().any()
    expected = {
        "mkt_ret_30d": by_date["ret_30d"].transform("median"),
        "mkt_dispersion_ret_30d": by_date["ret_30d"].transform("std"),
        "mkt_vol_7d": by_date["vol_7d"].transform("median"),
        "mkt_breadth_ret_7d": (frame["ret_7d"] > 0)
        .astype(float)
        .where(frame["ret_7d"].notna())
        .groupby(frame["date"])
        .transform("mean"),
    }
    for name, values in expected.items():
        np.testing.assert_allclose(
            frame[name].to_numpy(), values.where(coins >= MIN_COINS).to_numpy(), err_msg=name
        )
    btc = frame[frame["symbol"] == "BTC/USDT"].set_index("date")["ret_30d"]
    np.testing.assert_array_equal(frame["mkt_btc_ret_30d"], frame["date"].map(btc).to_numpy())
    # every model input is a float column; symbol and date lead
    assert list(frame.columns[:2]) == ["symbol", "date"]
    assert (frame.dtypes.iloc[2:] == np.float64).all()
