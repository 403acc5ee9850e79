"""The ``crypto-assets`` command: the same code paths as the assets, for people and scripts.

Each command builds one ``Settings`` (environment / .env, plus the command's own overrides such
as ``profile="demo"``) and passes it down; nothing here writes the environment.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from crypto_assets.cli.sentiment import sentiment_app
from crypto_assets.settings import DEFAULT_SNAPSHOT_DIR, Settings

app = typer.Typer(help="crypto_assets: rank crypto coins by their chance to grow fast.")
snapshot_app = typer.Typer(help="Record and inspect market snapshots.")
app.add_typer(snapshot_app, name="snapshot")
app.add_typer(sentiment_app, name="sentiment", help="Train, evaluate and use the scorer.")
err = Console(stderr=True)
out = Console()


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def _quiet_dagster() -> None:
    """Run events go to the Dagster event log and JSON logs; the terminal shows progress."""
    import warnings

    import dagster as dg

    for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)
    logging.getLogger("dagster").setLevel(logging.WARNING)
    import mlflow  # noqa: F401  (mlflow sets its logger's level on import: import, then quiet)

    logging.getLogger("mlflow").setLevel(logging.WARNING)


class StepProgress:
    """A progress display for the pipeline's steps: spinner, step count and elapsed time; each
    finished step stays on screen with its duration."""

    def __init__(self, total_steps: int | None = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        )
        self._task = self._progress.add_task("starting", total=total_steps)
        self._started = False

    def __enter__(self) -> StepProgress:
        self._progress.start()
        return self

    def plan(self, steps: list) -> None:
        """Size the bar once the runner knows its steps."""
        self._progress.update(self._task, total=len(steps))

    def __call__(self, message: str) -> None:
        if self._started:
            self._progress.advance(self._task)
        self._started = True
        self._progress.update(self._task, description=message)

    def __exit__(self, *exc: object) -> None:
        if not any(exc):
            self._progress.update(
                self._task, completed=self._progress.tasks[0].total, description="done"
            )
        self._progress.stop()


def _print_market_summary(settings: Settings) -> None:
    from crypto_assets.status import market_summary

    summary = market_summary(settings)
    table = Table(title=f"Universe and candle coverage ({summary['source']})")
    for column in ("timeframe", "coins", "candles", "first", "last", "excluded coins"):
        table.add_column(column)
    for row in summary["coverage"]:
        table.add_row(
            *(str(row[k]) for k in ("timeframe", "coins", "candles", "first", "last", "excluded"))
        )
    out.print(
        f"universe on {summary['day']}: {summary['universe']} markets "
        f"(of {summary['markets']} listed)"
    )
    out.print(table)


def _run_graph(
    settings: Settings,
    first: pd.Timestamp,
    last: pd.Timestamp,
    run_config: dict | None = None,
    skip_jobs: tuple[str, ...] = (),
) -> None:
    from crypto_assets.runner import PipelineError, run_pipeline

    try:
        with StepProgress() as progress:
            timings = run_pipeline(
                settings,
                first,
                last,
                progress=progress,
                run_config=run_config,
                skip_jobs=skip_jobs,
                on_plan=progress.plan,
            )
    except PipelineError as exc:
        _fail(str(exc))
    _print_market_summary(settings)
    _print_top(settings)
    _print_timings(timings, first, last)


def _print_timings(timings: list, first: pd.Timestamp, last: pd.Timestamp) -> None:
    """Each run's wall time (the README's step times come from this table)."""
    span = first.strftime("%Y-%m-%d"), last.strftime("%Y-%m-%d")
    table = Table(title="Runs (Dagster jobs) and their wall time")
    for column in ("job", "partitions", "seconds"):
        table.add_column(column)
    for step, seconds in timings:
        table.add_row(step.job, step.partitions(*span), f"{seconds:.0f}")
    table.add_row("total", "", f"{sum(s for _, s in timings):.0f}")
    err.print(table)


@app.command()
def run(
    days: int = typer.Option(
        365,
        help="Days of history, ending yesterday (UTC); Kraken serves 720 daily and 720 hourly "
        "candles, so hourly history is at most 30 days until the schedules accumulate more.",
    ),
    max_symbols: int | None = typer.Option(None, help="Cap the universe (quick look)."),
) -> None:
    """Materialize the whole graph against the live exchange (public endpoints, no key)."""
    from crypto_assets.market.source import SourceUnavailable
    from crypto_assets.resources.market_source import ExchangeResource

    settings = Settings(source="live")
    _quiet_dagster()
    source_log = logging.getLogger("crypto_assets.resources")
    level = source_log.level
    source_log.setLevel(logging.CRITICAL)  # the one line below says it all
    try:
        ExchangeResource(exchange_id=settings.exchange_id, max_retries=1).fetch_markets()
    except SourceUnavailable as exc:
        _fail(str(exc))
    finally:
        source_log.setLevel(level)
    last = pd.Timestamp.now(tz="UTC").normalize() - pd.Timedelta(days=1)
    first = max(last - pd.Timedelta(days=days - 1), pd.Timestamp(settings.history_start, tz="UTC"))
    universe = {"max_symbols": max_symbols} if max_symbols else None
    config = {"ops": {"exchange_markets": {"config": universe}}} if universe else None
    _run_graph(settings, first, last, run_config=config)


@app.command()
def demo(
    snapshot: Path = typer.Option(DEFAULT_SNAPSHOT_DIR, help="Snapshot directory to replay."),
    days: int | None = typer.Option(None, help="Only the last N days of the snapshot."),
    skip_sentiment: bool = typer.Option(
        False, help="Do not score the recorded texts (the scorer is trained by `make sentiment`)."
    ),
) -> None:
    """The same graph on a recorded real snapshot, offline (demo profile: its own data and
    models)."""
    from crypto_assets.market.snapshot import SnapshotError, snapshot_day_range

    settings = Settings(profile="demo", source="snapshot", snapshot_dir=Path(snapshot).resolve())
    try:
        first, last = snapshot_day_range(settings.snapshot_dir, settings.history_start)
    except SnapshotError as exc:
        _fail(str(exc))
    _quiet_dagster()
    if days:
        first = max(first, last - pd.Timedelta(days=days - 1))
    _run_graph(settings, first, last, skip_jobs=("sentiment_job",) if skip_sentiment else ())


DEMO_OPTION = typer.Option(False, "--demo", help="Read the demo profile (what `demo` wrote).")


def _profile_settings(demo: bool) -> Settings:
    return Settings(profile="demo") if demo else Settings()


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    demo: bool = DEMO_OPTION,
) -> None:
    """Freshness and completeness per asset, and the signal models in use per horizon."""
    from crypto_assets.status import asset_status, model_status

    settings = _profile_settings(demo)
    _quiet_dagster()  # the status reads the asset list from the definitions
    rows = asset_status(settings)
    models = model_status(settings)
    if as_json:
        print(json.dumps({"assets": rows, "models": models}, default=str, indent=1))
        return
    columns = ("asset", "rows", "coins", "newest", "age_hours", "last_materialized", "note")
    table = Table(title=f"Asset status ({settings.profile} profile)")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row.get(k, "")) for k in columns))
    out.print(table)
    grid = Table(title="Signal models (MLflow registry)")
    for column in ("horizon", "model", "in use", "latest", "versions", "rank IC", "ECE"):
        grid.add_column(column)
    for row in models:
        grid.add_row(
            *(
                str(row.get(k) if row.get(k) is not None else "-")
                for k in ("horizon", "model", "in_use", "latest", "versions", "rank_ic", "ece")
            )
        )
    out.print(grid)


@snapshot_app.command("record")
def snapshot_record(
    directory: Path = typer.Argument(..., help="Empty directory to write the snapshot into."),
    max_symbols: int | None = typer.Option(None, help="Cap the number of markets."),
    overwrite: bool = typer.Option(False, help="Allow writing into a non-empty directory."),
) -> None:
    """Record a snapshot from the live exchange, so it can be replayed later (`demo --snapshot`)."""
    from crypto_assets.market.snapshot_record import record_snapshot
    from crypto_assets.market.source import SourceUnavailable
    from crypto_assets.resources.market_source import ExchangeResource

    settings = Settings()
    source = ExchangeResource(exchange_id=settings.exchange_id)
    try:
        info = record_snapshot(
            source,
            directory,
            limit_symbols=max_symbols,
            quotes=settings.quote_currencies,
            overwrite=overwrite,
        )
    except (SourceUnavailable, FileExistsError, NotADirectoryError, ValueError) as exc:
        _fail(str(exc))
    out.print_json(json.dumps(info, default=str))


@app.command()
def backfill(
    kraken_csv: Path = typer.Option(..., help="Kraken OHLCVT CSV file or a folder of them."),
    symbol: str | None = typer.Option(None, help="Symbol for a single file, e.g. BTC/USD."),
) -> None:
    """Load deeper history from Kraken's downloadable OHLCVT archive (the API gives 720 candles)."""
    from crypto_assets.backfill import backfill_kraken_csv
    from crypto_assets.market.kraken_csv import KrakenCsvError

    try:
        report = backfill_kraken_csv(kraken_csv, Settings().resolved_duckdb_path, symbol=symbol)
    except KrakenCsvError as exc:
        _fail(str(exc))
    out.print_json(json.dumps(report, default=str))


