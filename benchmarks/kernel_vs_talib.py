"""How far the exact-window indicators are from TA-Lib's recursive ones, on real candles.

Run from the repository root:

    .venv/bin/python benchmarks/kernel_vs_talib.py

For every coin of binance_2024 (hourly and daily), computes RSI(14), the EMA distances, MACD
(12, 26, 9) and ATR(14) with ``build_technical_features`` (truncated exponential kernels, see
``crypto_assets/features/windows.py``) and with TA-Lib on the same candles, and prints the
largest absolute difference per feature, separately for rows whose coin already has a full
kernel of history ("warm") and for the warm-up rows before that (where TA-Lib's SMA seed and
the kernel's normalisation differ by construction). Rows from a coin's first hole on are left
out: there the kernel skips the missing bar and TA-Lib treats its neighbours as adjacent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import talib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto_assets.features.indicators import TIMEFRAME_SPECS, build_technical_features
from crypto_assets.features.windows import kernel_length
from crypto_assets.horizons import TIMEFRAMES
from crypto_assets.settings import DEFAULT_SNAPSHOT_DIR


def talib_features(coin: pd.DataFrame, timeframe: str) -> dict[str, np.ndarray]:
    close, high, low = (coin[k].to_numpy(np.float64) for k in ("close", "high", "low"))
    macd, signal, _ = talib.MACD(close, 12, 26, 9)
    out = {
        "rsi_14": talib.RSI(close, 14),
        "macd_norm": macd / close,
        "macd_signal_norm": signal / close,
        "atr_14_norm": talib.ATR(high, low, close, 14) / close,
    }
    for p in TIMEFRAME_SPECS[timeframe].ema_periods:
        out[f"dist_ema_{p}"] = close / talib.EMA(close, p) - 1
    return out


def warm_bars(name: str) -> int:
    if name.startswith("dist_ema_"):
        return kernel_length(2 / (int(name.rsplit("_", 1)[1]) + 1))
    if name.startswith("macd"):
        return kernel_length(2 / 27) + kernel_length(2 / 10)
    return kernel_length(1 / 14) + 1


def compare(timeframe: str) -> list[tuple[str, float, float, int]]:
    candles = pd.read_parquet(DEFAULT_SNAPSHOT_DIR / f"ohlcv_{timeframe}.parquet")
    candles = candles.sort_values(["symbol", "date"]).reset_index(drop=True)
    ours = build_technical_features(candles, timeframe)
    worst: dict[str, list[float]] = {}
    for symbol, coin in candles.groupby("symbol", sort=True):
        mine = ours[ours["symbol"] == symbol].reset_index(drop=True)
        holes = np.flatnonzero(coin["date"].diff().iloc[1:].ne(TIMEFRAMES[timeframe])) + 1
        clean = np.arange(len(coin)) < (holes[0] if len(holes) else len(coin))
        for name, reference in talib_features(coin, timeframe).items():
            both = clean & ~np.isnan(reference) & ~mine[name].isna().to_numpy()
            warm = np.arange(len(coin)) >= warm_bars(name)
            diff = np.abs(mine[name].to_numpy() - reference)
            entry = worst.setdefault(name, [0.0, 0.0, 0])
            if (both & warm).any():
                entry[0] = max(entry[0], float(diff[both & warm].max()))
                entry[2] += int((both & warm).sum())
            if (both & ~warm).any():
                entry[1] = max(entry[1], float(diff[both & ~warm].max()))
    return [(name, w, c, n) for name, (w, c, n) in worst.items()]


def main() -> None:
    print(
        "| timeframe | feature | warm-up bars | max abs diff, warm | max abs diff, warm-up "
        "| warm rows |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for timeframe in ("1h", "1d"):
        for name, warm, cold, rows in compare(timeframe):
            print(
                f"| {timeframe} | {name} | {warm_bars(name):,} | {warm:.1e} | {cold:.1e} "
                f"| {rows:,} |"
            )


if __name__ == "__main__":
    main()
