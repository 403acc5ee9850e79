"""One daily partition of the daily job, timed as stored history grows and at ~730 coins.

Run from the repository root (takes ~20 minutes on 2 cores):

    .venv/bin/python benchmarks/daily_job.py [--histories 1 4 16] [--coins 730] [--root DIR]

What is timed: ``daily_signals_job`` for ONE day (universe -> raw candles -> sanitation ->
technical features -> feature table -> predictions with SHAP reasons -> top list), run through
the defined job on a real Dagster instance, DuckDB file and MLflow store, exactly as the daily
schedule runs it. The day is 2024-09-05, the last complete day of binance_2024; its candles come
from a snapshot source, everything before it is already stored (as after daily runs).

SCALE TEST, not more market data: the stored history is the real binance_2024 candles (136
coins, 1h and 1d, 2024-01-01..09-06) repeated back to back in time ("4x" = four copies, the
older ones shifted back by whole multiples of the snapshot's span), and the 730-coin case
repeats the real coins under new symbols (``BTC-2/USDT`` ...), the size of Kraken's
USD/USDT/USDC universe. Stored rows are inserted in time order, as daily runs append them.

Models: four tiny LightGBM models (30 trees, retrain every 120 days), trained ONCE by this
script through ``features_job`` and ``retrain_job`` on the real 1x history, registered in the
benchmark's own MLflow store and used by every case (inference cost does not depend on how a
model was trained beyond its tree count; the product default is 300 trees).

Each case is prepared in one process and timed in a fresh one, whose peak RSS is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto_assets.settings import DEFAULT_SNAPSHOT_DIR, Settings

DAY = pd.Timestamp("2024-09-05", tz="UTC")
SOURCE_DAYS = 40  # the snapshot the source serves: the day and the weeks before it
TRAIN_CONFIG = {"n_estimators": 30, "retrain_every_days": 120.0}


def _settings(root: Path, case: str, snapshot: Path) -> Settings:
    return Settings(
        _env_file=None,
        source="snapshot",
        snapshot_dir=snapshot,
        data_dir=root / case / "data",
        mlflow_tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db",
        mlflow_artifact_root=root / "mlruns" / "artifacts",
        dagster_home=root / case / "dagster_home",
        history_start="2000-01-01",
    )


def scaled_candles(history: int, coins: int) -> dict[str, pd.DataFrame]:
    """binance_2024 candles repeated ``history`` times in time and up to ``coins`` symbols."""
    out = {}
    for timeframe in ("1h", "1d"):
        base = pd.read_parquet(DEFAULT_SNAPSHOT_DIR / f"ohlcv_{timeframe}.parquet")
        base = base[["symbol", "date", "open", "high", "low", "close", "volume"]]
        span = (base["date"].max() - base["date"].min()).ceil("D") + pd.Timedelta(days=1)
        copies = [base.assign(date=base["date"] - i * span) for i in range(history)]
        frame = pd.concat(copies, ignore_index=True)
        symbols = sorted(base["symbol"].unique())
        extra, parts = coins - len(symbols), [frame]
        for copy in range(2, 2 + -(-max(extra, 0) // len(symbols))):
            chosen = symbols[: min(len(symbols), extra - (copy - 2) * len(symbols))]
            renamed = frame[frame["symbol"].isin(chosen)].copy()
            base_name = renamed["symbol"].str.split("/").str[0]
            renamed["symbol"] = base_name + f"-{copy}/" + renamed["symbol"].str.split("/").str[1]
            parts.append(renamed)
        out[timeframe] = pd.concat(parts, ignore_index=True).sort_values(["date", "symbol"])
    return out


def prepare(root: Path, case: str, history: int, coins: int) -> None:
    """Stored tables up to DAY (raw and clean candles, in time order) and the source snapshot."""
    candles = scaled_candles(history, coins)
    snapshot = root / case / "snapshot"
    snapshot.mkdir(parents=True, exist_ok=True)
    database = _settings(root, case, snapshot).resolved_duckdb_path
    database.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database)) as conn:
        conn.execute("create schema if not exists crypto").fetchall()
        for timeframe, frame in candles.items():
            stored = frame[frame["date"] < DAY]
            recent = frame[frame["date"] >= DAY - pd.Timedelta(days=SOURCE_DAYS)]
            recent[recent["date"] < DAY + pd.Timedelta(days=1)].to_parquet(
                snapshot / f"ohlcv_{timeframe}.parquet", index=False
            )
            table = {"1h": "ohlcv_hourly", "1d": "ohlcv_daily"}[timeframe]
            conn.register("stored_rows", stored)
            conn.execute(f"create table crypto.{table} as select * from stored_rows").fetchall()
            conn.register("clean_rows", stored.assign(timeframe=timeframe))
            verb = "insert into" if timeframe == "1d" else "create table"
            conn.execute(
                f"{verb} crypto.clean_ohlcv {'' if timeframe == '1d' else 'as'} "
                "select * from clean_rows"
            ).fetchall()
            conn.unregister("stored_rows")
            conn.unregister("clean_rows")
    rows = {tf: int((f["date"] < DAY).sum()) for tf, f in candles.items()}
    print(json.dumps({"case": case, "stored_rows": rows}))


def train(root: Path, case: str) -> None:
    """Features over the stored history, then one tiny model per horizon (registered once)."""
    from crypto_assets.definitions import build_definitions
    from crypto_assets.horizons import HORIZON_NAMES
    from crypto_assets.runner import dagster_instance, run_job

    settings = _settings(root, case, root / case / "snapshot")
    con = duckdb.connect(str(settings.resolved_duckdb_path), read_only=True)
    first = con.execute("select min(date) from crypto.clean_ohlcv").fetchone()[0]
    con.close()
    history = settings.model_copy(update={"source": "live", "history_start": str(first.date())})
    defs = build_definitions(history)
    instance = dagster_instance(settings)
    last = (DAY - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    started = time.perf_counter()
    run_job(defs, "features_job", instance, profile="live", day_range=(str(first.date()), last))
    config = {"ops": {"models": {"config": TRAIN_CONFIG}}}
    for horizon in HORIZON_NAMES:
        run_job(
            defs, "retrain_job", instance, profile="live", partition_key=horizon, run_config=config
        )
    print(json.dumps({"trained_in_s": round(time.perf_counter() - started, 1)}))


def run(root: Path, case: str) -> None:
    """Time one partition of the daily job; print wall time, peak RSS and per-step times."""
    from dagster import DagsterEventType

    from crypto_assets.definitions import build_definitions
    from crypto_assets.runner import dagster_instance, run_job

    settings = _settings(root, case, root / case / "snapshot")
    defs = build_definitions(settings)
    instance = dagster_instance(settings)
    started = time.perf_counter()
    result = run_job(
        defs, "daily_signals_job", instance, profile="live", partition_key=DAY.strftime("%Y-%m-%d")
    )
    wall = time.perf_counter() - started
    steps = {
        event.step_key: round(event.event_specific_data.duration_ms / 1000, 1)
        for event in result.all_events
        if event.event_type == DagsterEventType.STEP_SUCCESS
    }
    predictions = result.asset_materializations_for_node("predictions")[0].metadata
    print(
        json.dumps(
            {
                "case": case,
                "wall_s": round(wall, 1),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "steps_s": steps,
                "predictions": predictions["rows"].value,
                "load_avg": round(os.getloadavg()[0], 1),
            }
        )
    )


def _stage(stage: str, root: Path, case: str, *extra: str) -> dict:
    command = [sys.executable, __file__, "--stage", stage, "--root", str(root), "--case", case]
    done = subprocess.run([*command, *extra], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{stage} {case} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", type=int, nargs="*", default=[1, 4, 16])
    parser.add_argument("--coins", type=int, default=730)
    parser.add_argument("--root", type=Path, default=Path("/tmp/crypto_assets_daily_job"))
    parser.add_argument("--stage", choices=["prepare", "train", "run"])
    parser.add_argument("--case")
    parser.add_argument("--history", type=int, default=1)
    parser.add_argument("--n-coins", type=int, default=136)
    args = parser.parse_args()
    if args.stage == "prepare":
        return prepare(args.root, args.case, args.history, args.n_coins)
    if args.stage == "train":
        return train(args.root, args.case)
    if args.stage == "run":
        return run(args.root, args.case)

    if args.root.exists() and any(args.root.iterdir()):
        sys.exit(f"{args.root} is not empty: pass an empty --root")
    cases = [(f"{h}x history, 136 coins", h, 136) for h in args.histories]
    cases.append((f"1x history, {args.coins} coins (coins repeated)", 1, args.coins))
    rows = []
    for index, (label, history, coins) in enumerate(cases):
        case = f"case{index}"
        extra = ["--history", str(history), "--n-coins", str(coins)]
        prepared = _stage("prepare", args.root, case, *extra)
        if index == 0:
            trained = _stage("train", args.root, case)
            print(f"tiny models trained once in {trained['trained_in_s']} s", file=sys.stderr)
        timed = _stage("run", args.root, case)
        rows.append((label, prepared["stored_rows"], timed))
        print(label, json.dumps(timed), file=sys.stderr)
    print(
        f"\nOne partition of daily_signals_job ({os.cpu_count()} CPUs; "
        f"day {DAY.date()}; load average {os.getloadavg()[0]:.1f} at the end)\n"
    )
    print("| case | stored 1h / 1d candles | wall | peak RSS | slowest steps |")
    print("|---|---:|---:|---:|---|")
    for label, stored, timed in rows:
        slowest = sorted(timed["steps_s"].items(), key=lambda kv: -kv[1])[:4]
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in slowest)
        print(
            f"| {label} | {stored['1h']:,} / {stored['1d']:,} | {timed['wall_s']:.0f} s "
            f"| {timed['peak_rss_mib']:,} MiB | {steps} |"
        )


if __name__ == "__main__":
    main()
