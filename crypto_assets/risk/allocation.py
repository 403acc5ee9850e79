"""Per-coin candle statistics (volatility, dollar volume, listing age), USD rates of quote
currencies, and the suggested allocation (rules A1-A5 in ``risk.rules``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_assets.risk.rules import RiskRules
from crypto_assets.risk.source import USD_LIKE, quote_of

STAT_COLUMNS = [
    "symbol",
    "last_close",
    "sigma_daily",
    "return_days",
    "dollar_volume_usd",
    "first_candle",
    "listing_age_days",
    "young_listing_known",
]


def usd_rate(quote: str, candles: pd.DataFrame, at: pd.Timestamp, max_age: pd.Timedelta) -> float:
    """USD per unit of ``quote``: 1 for USD/USDT/USDC (face value), else the close of the
    newest daily QUOTE/USD(T/C) candle that closed within ``max_age`` of ``at``; NaN if none."""
    if quote in USD_LIKE:
        return 1.0
    if candles.empty:
        return float("nan")
    pairs = [f"{quote}/{usd}" for usd in sorted(USD_LIKE)]
    rows = candles[candles["symbol"].isin(pairs)]
    closes_at = rows["date"] + pd.Timedelta(days=1)
    rows = rows[(closes_at - at).abs() <= max_age]
    if rows.empty:
        return float("nan")
    nearest = (rows["date"] + pd.Timedelta(days=1) - at).abs().idxmin()
    return float(rows.loc[nearest, "close"])


def coin_stats(
    candles: pd.DataFrame,
    symbols: list[str],
    day_end: pd.Timestamp,
    rules: RiskRules,
    first_candles: pd.Series | None = None,
) -> pd.DataFrame:
    """STAT_COLUMNS per symbol from daily candles opened before ``day_end``.

    ``first_candles`` (symbol -> first stored daily candle, from the whole store) gives the
    listing age; without it the first candle in ``candles`` is used. The age is only a
    listing age when that first candle is later than the store's first candle
    (``young_listing_known``)."""
    past = candles[(candles["date"] < day_end) & candles["symbol"].isin(symbols)]
    past = past.sort_values(["symbol", "date"], kind="stable")
    first = first_candles if first_candles is not None else past.groupby("symbol")["date"].min()
    store_start = first.min() if len(first) else pd.NaT
    rows = []
    for symbol in sorted(dict.fromkeys(symbols)):
        own = past[past["symbol"] == symbol]
        vol_window = own[own["date"] >= day_end - pd.Timedelta(days=rules.volatility_days + 1)]
        returns = np.log(vol_window.set_index("date")["close"]).diff().dropna()
        volume_window = own[own["date"] >= day_end - pd.Timedelta(days=rules.volume_days)]
        rate = usd_rate(
            quote_of(symbol), candles, day_end, pd.Timedelta(hours=rules.book_max_age_hours)
        )
        dollar_volume = (volume_window["close"] * volume_window["volume"]).median() * rate
        first_candle = first.get(symbol, pd.NaT)
        rows.append(
            {
                "symbol": symbol,
                "last_close": own["close"].iloc[-1] if len(own) else np.nan,
                "sigma_daily": returns.std(ddof=1) if len(returns) >= 2 else np.nan,
                "return_days": len(returns),
                "dollar_volume_usd": dollar_volume if len(volume_window) else np.nan,
                "first_candle": first_candle,
                "listing_age_days": (day_end - first_candle) / pd.Timedelta(days=1)
                if pd.notna(first_candle)
                else np.nan,
                "young_listing_known": bool(pd.notna(first_candle) and first_candle > store_start),
            }
        )
    frame = pd.DataFrame(rows, columns=STAT_COLUMNS)
    frame["first_candle"] = pd.to_datetime(frame["first_candle"], utc=True)
    frame["return_days"] = frame["return_days"].astype("int64")
    frame["young_listing_known"] = frame["young_listing_known"].astype(bool)
    for column in ("last_close", "sigma_daily", "dollar_volume_usd", "listing_age_days"):
        frame[column] = frame[column].astype("float64")
    return frame


def suggest_weights(coins: pd.DataFrame, rules: RiskRules) -> pd.DataFrame:
    """Rules A1-A5 on ``coins`` (symbol, sigma_daily, dollar_volume_usd, cluster, held_back):
    adds ``weight_vol`` (A1), ``weight_capped`` (A2, A3), ``suggested_allocation`` (A4, A5,
    0 for held-back coins) and ``allocation_usd``."""
    out = coins.copy()
    sized = out["sigma_daily"].where(out["sigma_daily"] > 0)
    out["weight_vol"] = (rules.target_daily_vol / sized).astype("float64")
    volume_cap = rules.max_volume_share * out["dollar_volume_usd"] / rules.portfolio_usd
    capped = out["weight_vol"].clip(upper=rules.max_weight)
    capped = capped.where(volume_cap.isna(), np.minimum(capped, volume_cap))
    out["weight_capped"] = capped.astype("float64")
    weight = out["weight_capped"].where(~out["held_back"], 0.0).fillna(0.0)
    cluster_sum = weight.groupby(out["cluster"]).transform("sum")
    over = cluster_sum > rules.max_cluster_weight
    weight = weight.where(~over, weight * rules.max_cluster_weight / cluster_sum)
    if weight.sum() > 1.0:
        weight = weight / weight.sum()
    out["suggested_allocation"] = weight.astype("float64")
    out["allocation_usd"] = out["suggested_allocation"] * rules.portfolio_usd
    return out