def _print_top(settings: Settings, as_json: bool = False, near: int = 0) -> None:
    from crypto_assets.status import latest_near_misses, latest_top_coins

    day, table, reason = latest_top_coins(settings)
    misses = latest_near_misses(settings, near) if near else None
    if as_json:
        payload = {"day": day, "reason": reason, "coins": _records(table)}
        if misses is not None:
            payload["near_misses"] = _records(misses)
        print(json.dumps(payload, default=str))
        return
    out.print(f"[bold]Top coins on {day}[/]: {reason}")
    if len(table):
        out.print(_coin_grid(table))
    if misses is not None:
        threshold = f"{settings.confidence_threshold:.0%}"
        if misses.empty:
            out.print(f"No coins below the {threshold} threshold to show.")
        else:
            out.print(
                f"[bold]Near misses[/] (BELOW the {threshold} threshold, not recommendations):"
            )
            out.print(_coin_grid(misses, below=True))


def _records(table: pd.DataFrame) -> list[dict]:
    return table.assign(day=table["day"].astype(str), as_of=table["as_of"].astype(str)).to_dict(
        "records"
    )


def _coin_grid(table: pd.DataFrame, below: bool = False) -> Table:
    grid = Table()
    columns = ["coin", "1h", "24h", "7d", "30d", "confidence (estimate)", "as of", "why (SHAP)"]
    for column in [*columns, *(["short by"] if below else [])]:
        grid.add_column(column)
    for row in table.itertuples():
        cells = [
            row.symbol,
            *(f"{getattr(row, f'expected_return_{h}'):+.2%}" for h in ("1h", "24h", "7d", "30d")),
            f"{row.confidence_30d:.1%} ({row.confidence_estimate_30d:.1%})",
            str(row.as_of)[:16],
            str(row.explanation),
        ]
        if below:
            cells.append(f"{row.below_threshold_by:.1%}")
        grid.add_row(*cells)
    return grid


