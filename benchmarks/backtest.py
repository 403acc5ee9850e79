"""Walk-forward backtest of the signal models on a snapshot, beside the momentum baseline.

Run from the repository root:

    .venv/bin/python benchmarks/backtest.py [--snapshot ../shared/data/market/binance_2024]
        [--horizons 1h 24h 7d 30d] [--json out.json]

Runs ``crypto_assets.ml.backtest.run_backtest`` with the default ``TrainConfig`` (the product's
configuration) and prints a markdown table: per horizon the out-of-sample rank IC of the model
and of the naive baseline (the trailing return over the same horizon, "momentum") measured on
the same test rows in the same run, calibration (Brier, ECE), the ">= 80 %" calls (and from how
many distinct timestamps they came) and their hit rate, the top-decile vs equal-weight net
return on non-overlapping rebalances, and the wall-clock time of the whole run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto_assets.ml.backtest import run_backtest
from crypto_assets.settings import DEFAULT_SNAPSHOT_DIR


def _fmt(value: object, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value * 100:+.2f} %" if pct else f"{value:.4f}"
    return str(value)


def table(result: dict) -> str:
    lines = [
        "| horizon | folds | predictions | test period | rank IC (model) | rank IC (momentum) "
        "| IC IR | Brier | ECE | calls >= 80 % (timestamps) | hit rate | top decile "
        "| equal weight |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, f in result["horizons"].items():
        lines.append(
            f"| {name} | {f['n_folds']} | {f['n_predictions']} | "
            f"{f['test_start'][:10]}..{f['test_end'][:10]} | {_fmt(f['rank_ic_mean'])} | "
            f"{_fmt(f['momentum_rank_ic_mean'])} | {_fmt(f['rank_ic_ir'])} | {_fmt(f['brier'])} | "
            f"{_fmt(f['ece'])} | {f['n_calls_at_80']} ({f['n_call_times_at_80']}) | "
            f"{_fmt(f['hit_rate_at_80'])} | "
            f"{_fmt(f['top_decile_return'], True)} | {_fmt(f['equal_weight_return'], True)} |"
        )
    for name, reason in result["skipped"].items():
        lines.append(f"| {name} | skipped: {reason} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", type=Path, default=DEFAULT_SNAPSHOT_DIR)
    parser.add_argument("--horizons", nargs="*", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    started = time.perf_counter()
    result = run_backtest(args.snapshot, horizons=args.horizons)
    elapsed = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, allow_nan=False))
    print(table(result))
    print(
        f"\nwall time {elapsed:.0f} s on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, 1-min load average at the end {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
