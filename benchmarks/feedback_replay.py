"""Replay 2024 through the feedback loop, day by day, on a real Dagster instance: when and why
each drift sensor fires, the retrain it asks for, and whether the new version is used.

Run from the repository root. The defaults are a short window (about a minute of CPU): 15 coins,
train on 2024-01-01 .. 2024-04-07, replay 2024-04-08 .. 2024-04-13 (the altcoin sell-off of
12-13 April), with the loop's evidence knobs shortened to match (a 7-day live feature window,
health measured from 4 prediction times and 50 outcomes) and 30 trees:

    .venv/bin/python benchmarks/feedback_replay.py --out /tmp/replay

The long replay (Q1 -> Q2 2024 with the product's own defaults; an hour or more on 2 cores):

    .venv/bin/python benchmarks/feedback_replay.py --coins 30 --train-end 2024-04-01 \
        --last 2024-07-31 --trees 300 --psi-live-days 30 --min-dates 14 --min-outcomes 200 \
        --out /tmp/replay_long

Everything goes through the project's own jobs (``crypto_assets.runner.run_job``) on a
persistent Dagster instance under ``--out`` (``--out/dagster_home``: point DAGSTER_HOME there
and `dagster dev` shows every run, materialization and check), with the demo profile's
settings, a DuckDB file and an MLflow store under ``--out``:

1. the real Binance snapshot (../shared/data/market/binance_2024) cut to the ``--coins`` coins
   with the most hourly history (hourly and daily files, as recorded);
2. what was public by ``--train-end``: ``market_job`` and ``features_job`` over 2024-01-01 ..
   the day before, then ``retrain_job`` for every horizon (10-day walk-forward folds, so one
   quarter gives each version a performance band; the promotion rule decides what is used);
3. with ``--first`` later than ``--train-end``, the days between are stored in one go (the
   first models left alone, nothing predicted); then for each day D from ``--first`` (default
   ``--train-end``) to ``--last``: ``market_job`` and ``features_job`` for D,
   ``labels_job`` over the last 32 days (what the labels refresh does), ``predictions_job`` and
   ``feedback_job`` for D; then the three drift sensors (the code location's own
   SensorDefinitions, their cursors kept between ticks as the daemon keeps them) tick once, and
   every RunRequest they yield is launched as a ``retrain_job`` run with its tags and the job's
   default config (what the daemon would launch). A model only ever trains on what the stored
   tables held on day D: the stored candles, features and labels grow day by day.

Prints the timeline as markdown (sensor answers per horizon, every request with its measure,
the retrain it caused, the promotion decision and the drift tags found on the MLflow run) and
writes it as JSON lines to ``--out/timeline.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pandas as pd
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto_assets.definitions import build_definitions
from crypto_assets.defs.feedback.common import MEASURES_KEY
from crypto_assets.defs.feedback.sensors import (
    DRIFT_DAY_TAG,
    DRIFT_REASON_TAG,
    DRIFT_TAG,
    HORIZON_TAG,
    JUDGED_VERSION_TAG,
    drift_sensors,
)
from crypto_assets.horizons import HORIZON_NAMES, LABEL_REFRESH_DAYS
from crypto_assets.runner import dagster_instance, run_job
from crypto_assets.settings import DEFAULT_SNAPSHOT_DIR, Settings, load_settings

FIRST_DAY = "2024-01-01"
MEASURE_KEYS = ("kind", "horizon", "model_version", "day", "status", "value", "bound", "n")
RETRAIN_KEYS = ("model", "checks", "promoted", "in_use", "decision", "mlflow_run_id", "skipped")
INITIAL_CONFIG = {"ops": {"models": {"config": {"retrain_every_days": 10}}}}
SHOWN_TAGS = (DRIFT_TAG, DRIFT_DAY_TAG, HORIZON_TAG, JUDGED_VERSION_TAG)
NOTE = re.compile(r"^(?P<horizon>\w+) (?P<day>[\d-]+): (?P<answer>\w+): (?P<reason>.*)$")


def cut_snapshot(out: Path, coins: int) -> Path:
    """The ``coins`` coins with the most hourly candles, both recorded files, unchanged rows."""
    folder = out / "snapshot"
    folder.mkdir(parents=True, exist_ok=True)
    hourly = pd.read_parquet(DEFAULT_SNAPSHOT_DIR / "ohlcv_1h.parquet")
    counts = hourly.groupby("symbol").size().sort_values(ascending=False, kind="stable")
    chosen = sorted(counts.index[:coins])
    for timeframe in ("1h", "1d"):
        frame = pd.read_parquet(DEFAULT_SNAPSHOT_DIR / f"ohlcv_{timeframe}.parquet")
        frame[frame["symbol"].isin(chosen)].to_parquet(folder / f"ohlcv_{timeframe}.parquet")
    return folder


def replay_settings(out: Path, snapshot: Path, args: argparse.Namespace) -> Settings:
    """The demo profile's settings on the cut snapshot, every store under ``out``."""
    return load_settings(
        profile="demo",
        source="snapshot",
        snapshot_dir=snapshot,
        data_dir=out / "data",
        mlflow_tracking_uri=f"sqlite:///{out / 'mlruns' / 'mlflow.db'}",
        mlflow_artifact_root=out / "mlruns" / "artifacts",
        dagster_home=out / "dagster_home",
        history_start=FIRST_DAY,
        model_n_estimators=args.trees,
        feedback_psi_live_days=args.psi_live_days,
        feedback_min_dates=args.min_dates,
        feedback_min_outcomes=args.min_outcomes,
    )