@app.command()
def top(
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
    demo: bool = DEMO_OPTION,
    near: int = typer.Option(
        0, "--near", min=0, help="Also show the next N coins below the threshold (near misses)."
    ),
) -> None:
    """The latest list of coins whose 30d confidence passes the threshold."""
    _print_top(_profile_settings(demo), as_json, near)


@app.command()
def backtest(
    snapshot: Path = typer.Option(DEFAULT_SNAPSHOT_DIR, help="Any snapshot directory."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
    horizons: str | None = typer.Option(None, help="Comma-separated subset, e.g. 7d,30d."),
) -> None:
    """Walk-forward backtest of every horizon on a snapshot; progress on stderr."""
    from crypto_assets.market.snapshot import SnapshotError
    from crypto_assets.ml.backtest import SUMMARY_KEYS, run_backtest
    from crypto_assets.ml.config import TrainConfig

    settings = Settings()
    _quiet_dagster()
    chosen = [h.strip() for h in horizons.split(",")] if horizons else None
    config = TrainConfig.from_settings(settings)
    try:
        result = run_backtest(
            snapshot, horizons=chosen, config=config, progress=lambda m: err.print(f"> {m}")
        )
    except SnapshotError as exc:
        _fail(str(exc))
    if as_json:
        print(json.dumps(result))
        return
    table = Table(title=f"Walk-forward backtest: {result['snapshot']}")
    keys = [k for k in SUMMARY_KEYS if k not in ("test_start", "test_end")]
    table.add_column("horizon")
    for key in keys:
        table.add_column(key)
    for name, row in result["horizons"].items():
        table.add_row(
            name, *(f"{row[k]:.4f}" if isinstance(row[k], float) else str(row[k]) for k in keys)
        )
    out.print(table)
    for name, reason in result["skipped"].items():
        out.print(f"skipped {name}: {reason}")


def main() -> None:
    """Console entry point. Ends the process without interpreter teardown, once output is
    flushed: duckdb's bindings otherwise print a false "leaked ..." report at every exit."""
    try:
        app()  # standalone mode: always ends in SystemExit, usage errors already printed
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        err.print("interrupted")
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
