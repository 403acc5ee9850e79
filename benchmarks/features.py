"""Throughput of the technical-feature pipeline against TA-Lib called directly (the floor).

Run from the repository root:

    .venv/bin/python benchmarks/features.py [--repeats 3] [--scale 10]

It reads the real Binance hourly candles in place (../shared/data/market/binance_2024) and
times, in the same process and run:

* floor: TA-Lib alone on contiguous per-coin slices of pre-sorted float64 arrays, for the
  standard indicators the pipeline uses (RSI, MACD, 3 EMAs, OBV, ATR, BBANDS);
* ``build_technical_features`` (validation, sort, all features as exact windows, frame);
* ``build_technical_features`` + ``add_cross_sectional_ranks`` (all feature columns ranked);
* one day: ``build_technical_features(..., start=day)`` on only that day's look-back
  (``lookback("1h")``), i.e. what a daily partition of ``technical_features`` computes.

The scale test repeats the same real candles under new symbols ("BTC/USDT#3") to make a frame
``--scale`` times larger: it measures how the code scales, it is not more market data.
Times are the best of ``--repeats`` runs; peak memory is measured in a separate untimed run
with tracemalloc (numpy buffers included) on top of the input frame. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import talib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto_assets.features.indicators import (
    ATR_PERIOD,
    BB_NBDEV,
    BB_PERIOD,
    MACD_FAST,
    MACD_SIGNAL,
    MACD_SLOW,
    RSI_PERIOD,
    TIMEFRAME_SPECS,
    add_cross_sectional_ranks,
    build_technical_features,
    lookback,
)
from crypto_assets.settings import SHARED_DATA_DIR

HOURLY = SHARED_DATA_DIR / "market" / "binance_2024" / "ohlcv_1h.parquet"
COLUMNS = ["symbol", "date", "open", "high", "low", "close", "volume"]
DAY = pd.Timestamp("2024-09-05", tz="UTC")  # the last complete day of binance_2024
DAY_SPAN = pd.Timedelta(days=1)


def load(scale: int) -> pd.DataFrame:
    frame = pd.read_parquet(HOURLY, columns=COLUMNS)
    if scale == 1:
        return frame
    copies = [frame] + [frame.assign(symbol=frame["symbol"] + f"#{k}") for k in range(1, scale)]
    return pd.concat(copies, ignore_index=True)


def talib_floor(frame: pd.DataFrame) -> Callable[[], None]:
    """TA-Lib only, on contiguous per-coin slices of arrays sorted beforehand (not timed)."""
    ordered = frame.sort_values(["symbol", "date"], kind="stable")
    codes = pd.factorize(ordered["symbol"])[0]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    bounds = list(zip(starts.tolist(), [*starts[1:].tolist(), len(codes)], strict=True))
    o, h, lo, c, v = (
        np.ascontiguousarray(ordered[k].to_numpy(np.float64))
        for k in ("open", "high", "low", "close", "volume")
    )
    del o
    emas = TIMEFRAME_SPECS["1h"].ema_periods

    def run() -> None:
        for a, b in bounds:
            close = c[a:b]
            talib.RSI(close, RSI_PERIOD)
            talib.MACD(close, MACD_FAST, MACD_SLOW, MACD_SIGNAL)
            for p in emas:
                talib.EMA(close, p)
            talib.OBV(close, v[a:b])
            talib.ATR(h[a:b], lo[a:b], close, ATR_PERIOD)
            talib.BBANDS(close, BB_PERIOD, BB_NBDEV, BB_NBDEV, 0)

    return run


def best_time(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_mib(fn: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=int, default=10)
    args = parser.parse_args()
    if not HOURLY.exists():
        sys.exit(f"real data not found: {HOURLY}")

    rows_out = []
    for scale in (1, args.scale):
        frame = load(scale)
        n = len(frame)
        label = f"binance_2024 1h x{scale}" + (" (scale test: coins repeated)" if scale > 1 else "")
        floor = talib_floor(frame)
        features = lambda frame=frame: build_technical_features(frame, "1h")  # noqa: E731
        with_ranks = lambda frame=frame: add_cross_sectional_ranks(  # noqa: E731
            build_technical_features(frame, "1h")
        )
        window = frame[(frame["date"] >= DAY - lookback("1h")) & (frame["date"] < DAY + DAY_SPAN)]
        one_day = lambda window=window: add_cross_sectional_ranks(  # noqa: E731
            build_technical_features(window, "1h", start=DAY)
        )
        build_technical_features(frame.iloc[:5000], "1h")  # warm imports and caches
        t_floor = best_time(floor, args.repeats)
        t_feat = best_time(features, args.repeats)
        t_rank = best_time(with_ranks, args.repeats)
        t_day = best_time(one_day, args.repeats)
        sample = build_technical_features(frame.iloc[:5000], "1h")
        n_cols = add_cross_sectional_ranks(sample).shape[1]
        input_mib = frame.memory_usage(deep=True).sum() / 2**20
        mem_feat = peak_mib(features)
        mem_rank = peak_mib(with_ranks)
        rows_out.append(
            (label, n, frame["symbol"].nunique(), t_floor, t_feat, t_rank, n_cols, input_mib,
             mem_feat, mem_rank, t_day, len(window))
        )  # fmt: skip
        del frame, floor

    print(
        f"\nFeature pipeline throughput ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, pandas {pd.__version__}, "
        f"numpy {np.__version__}, TA-Lib {talib.__version__} (floor only); best of {args.repeats}; "
        f"load average at the end {os.getloadavg()[0]:.1f})\n"
    )
    print(
        "| frame | rows | coins | TA-Lib floor (8 indicators) | build_technical_features "
        "| + cross-sectional ranks | features / floor | +ranks / floor | peak memory "
        "(features / +ranks, tracemalloc) | one day from its look-back (+ranks) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows_out:
        label, n, coins, t_floor, t_feat, t_rank, n_cols, input_mib, m_feat, m_rank = row[:10]
        t_day, window_rows = row[10:]
        print(
            f"| {label} | {n:,} | {coins:,} "
            f"| {t_floor:.3f} s ({n / t_floor / 1e6:.1f} M rows/s) "
            f"| {t_feat:.3f} s ({n / t_feat / 1e6:.2f} M rows/s) "
            f"| {t_rank:.3f} s ({n / t_rank / 1e6:.2f} M rows/s, {n_cols} columns) "
            f"| {t_feat / t_floor:.1f}x | {t_rank / t_floor:.1f}x "
            f"| {m_feat:,.0f} / {m_rank:,.0f} MiB (input {input_mib:,.0f} MiB) "
            f"| {t_day:.3f} s ({window_rows:,} rows read) |"
        )


if __name__ == "__main__":
    main()