class Notes(logging.Handler):
    """The sensor's own log lines of one tick ("<horizon> <day>: <answer>: <reason>")."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class Replay:
    def __init__(self, settings: Settings, out: Path) -> None:
        self.settings, self.out = settings, out
        self.defs = build_definitions(settings)
        self.instance = dagster_instance(settings)
        self.cursors: dict[str, str | None] = {s.name: None for s in drift_sensors}
        self.launched: set[str] = set()
        self.timeline: list[dict] = []
        self.seconds: Counter = Counter()

    def job(self, name: str, **kwargs: object) -> dg.ExecuteInProcessResult:
        started = time.perf_counter()
        result = run_job(self.defs, name, self.instance, profile=self.settings.profile, **kwargs)
        self.seconds[name] += time.perf_counter() - started
        return result

    def store(self, first: str, last: str) -> None:
        """What became public on days first..last: candles, features, refreshed labels."""
        self.job("market_job", day_range=(first, last))
        self.job("features_job", day_range=(first, last))
        refresh = pd.Timestamp(last) - pd.Timedelta(days=LABEL_REFRESH_DAYS - 1)
        self.job("labels_job", day_range=(str(max(refresh, pd.Timestamp(FIRST_DAY)).date()), last))

    def retrain(self, horizon: str, tags: dict | None, day: str, config: dict | None) -> dict:
        result = self.job("retrain_job", partition_key=horizon, tags=tags, run_config=config)
        meta = result.asset_materializations_for_node("models")[0].metadata
        drift = (tags or {}).get(DRIFT_TAG)
        row = {"event": "retrain", "day": day, "horizon": horizon, "drift": drift}
        for key in RETRAIN_KEYS:
            if key in meta:
                row[key] = meta[key].value
        if "mlflow_run_id" in row:
            run = MlflowClient().get_run(row["mlflow_run_id"])
            row["mlflow_tags"] = {
                k: v for k, v in run.data.tags.items() if k.startswith("crypto_assets/")
            }
            row["data_to"] = run.data.params.get("data_to")
        self.timeline.append(row)
        return row

    def measures(self, result: dg.ExecuteInProcessResult, day: str) -> None:
        for asset in ("model_health", "feature_drift"):
            meta = result.asset_materializations_for_node(asset)[0].metadata
            for m in meta[MEASURES_KEY].value:
                self.timeline.append({"event": "measure", **{k: m[k] for k in MEASURE_KEYS}})

    def tick(self, day: str) -> None:
        for sensor in drift_sensors:
            cursor = self.cursors[sensor.name]
            context = dg.build_sensor_context(instance=self.instance, cursor=cursor)
            notes = Notes()
            context.log.addHandler(notes)
            started = time.perf_counter()
            result = sensor(context)
            self.seconds["sensor ticks"] += time.perf_counter() - started
            self.cursors[sensor.name] = result.cursor
            for line in notes.lines:
                note = NOTE.match(line)
                if note:
                    answer = {"event": "answer", "sensor": sensor.name, **note.groupdict()}
                    self.timeline.append(answer)
            for request in result.run_requests or []:
                if request.run_key in self.launched:  # the daemon runs a run_key once
                    continue
                self.launched.add(request.run_key)
                self.timeline.append(
                    {
                        "event": "request",
                        "day": day,
                        "sensor": sensor.name,
                        "horizon": request.partition_key,
                        "run_key": request.run_key,
                        "tags": dict(request.tags),
                    }
                )
                self.retrain(request.partition_key, dict(request.tags), day, None)

    def day(self, day: str) -> None:
        self.store(day, day)
        self.job("predictions_job", partition_key=day)
        result = self.job("feedback_job", partition_key=day)
        self.measures(result, day)
        self.tick(day)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", type=int, default=15)
    parser.add_argument("--train-end", default="2024-04-08")
    parser.add_argument(
        "--first",
        default=None,
        help="first day replayed (default --train-end); the days "
        "before it are stored in one go and the first models stay in use until then",
    )
    parser.add_argument("--last", default="2024-04-13")
    parser.add_argument("--trees", type=int, default=30, help="the product's default: 300")
    parser.add_argument("--psi-live-days", type=int, default=7, help="the product's: 30")
    parser.add_argument("--min-dates", type=int, default=4, help="the product's: 14")
    parser.add_argument("--min-outcomes", type=int, default=50, help="the product's: 200")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} is not empty: the replay starts from nothing")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    started = time.perf_counter()
    settings = replay_settings(args.out, cut_snapshot(args.out, args.coins), args)
    replay = Replay(settings, args.out)
    train_end = pd.Timestamp(args.train_end)
    replay.store(FIRST_DAY, str((train_end - pd.Timedelta(days=1)).date()))
    for horizon in HORIZON_NAMES:
        replay.retrain(horizon, None, str(train_end.date()), INITIAL_CONFIG)
    first = pd.Timestamp(args.first or args.train_end)
    if first > train_end:  # the models left alone: the gap is stored, nothing predicted
        replay.store(str(train_end.date()), str((first - pd.Timedelta(days=1)).date()))
    days = pd.date_range(first, pd.Timestamp(args.last), freq="D")
    for day in days:
        replay.day(str(day.date()))
        print(f"{day.date()} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    with (args.out / "timeline.jsonl").open("w") as sink:
        for row in replay.timeline:
            sink.write(json.dumps(row, default=str) + "\n")
    report(replay.timeline, time.perf_counter() - started, len(days), replay.seconds)


def _short(text: object, limit: int = 110) -> str:
    text = str(text).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:+.3f}"


def _request_rows(timeline: list[dict]) -> list[str]:
    """One row per retrain request: the measure, the run it caused, the registry's decision and
    the drift tags found on that MLflow run."""
    retrains = [r for r in timeline if r["event"] == "retrain" and r.get("drift")]
    rows = [
        "| day | drift | horizon | measure | new version | its checks | used? | MLflow tags |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in (r for r in timeline if r["event"] == "request"):
        tags = row["tags"]
        done = next(
            r
            for r in retrains
            if (r["day"], r["horizon"], r["drift"]) == (row["day"], row["horizon"], tags[DRIFT_TAG])
        )
        seen = sorted(
            f"{k.removeprefix('crypto_assets/')}={v[:10]}"
            for k, v in done.get("mlflow_tags", {}).items()
            if k in SHOWN_TAGS
        )
        checks = done.get("checks", done.get("skipped", "-"))
        rows.append(
            f"| {row['day']} | {tags[DRIFT_TAG]} | {row['horizon']} | "
            f"{_short(tags.get(DRIFT_REASON_TAG))} | {done.get('model', '-')} | "
            f"{_short(checks, 70)} | {'yes' if done.get('promoted') else 'no'} | "
            f"{', '.join(seen)} |"
        )
    return rows


def _measure_cell(measure: dict | None) -> str:
    if measure is None:
        return "-"
    if measure["status"] == "insufficient":
        return "insufficient"
    return f"{_fmt(measure['value'])} ({_fmt(measure['bound'])}) {measure['status']}"


def _weekly_rows(timeline: list[dict]) -> list[str]:
    """The live measures of the models in use: every day of a replay of two weeks or less,
    else every Sunday."""
    measures = pd.DataFrame([r for r in timeline if r["event"] == "measure"])
    if measures.empty:
        return []
    sundays = measures[measures["model_version"].notna()]
    if sundays["day"].nunique() > 14:
        sundays = sundays[pd.to_datetime(sundays["day"]).dt.dayofweek == 6]
    rows = [
        "| day | horizon | version | rank IC (band) | ECE (bound) | features moved (bound) |",
        "|---|---|---|---|---|---|",
    ]
    for (day, horizon), group in sundays.groupby(["day", "horizon"], sort=True):
        by_kind = {r["kind"]: r for r in group.to_dict("records")}
        cells = [_measure_cell(by_kind.get(k)) for k in ("performance", "calibration", "feature")]
        version = group["model_version"].iloc[0]
        rows.append(f"| {day} | {horizon} | v{version} | {' | '.join(cells)} |")
    return rows


def markdown(timeline: list[dict], seconds: float, days: int, jobs: Counter) -> str:
    """The replay's timeline as markdown tables (what benchmarks/README.md shows)."""
    lines = [
        f"{days} days replayed in {seconds / 60:.0f} min; seconds per job: "
        + ", ".join(f"{k} {v:.0f}" for k, v in jobs.most_common()),
        "",
    ]
    initial = [r for r in timeline if r["event"] == "retrain" and not r.get("drift")]
    lines += ["| first training | version | its checks | used? |", "|---|---|---|---|"]
    for r in initial:
        checks = _short(r.get("checks", r.get("skipped", "-")), 90)
        used = "yes" if r.get("promoted") else "no"
        lines.append(f"| {r['horizon']} | {r.get('model', '-')} | {checks} | {used} |")
    answers = pd.DataFrame([r for r in timeline if r["event"] == "answer"])
    if len(answers):
        table = answers.pivot_table(
            index=["sensor", "horizon"], columns="answer", aggfunc="size", fill_value=0
        )
        lines += ["", "Sensor answers (days):", "", table.to_markdown()]
    lines += [
        "",
        *_request_rows(timeline),
        "",
        "Live measures of the versions in use (value (bound) status):",
        "",
        *_weekly_rows(timeline),
    ]
    return "\n".join(lines)


def report(timeline: list[dict], seconds: float, days: int, jobs: Counter) -> None:
    print(markdown(timeline, seconds, days, jobs))


if __name__ == "__main__":
    main()
