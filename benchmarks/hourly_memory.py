"""Peak memory of building the 1h dataset of a long hourly snapshot, against the dataset itself.

Run from the repository root:

    .venv/bin/python benchmarks/hourly_memory.py [--copies 1,2,4]

The backtest builds a horizon's dataset (features, the usable rows, the net labels, the join)
before any model is fitted; on years of hourly candles that step, not the training, set the
backtest's peak memory (benchmarks/README.md, "Long histories"). This script measures it on a
SCALE TEST: binance_2024's real hourly candles (read in place from ../shared/data) repeated
back in time ``--copies`` times, each copy shifted by the snapshot's span. It measures how the
code scales; it is not a market, so no model figure is computed on it.

Each size runs in a fresh process (``ru_maxrss`` is a process's high-water mark). The reference
in the same run is the size of what that process ends with: the input candles (after
sanitation) and the dataset the models are fitted on. "peak / held" is the peak over their sum:
1.0 would be a build that never holds a temporary copy. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crypto_assets.settings import SHARED_DATA_DIR  # noqa: E402

HOURLY = SHARED_DATA_DIR / "market" / "binance_2024" / "ohlcv_1h.parquet"


def write_scaled(copies: int, directory: Path) -> int:
    """binance_2024's hourly candles and ``copies - 1`` copies shifted back by its span."""
    candles = pd.read_parquet(HOURLY)
    span = candles["date"].max() - candles["date"].min() + pd.Timedelta(hours=1)
    frame = pd.concat(
        [candles.assign(date=candles["date"] - i * span) for i in range(copies)], ignore_index=True
    )
    directory.mkdir(parents=True, exist_ok=True)
    frame.sort_values(["symbol", "date"]).to_parquet(directory / "ohlcv_1h.parquet", index=False)
    return len(frame)


def measure(snapshot: Path) -> dict:
    """In this process: sanitise the snapshot and build its 1h dataset as the backtest does."""
    from crypto_assets.horizons import HORIZONS
    from crypto_assets.ml.backtest import SnapshotFrames, sanitized_snapshot
    from crypto_assets.ml.config import TrainConfig

    started = time.perf_counter()
    clean = sanitized_snapshot(snapshot, lambda _: None)
    dataset = SnapshotFrames(clean, TrainConfig().round_trip_cost).dataset(HORIZONS["1h"])
    return {
        "seconds": time.perf_counter() - started,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "candles_gb": clean["1h"].memory_usage(deep=True).sum() / 1e9,
        "dataset_gb": dataset.labelled.memory_usage(deep=True).sum() / 1e9,
        "rows": len(dataset.labelled),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", default="1,2,4", help="sizes, as copies of binance_2024")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    print(
        "| copies | hourly candles | dataset rows | s | peak RSS GB | candles GB | dataset GB "
        "| peak / held | GB per M candles |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for copies in [int(c) for c in args.copies.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            candles = write_scaled(copies, Path(tmp))
            out = subprocess.run(
                [sys.executable, __file__, "--measure", tmp],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            ).stdout
        m = json.loads(out.strip().splitlines()[-1])
        held = m["candles_gb"] + m["dataset_gb"]
        print(
            f"| {copies} | {candles:,} | {m['rows']:,} | {m['seconds']:.0f} | {m['peak_gb']:.1f} "
            f"| {m['candles_gb']:.2f} | {m['dataset_gb']:.2f} | {m['peak_gb'] / held:.1f} "
            f"| {m['peak_gb'] / candles * 1e6:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
