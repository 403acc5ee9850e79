"""Older history from another source in the daily models: what it changes on the same rows.

The product's 7d/30d models can also train on a snapshot folder of OLDER daily candles
(``CRYPTO_ASSETS_TRAINING_HISTORY_DIR``, e.g. written by ``crypto-assets snapshot bootstrap``;
``crypto_assets.ml.dataset.with_history``: only days before the first stored day, every row
labelled with its source). This runs, in one process, the product's walk-forward
(``ml.zoo.evaluate_zoo``, default ``TrainConfig``) on the stored snapshot alone and with the
history, and compares both on the rows BOTH scored out of sample (the stored snapshot's test
rows): rank IC, ECE, Brier, the highest probability, and the calls at >= 80 % with their hit
rate. By default the run with history is tested from where the run alone starts testing
(``TrainConfig.test_from``): the same test blocks, retrained on the same dates, so the only
difference is the older rows in training. ``--whole-span`` tests the run with history over its
whole span instead (at most ``max_folds`` blocks, so it retrains less often inside the stored
period), which is what the ``models`` asset's own walk-forward does with a history folder.

    .venv/bin/python benchmarks/training_history.py \\
        --snapshot ../shared/data/market/binance_2024 \\
        --history ../shared/data/market/kraken_btc_eth --horizons 7d,30d
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from crypto_assets.horizons import HORIZONS
from crypto_assets.ml import metrics
from crypto_assets.ml.backtest import SnapshotFrames, sanitized_snapshot
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import with_history
from crypto_assets.ml.zoo import evaluate_zoo
from crypto_assets.settings import SHARED_DATA_DIR


def figures(oof: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """Out-of-sample figures of a set of rows."""
    prob = oof["prob_calibrated"].to_numpy(float)
    up = (oof["y_return"].to_numpy(float) > 0).astype(float)
    return {
        "rows": len(oof),
        "rank_ic": metrics.rank_ic(oof["score"], oof["y_return"], oof["date"]),
        "ece": metrics.ece(prob, up),
        "brier": metrics.brier(prob, up),
        "max_p": float(prob.max()) if len(prob) else float("nan"),
        "calls_80": metrics.n_calls_at(prob, threshold),
        "hit_rate_80": metrics.hit_rate_at(prob, up, threshold),
        "base_rate": float(up.mean()) if len(up) else float("nan"),
        "mean_p": float(prob.mean()) if len(prob) else float("nan"),
    }


def compare(
    snapshot: Path, history: Path, horizon: str, config: TrainConfig, whole_span: bool = False
) -> list[dict]:
    stored = SnapshotFrames(sanitized_snapshot(snapshot, lambda m: None), config.round_trip_cost)
    older = SnapshotFrames(sanitized_snapshot(history, lambda m: None), config.round_trip_cost)
    alone_set = stored.dataset(HORIZONS[horizon])
    combined, info = with_history(alone_set, older.dataset(HORIZONS[horizon]), history.name)
    rows, oofs = [], {}
    for name, dataset in (("stored alone", alone_set), ("with history", combined)):
        t0 = time.perf_counter()
        run = config
        if name == "with history" and not whole_span:
            run = config.tested_like(alone_set)
        report = evaluate_zoo(dataset, run).selected
        oofs[name] = report.oof
        rows.append(
            {
                "horizon": horizon,
                "variant": name,
                "folds": report.n_folds,
                "test_start": str(report.overall["test_start"])[:10],
                "train_rows": len(dataset.labelled),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    keys = ["symbol", "date"]
    common = oofs["stored alone"][keys].merge(oofs["with history"][keys], on=keys)
    for row in rows:
        oof = oofs[row["variant"]].merge(common, on=keys)
        row.update(figures(oof, config.confidence_threshold))
    rows[1]["history"] = info
    return rows


def markdown(rows: list[dict]) -> str:
    head = (
        "| horizon | variant | training rows | folds | test from | common rows | rank IC | ECE | "
        "Brier | mean P / base rate | max P | calls >= 80 % (hit rate) | s |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        hit = "n/a" if r["hit_rate_80"] is None else f"{r['hit_rate_80']:.0%}"
        lines.append(
            f"| {r['horizon']} | {r['variant']} | {r['train_rows']:,} | {r['folds']} | "
            f"{r['test_start']} | {r['rows']:,} | {r['rank_ic']:.4f} | {r['ece']:.3f} | "
            f"{r['brier']:.3f} | {r['mean_p']:.2f} / {r['base_rate']:.2f} | {r['max_p']:.2f} | "
            f"{r['calls_80']} ({hit}) | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    market = SHARED_DATA_DIR / "market"
    parser.add_argument("--snapshot", type=Path, default=market / "binance_2024")
    parser.add_argument("--history", type=Path, default=market / "kraken_btc_eth")
    parser.add_argument("--horizons", default="7d,30d")
    parser.add_argument(
        "--whole-span",
        action="store_true",
        help="test the run with history "
        "over its whole span (fewer, longer blocks) instead of the same blocks",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    config = TrainConfig()
    rows = []
    for horizon in (h.strip() for h in args.horizons.split(",")):
        rows += compare(args.snapshot, args.history, horizon, config, args.whole_span)
        print(json.dumps(rows[-1], default=str), file=sys.stderr, flush=True)
    print(markdown(rows))
    for r in rows:
        if "history" in r:
            print(f"- {r['horizon']}: {json.dumps(r['history'], default=str)}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=lambda v: None))


if __name__ == "__main__":
    main()
