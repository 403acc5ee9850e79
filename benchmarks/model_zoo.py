"""The model zoo side by side: every family per horizon, the one selection picks, the yardstick.

For a snapshot (default binance_2024) this runs, IN ONE PROCESS, per horizon: the zoo's purged
walk-forward of every family and their ensemble (``crypto_assets.ml.zoo.evaluate_zoo``, exactly
what ``crypto-assets backtest`` and the ``models`` asset run with
``CRYPTO_ASSETS_MODEL_FAMILIES=lightgbm,xgboost,rnn`` and a tuning budget; the product's
default is LightGBM alone, which the zoo reports as its lightgbm candidate) and, with
``--variants``, variants that change one thing (Optuna off; every family on the hourly
horizons too); and for the daily horizons the forty-line yardstick
``shared/bench/minimal_lgbm.py`` (its own code, via ``benchmarks/signal_edge.py``), so that
rank IC is also compared on the dates both scored. ``--cuts`` repeats the daily horizons on
the first 82 / last 54 coins (alphabetical), which no choice was made on.

    .venv/bin/python benchmarks/model_zoo.py --horizons 7d,30d \\
        --variants "zoo;zoo, Optuna off" --cuts --json /tmp/model_zoo_daily.json
    .venv/bin/python benchmarks/model_zoo.py --horizons 1h,24h \\
        --variants "zoo;zoo, every family" --json /tmp/model_zoo_hourly.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from signal_edge import cut, ic_on, yardstick

from crypto_assets.horizons import HORIZONS
from crypto_assets.ml.backtest import SnapshotFrames, sanitized_snapshot
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.zoo import NESTED, check_problems, evaluate_zoo
from crypto_assets.settings import PROJECT_ROOT

NO_TUNING = {"optuna_budget_s": {h: 0.0 for h in HORIZONS}}
# The product's default is LightGBM alone (TrainConfig(), Optuna on); the zoo is opt-in.
ZOO = {
    "families": {h: ["lightgbm", "xgboost", "rnn"] for h in HORIZONS},
    "optuna_budget_s": {"1h": 10.0, "24h": 10.0, "7d": 15.0, "30d": 15.0},
}
VARIANTS: dict[str, dict[str, Any]] = {
    "zoo": ZOO,
    "zoo, Optuna off": {**ZOO, **NO_TUNING},
    # past zoo_max_rows (the hourly horizons) LightGBM runs alone: what every family buys there
    "zoo, every family": {**ZOO, "zoo_max_rows": 10**9},
}


def run_horizon(
    frames: SnapshotFrames, horizon: str, variant: str, overrides: dict[str, Any], base: dict | None
) -> list[dict[str, Any]]:
    """One zoo run: a row per candidate (figures, cost, selection), with the yardstick beside."""
    t0 = time.perf_counter()
    zoo = evaluate_zoo(frames.dataset(HORIZONS[horizon]), TrainConfig(**overrides))
    seconds = time.perf_counter() - t0
    rows = []
    figures = zoo.figures()
    candidates = dict(zoo.reports)
    if zoo.nested is not None:  # the selection replayed on what was known before each block
        candidates[zoo.nested.family] = zoo.nested
        figures[zoo.nested.family] = {
            "passed": not check_problems(zoo.nested.overall, zoo.max_ece),
            "fit_seconds": zoo.nested.seconds,
            "cpu_seconds": zoo.nested.cpu_seconds,
        }
    for family, report in candidates.items():
        row = {
            "horizon": horizon,
            "variant": variant,
            "family": family,
            "selected": family == zoo.selection.family,
            "rank_ic": report.overall["rank_ic_mean"],
            "momentum_ic": report.overall["momentum_rank_ic_mean"],
            "ece": report.overall["ece"],
            "passed": figures[family]["passed"],
            "fit_seconds": figures[family]["fit_seconds"],
            "cpu_seconds": figures[family]["cpu_seconds"],
            "zoo_seconds": seconds,
            "tuning_trials": (report.tuning or {}).get("trials", 0),
            "device": report.device,
            "reason": zoo.selection.reason if family == zoo.selection.family else "",
        }
        if family == NESTED:  # per block, the candidate used
            row["reason"] = "; ".join(f"{c['fold']}: {c['chosen']}" for c in report.folds)
        if base is not None:
            common = ic_on(report.oof, base["dates"])
            row.update(
                rank_ic_yardstick_dates=common,
                yardstick_ic=base["ic"],
                ratio=common / base["ic"] if base["ic"] else float("nan"),
            )
        rows.append(row)
        print(json.dumps(row, default=float), file=sys.stderr, flush=True)
    return rows


def compare(
    snapshot: Path, label: str, horizons: list[str], variants: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    frames = SnapshotFrames(
        sanitized_snapshot(snapshot, lambda m: None), TrainConfig().round_trip_cost
    )
    rows = []
    for horizon in horizons:
        base = None
        if HORIZONS[horizon].timeframe == "1d":
            ic, preds = yardstick(snapshot / "ohlcv_1d.parquet", HORIZONS[horizon].duration.days)
            base = {"ic": ic, "dates": preds["date"].drop_duplicates()}
        for variant, overrides in variants.items():
            for row in run_horizon(frames, horizon, variant, overrides, base):
                rows.append({"snapshot": label, **row})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| snapshot | horizon | variant | family | rank IC | rank IC (yardstick dates) | "
        "vs yardstick | ECE | passes | wall s (CPU s) | Optuna trials | selected |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else "n/a"
        common = f"{r['rank_ic_yardstick_dates']:.4f}" if "ratio" in r else "n/a"
        lines.append(
            f"| {r['snapshot']} | {r['horizon']} | {r['variant']} | {r['family']} | "
            f"{r['rank_ic']:.4f} | {common} | {ratio} | {r['ece']:.3f} | "
            f"{'yes' if r['passed'] else 'no'} | {r['fit_seconds']:.0f} ({r['cpu_seconds']:.0f}) | "
            f"{r['tuning_trials']} | {'**selected**' if r['selected'] else ''} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--snapshot",
        type=Path,
        default=PROJECT_ROOT.parent / "shared" / "data" / "market" / "binance_2024",
    )
    parser.add_argument("--horizons", default="1h,24h,7d,30d")
    parser.add_argument(
        "--variants", default="zoo", help=f"separated by ';', of: {'; '.join(VARIANTS)}"
    )
    parser.add_argument("--cuts", action="store_true", help="daily horizons on two coin cuts")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    variants = {name.strip(): VARIANTS[name.strip()] for name in args.variants.split(";")}
    horizons = [h.strip() for h in args.horizons.split(",")]
    rows = compare(args.snapshot, args.snapshot.name, horizons, variants)
    if args.cuts:
        daily = [h for h in horizons if HORIZONS[h].timeframe == "1d"]
        with tempfile.TemporaryDirectory() as tmp:
            for which in ("first82", "last54"):
                path = cut(args.snapshot, which, Path(tmp) / which)
                rows += compare(path, f"{args.snapshot.name} {which}", daily, variants)
    print(markdown(rows))
    for r in rows:
        if r["selected"] or r["family"] == NESTED:
            print(f"- {r['snapshot']} {r['horizon']} {r['variant']} {r['family']}: {r['reason']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
