"""Risk factors of daily returns: what the cross-section of expected returns is known to
depend on beyond trend and volume.

* ``beta_60d``: the coin's beta to the market (the equal-weight mean of the coins' daily log
  returns), and ``idio_vol_60d``: the volatility of its return left unexplained by the market
  (the idiosyncratic-volatility effect, Ang, Hodrick, Xing & Zhang 2006);
* ``max_ret_30d``: its largest daily return, and ``skew_30d``: the skewness of its daily
  returns (lottery-like coins, Bali, Cakici & Whitelaw 2011);
* ``amihud_30d``: log of its mean absolute daily return per unit of dollar volume (Amihud's
  illiquidity, 2002).

These effects are documented at monthly holding periods; measured here they help the 30-day
ranking and not the 7-day one (benchmarks/README.md, "Risk factors"), which is how
``ml.config.TrainConfig`` uses them.

Beta and idiosyncratic volatility need every coin's return of a day at once, so the factors
are computed on one (coins x days) panel over the whole frame, not per coin. Like every other
feature they are EXACT functions of their trailing window (``features.windows``): the market
return of a day is summed coin by coin in symbol order (a coin absent from a frame adds
nothing), so a daily partition read with ``indicators.lookback`` gives, bit for bit, the
numbers of the whole history (tested). A window over a hole, or over a day with fewer than
``regime.MIN_COINS`` coins, is incomplete: NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_assets.features import windows
from crypto_assets.features.indicators import TIMEFRAME_SPECS
from crypto_assets.features.regime import MIN_COINS
from crypto_assets.horizons import TIMEFRAMES


def factor_feature_names(timeframe: str) -> list[str]:
    """The factor columns of ``timeframe`` (empty for hourly candles), in order."""
    spec = TIMEFRAME_SPECS.get(timeframe)
    return list(spec.factor_windows) if spec else []


def build_factor_features(
    ohlcv: pd.DataFrame, timeframe: str, *, start: pd.Timestamp | None = None
) -> pd.DataFrame:
    """symbol, date and ``factor_feature_names(timeframe)`` for every candle dated at or after
    ``start``; each value uses only candles at or before its date (``ohlcv`` as validated by
    ``indicators.build_technical_features``: canonical, one candle per coin and bar)."""
    names = factor_feature_names(timeframe)
    keep = np.ones(len(ohlcv), dtype=bool)
    if start is not None:
        keep = (ohlcv["date"] >= pd.Timestamp(start)).to_numpy()
    frame = ohlcv.loc[keep, ["symbol", "date"]].reset_index(drop=True)
    if not names or frame.empty:
        for name in names:
            frame[name] = np.nan
        return frame
    window = TIMEFRAME_SPECS[timeframe].factor_windows
    step = TIMEFRAMES[timeframe].value
    coin, symbols = pd.factorize(ohlcv["symbol"].astype(str), sort=True)
    bar = ohlcv["date"].dt.tz_convert("UTC").array.asi8 // step
    origin = int(bar.min())
    shape = (len(symbols), int(bar.max()) - origin + 1)
    cell = (coin, bar - origin)
    close, dollar_volume = np.full(shape, np.nan), np.full(shape, np.nan)
    close[cell] = ohlcv["close"].to_numpy(dtype=np.float64)
    dollar_volume[cell] = close[cell] * ohlcv["volume"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(close / windows.lag(close, 1))
        market = _market_return(r)
        # the market over the coin's own days: a window is complete when the coin's is
        m = np.where(np.isnan(r), np.nan, market)
        fits = {
            k: _regression(r, m, k, origin) for k in {window["beta_60d"], window["idio_vol_60d"]}
        }
        values = {
            "max_ret_30d": windows.window_max(r, window["max_ret_30d"], origin),
            "skew_30d": _skewness(r, window["skew_30d"], origin),
            "beta_60d": fits[window["beta_60d"]][0],
            "idio_vol_60d": fits[window["idio_vol_60d"]][1],
            "amihud_30d": _illiquidity(r, dollar_volume, window["amihud_30d"], origin),
        }
    at = (coin[keep], (bar - origin)[keep])
    for name in names:
        frame[name] = values[name][at]
    return frame


def _market_return(r: np.ndarray) -> np.ndarray:
    """Equal-weight mean of the coins' returns per bar (NaN under MIN_COINS), summed coin by
    coin in a fixed order so that the value does not depend on which other bars the frame has."""
    total, count = np.zeros(r.shape[1]), np.zeros(r.shape[1])
    for row in r:
        present = ~np.isnan(row)
        total += np.where(present, row, 0.0)
        count += present
    return np.where(count >= MIN_COINS, total / np.maximum(count, 1), np.nan)


def _skewness(r: np.ndarray, k: int, origin: int) -> np.ndarray:
    """Population skewness over the last ``k`` bars, from the window's first three moments."""
    mean = windows.window_sum(r, k, origin) / k
    second = windows.window_sum(r * r, k, origin) / k
    third = windows.window_sum(r * r * r, k, origin) / k
    var = second - mean * mean
    central = third - 3 * mean * second + 2 * mean**3
    return np.where(var > 1e-12, central / np.power(np.maximum(var, 1e-12), 1.5), np.nan)


def _regression(r: np.ndarray, m: np.ndarray, k: int, origin: int) -> tuple[np.ndarray, ...]:
    """Beta to the market and the volatility of the residual over the last ``k`` bars."""
    mean_r, var_r = windows.window_mean_var(r, k, origin, 1)
    mean_m, var_m = windows.window_mean_var(m, k, origin, 1)
    cov = (windows.window_sum(r * m, k, origin) - k * mean_r * mean_m) / (k - 1)
    var_m = np.where(var_m > 1e-12, var_m, np.nan)
    beta = cov / var_m
    return beta, np.sqrt(np.maximum(var_r - cov * beta, 0.0))


def _illiquidity(r: np.ndarray, dollar_volume: np.ndarray, k: int, origin: int) -> np.ndarray:
    """log of the mean |return| per unit of dollar volume (a day without volume: a hole)."""
    per_day = np.where(dollar_volume > 0, np.abs(r) / dollar_volume, np.nan)
    mean = windows.window_sum(per_day, k, origin) / k
    return np.where(mean > 0, np.log(mean), np.nan)
