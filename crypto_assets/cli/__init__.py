"""The ``crypto-assets`` command: the same code paths as the assets, for people and scripts.

Each command builds one ``Settings`` through ``load_settings`` (environment / .env, plus the
command's own overrides such as ``profile="demo"``; a bad value ends it with one line and exit
code 2) and passes it down; the only write to the environment is the export of secrets read
from ``.env`` (``settings.export_secrets``), so that runs name them. Exit codes:
``crypto_assets.cli.errors``. Readers (``status``, ``top``) read only the published read copy;
``run`` / ``demo`` / ``backfill`` publish it when they succeed (``crypto_assets.cli.summary``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crypto_assets.cli.errors import FAILED, USAGE, WARNINGS, cli_settings, err, fail
from crypto_assets.cli.ops import ops_app
from crypto_assets.cli.sentiment import sentiment_app
from crypto_assets.settings import DEFAULT_SNAPSHOT_DIR, Settings

if TYPE_CHECKING:  # imported where used: the command line starts without ccxt
    from crypto_assets.resources.market_source import ExchangeResource

app = typer.Typer(
    help="crypto_assets: rank crypto coins by their chance to grow fast.",
    pretty_exceptions_enable=False,  # main() prints an unexpected error in one line
)
snapshot_app = typer.Typer(help="Record and inspect market snapshots.")
app.add_typer(snapshot_app, name="snapshot")
app.add_typer(sentiment_app, name="sentiment", help="Train, evaluate and use the scorer.")
app.add_typer(ops_app)  # doctor, backup, restore, alert-test: top-level commands
out = Console()
_fail = fail
# The snapshot's coins have no recorded order book; these USD-quoted pairs do (Kraken WS
# 2021-04-17, Binance REST 2021-10-12), so the demo shows the book analytics on real books.
DEMO_WATCH_LIST = ("XMR/USD", "OMG/USD", "NKN/USDT")


@app.callback()
def _entry() -> None:
    """For every command: JSON log lines with secrets masked (``crypto_assets.logs``), and
    secrets from ``.env`` exported so that runs refer to them by name (``export_secrets``)."""
    from crypto_assets.logs import setup_logging
    from crypto_assets.settings import SettingsError, export_secrets, load_settings

    try:
        settings = load_settings()
    except SettingsError:
        settings = None  # the command itself reports the bad value
    else:
        export_secrets(settings)
    setup_logging("cli", settings)


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
    from crypto_assets.storage import NothingPublished

    try:
        summary = market_summary(settings)
    except NothingPublished:
        return
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
    notes: tuple[str, ...] = (),
) -> None:
    """Run the pipeline, publish the read copy, print the summary; exit 0, 3 (warnings: each
    failed check of the runs, and ``notes``) or 1 (the failure's cause and where the log is)."""
    from crypto_assets.cli.summary import fail_run, print_findings, publish_results
    from crypto_assets.run_monitor import mark_abandoned_runs
    from crypto_assets.runner import PipelineError, check_findings, dagster_instance, run_pipeline

    instance = dagster_instance(settings)
    for line in mark_abandoned_runs(instance):
        err.print(f"note: {escape(line)}", soft_wrap=True, highlight=False)
    findings: list = []
    run_ids: list[str] = []

    def collect(step, result) -> None:  # type: ignore[no-untyped-def]
        findings.extend(check_findings(result, step.job))
        run_ids.append(result.run_id)

    try:
        with StepProgress() as progress:
            timings = run_pipeline(
                settings,
                first,
                last,
                progress=progress,
                instance=instance,
                run_config=run_config,
                skip_jobs=skip_jobs,
                on_plan=progress.plan,
                on_result=collect,
            )
    except PipelineError as exc:
        if exc.result is not None:
            findings.extend(check_findings(exc.result, exc.result.job_def.name))
        fail_run(settings, exc, findings)
    published = publish_results(settings, run_ids[-1] if run_ids else None)
    _print_market_summary(settings)
    _print_onchain_summary(settings)
    _print_top(settings)
    _print_timings(timings, first, last)
    err.print(published)
    raise typer.Exit(print_findings(settings, findings, notes))


def _print_onchain_summary(settings: Settings) -> None:
    """Which coins have on-chain data and features, which do not, and each source's status."""
    from crypto_assets.status import onchain_summary

    summary = onchain_summary(settings)
    if summary.get("note"):
        out.print(f"on-chain: {summary['note']}", soft_wrap=True)
        return
    covered, uncovered = summary["covered"], summary["uncovered"]
    out.print(
        f"on-chain on {summary['day']}: {len(covered)} of {len(covered) + len(uncovered)} "
        f"universe coins have on-chain data ({', '.join(covered) or 'none'}); "
        f"without: {_listed(uncovered)}",
        soft_wrap=True,
    )
    features = summary["feature_coins"]
    out.print(
        f"on-chain features in the feature table: {', '.join(features) or 'no coin'}"
        + (f" ({summary['feature_rows']} rows)" if features else "")
        + " (stored for inspection; the models do not use them)",
        soft_wrap=True,
    )
    table = Table(title="On-chain sources (newest day)")
    for column in ("table", "source", "status", "reason"):
        table.add_column(column)
    for row in summary["sources"]:
        table.add_row(row["table"], row["source"], row["status"], row["reason"][:120])
    out.print(table)


def _listed(items: list[str], limit: int = 25) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return (", ".join(items[:limit]) or "none") + more


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

    settings = cli_settings(source="live")
    _quiet_dagster()
    try:
        _market_list(ExchangeResource(exchange_id=settings.exchange_id, max_retries=1))
    except SourceUnavailable as exc:
        _fail(str(exc))
    last = pd.Timestamp.now(tz="UTC").normalize() - pd.Timedelta(days=1)
    first, notes = _first_day(last, days, settings.history_start)
    universe = {"max_symbols": max_symbols} if max_symbols else None
    config = {"ops": {"exchange_markets": {"config": universe}}} if universe else None
    _run_graph(settings, first, last, run_config=config, notes=notes)


def _market_list(source: ExchangeResource) -> pd.DataFrame:
    """The exchange's market list, its retry warnings muted: if it cannot be reached, the
    caller's one error line says it all."""
    source_log = logging.getLogger("crypto_assets.resources")
    level = source_log.level
    source_log.setLevel(logging.CRITICAL)
    try:
        return source.fetch_markets()
    finally:
        source_log.setLevel(level)


def _first_day(
    last: pd.Timestamp, days: int, history_start: str
) -> tuple[pd.Timestamp, tuple[str, ...]]:
    """The first day of a ``--days`` run: daily partitions begin at HISTORY_START, so a longer
    request is cut there, and the cut is said (a warning), never silent."""
    asked = last - pd.Timedelta(days=days - 1)
    start = pd.Timestamp(history_start, tz="UTC")
    if asked >= start:
        return asked, ()
    return start, (
        f"--days {days} reaches back to {asked:%Y-%m-%d}, before CRYPTO_ASSETS_HISTORY_START="
        f"{history_start}: ran from {history_start} (set it earlier to go further back)",
    )


@app.command()
def demo(
    snapshot: Path = typer.Option(DEFAULT_SNAPSHOT_DIR, help="Snapshot directory to replay."),
    days: int | None = typer.Option(None, help="Only the last N days of the snapshot."),
    skip_sentiment: bool = typer.Option(
        False, help="Do not score the recorded texts (the scorer is trained by `make sentiment`)."
    ),
    last_day: str | None = typer.Option(
        None,
        help="Last day to run (default: the snapshot's last day); with --days, the window "
        "ends here. E.g. 2018-02-20 on market/kraken_btc_eth (and CRYPTO_ASSETS_HISTORY_START="
        "2017-10-01) reaches the recorded on-chain network metrics.",
    ),
) -> None:
    """The same graph on a recorded real snapshot, offline (demo profile: its own data and
    models)."""
    from crypto_assets.market.snapshot import SnapshotError, snapshot_day_range

    if not Path(snapshot).expanduser().is_dir():
        _fail(f"--snapshot {snapshot}: no such folder", USAGE)
    settings = cli_settings(
        profile="demo", source="snapshot", snapshot_dir=Path(snapshot).expanduser().resolve()
    )
    if not settings.risk_watch_list:  # the recorded books' USD pairs (README "Risk")
        settings = settings.model_copy(update={"risk_watch_list": list(DEMO_WATCH_LIST)})
    try:
        first, last = snapshot_day_range(settings.snapshot_dir, settings.history_start)
    except SnapshotError as exc:
        _fail(str(exc), USAGE)  # the --snapshot argument names no usable snapshot
    if last < first:
        _fail(
            f"snapshot {settings.snapshot_dir} has no complete day on or after "
            f"CRYPTO_ASSETS_HISTORY_START={settings.history_start}"
        )
    _quiet_dagster()
    if last_day:
        try:
            end = pd.Timestamp(last_day, tz="UTC").normalize()
        except ValueError:
            end = pd.NaT
        if pd.isna(end) or not first <= end <= last:
            _fail(
                f"--last-day {last_day} is outside the snapshot's days "
                f"{first:%Y-%m-%d}..{last:%Y-%m-%d}"
            )
        last = end
    if days:
        first = max(first, last - pd.Timedelta(days=days - 1))
    _run_graph(settings, first, last, skip_jobs=("sentiment_job",) if skip_sentiment else ())


DEMO_OPTION = typer.Option(False, "--demo", help="Read the demo profile (what `demo` wrote).")


def _profile_settings(demo: bool) -> Settings:
    return cli_settings(profile="demo") if demo else cli_settings()


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    demo: bool = DEMO_OPTION,
) -> None:
    """Freshness and completeness per asset (of the published results), and the signal models
    in use per horizon."""
    from crypto_assets.status import asset_status, model_status, onchain_summary, publication
    from crypto_assets.storage import NothingPublished, ProfileMismatch

    settings = _profile_settings(demo)
    _quiet_dagster()  # the status reads the asset list from the definitions
    try:
        published = publication(settings)
        rows, reason = asset_status(settings), ""
    except NothingPublished as missing:
        published, rows, reason = None, [], str(missing)
    except ProfileMismatch as mismatch:
        _fail(str(mismatch))
    models = model_status(settings)
    if as_json:
        payload = _status_payload(published, rows, models, reason)
        payload["onchain"] = onchain_summary(settings)
        print(json.dumps(payload, default=str, indent=1))
        return
    out.print(_as_of_line(published, reason), soft_wrap=True, highlight=False)
    _print_status_tables(settings, rows, models)


def _status_payload(published, rows: list, models: list, reason: str) -> dict:  # type: ignore[no-untyped-def]
    return {
        "published_at": str(published.published_at) if published else None,
        "run_id": published.run_id if published else None,
        "reason": reason,
        "assets": rows,
        "models": models,
    }


def _as_of_line(published, reason: str) -> str:  # type: ignore[no-untyped-def]
    """ "results as of <published_at> (run <id>)", or why there are none yet."""
    if published is None:
        return escape(reason)
    run = f" (run {published.run_id})" if published.run_id else ""
    return f"results as of {published.published_at:%Y-%m-%d %H:%M:%S} UTC{run}"


def _print_status_tables(settings: Settings, rows: list, models: list) -> None:
    columns = ("asset", "rows", "coins", "newest", "age_hours", "last_materialized", "note")
    if rows:
        table = Table(title=f"Asset status ({settings.profile} profile)")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(row.get(k, "")) for k in columns))
        out.print(table)
    grid = Table(title="Signal models (MLflow registry)")
    keys = ["horizon", "model", "in_use", "latest", "versions", "rank_ic", "ece"]
    columns = ["horizon", "model", "in use", "latest", "versions", "rank IC", "ECE"]
    if any("stored_ece" in row for row in models):  # trained with older history
        keys += ["stored_rank_ic", "stored_ece"]
        columns += ["rank IC (stored days)", "ECE (stored days)"]
    for column in columns:
        grid.add_column(column)
    for row in models:
        grid.add_row(*(str(row.get(k) if row.get(k) is not None else "-") for k in keys))
    out.print(grid)
    _print_onchain_summary(settings)


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

    settings = cli_settings()
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


@snapshot_app.command("bootstrap")
def snapshot_bootstrap(
    directory: Path = typer.Argument(..., help="Empty directory for the daily-only snapshot."),
    exchange: str = typer.Option("binance", help="ccxt exchange with deep daily history."),
    quote: str = typer.Option("USDT", help="Quote currency on that exchange."),
    since: str = typer.Option("2017-01-01", help="First day to fetch (UTC)."),
    bases: str | None = typer.Option(
        None,
        help="Comma-separated base coins, e.g. BTC,ETH (default: the bases of the product's "
        "Kraken universe, read from the live Kraken market list).",
    ),
    max_symbols: int | None = typer.Option(None, min=1, help="Cap the number of coins."),
    overwrite: bool = typer.Option(False, help="Allow writing into a non-empty directory."),
    api_url: str | None = typer.Option(
        None, help="REST base URL of that exchange (a mirror or a local replay server)."
    ),
) -> None:
    """Years of daily candles for the product's base coins from another exchange (Kraken's API
    serves 720), written as their own snapshot folder labelled with that exchange, never mixed
    with Kraken's candles; train or backtest on it with `--snapshot DIRECTORY`. Exit 3 when
    coins are not listed there or failed to fetch."""
    from crypto_assets.market.bootstrap import BootstrapError, bootstrap_history
    from crypto_assets.market.snapshot_record import checked_out_dir
    from crypto_assets.market.source import SourceUnavailable
    from crypto_assets.resources.market_source import ExchangeResource, max_ohlcv_limit

    settings = cli_settings()
    try:
        page = max_ohlcv_limit(exchange)
        start = pd.Timestamp(since, tz="UTC")
        checked_out_dir(directory, overwrite)
    except FileExistsError:
        _fail(f"{directory} is not empty: pass --overwrite to replace the snapshot", USAGE)
    except (ValueError, NotADirectoryError) as exc:
        _fail(str(exc), USAGE)
    if exchange == settings.exchange_id:
        _fail(f"--exchange {exchange} is the product's own exchange: use `snapshot record`", USAGE)
    network = {
        "max_concurrency": settings.max_concurrency,
        "timeout_ms": settings.request_timeout_ms,
        "max_retries": settings.max_retries,
    }
    chosen, bases_from = _bootstrap_bases(settings, bases, network)
    source = ExchangeResource(
        exchange_id=exchange, api_url=api_url, market_types=["spot"], ohlcv_limit=page, **network
    )
    try:
        _market_list(source)  # unreachable: one line, before anything is written
        info = bootstrap_history(
            source,
            exchange,
            directory,
            chosen,
            bases_from=bases_from,
            quote=quote,
            since=start,
            max_symbols=max_symbols,
            overwrite=overwrite,
        )
    except (SourceUnavailable, BootstrapError) as exc:
        _fail(str(exc))
    out.print_json(json.dumps(info, default=str))
    rows = info["timeframes"]["1d"]["rows"]
    err.print(f"{rows} daily candles of {len(info['symbols'])} coins from {exchange}: {directory}")
    if info["not_listed"]:
        names = _listed([row["base"] for row in info["not_listed"]])
        err.print(f"[yellow]not on {exchange} as BASE/{quote.upper()}:[/] {escape(names)}")
    if info["failures"]:
        names = _listed([f"{row['symbol']} ({row['error_type']})" for row in info["failures"]])
        err.print(f"[yellow]failed to fetch:[/] {escape(names)}")
    if info["not_listed"] or info["failures"]:
        raise typer.Exit(WARNINGS)


def _bootstrap_bases(
    settings: Settings, bases: str | None, network: dict[str, int]
) -> tuple[list[str], str]:
    """The bases a bootstrap asks for and where they came from: ``--bases``, or the bases of
    the product's universe on its own exchange (its live market list; one line if offline)."""
    from crypto_assets.market.bootstrap import universe_bases
    from crypto_assets.market.source import SourceUnavailable
    from crypto_assets.resources.market_source import ExchangeResource

    if bases is not None:
        chosen = [b.strip().upper() for b in bases.split(",") if b.strip()]
        if not chosen:
            _fail("--bases names no coin", USAGE)
        return chosen, "--bases"
    try:
        markets = _market_list(ExchangeResource(exchange_id=settings.exchange_id, **network))
    except SourceUnavailable as exc:
        _fail(f"{exc}; or pass --bases BTC,ETH,... to bootstrap without it")
    chosen = universe_bases(markets, settings.quote_currencies)
    quotes = "/".join(settings.quote_currencies)
    return chosen, f"{settings.exchange_id} universe ({quotes} spot markets, {len(chosen)} bases)"


@app.command()
def backfill(
    kraken_csv: Path = typer.Option(..., help="Kraken OHLCVT CSV file or a folder of them."),
    symbol: str | None = typer.Option(None, help="Symbol for a single file, e.g. BTC/USD."),
    as_json: bool = typer.Option(False, "--json", help="The report as one JSON object."),
) -> None:
    """Load deeper history from Kraken's downloadable OHLCVT archive (the API gives 720 candles):
    all files or none, a line per file; exit 1 when nothing was loaded, 3 when rows were
    rejected or differ from stored candles (kept as stored)."""
    from dataclasses import asdict

    from crypto_assets.backfill import backfill_kraken_csv
    from crypto_assets.cli.summary import publish_results
    from crypto_assets.market.kraken_csv import KrakenCsvError
    from crypto_assets.market.universe import validate_symbols

    settings = cli_settings()
    try:
        chosen = validate_symbols([symbol])[0] if symbol else None
        result = backfill_kraken_csv(
            kraken_csv, settings.resolved_duckdb_path, symbol=chosen, profile=settings.profile
        )
    except (KrakenCsvError, ValueError) as exc:
        _fail(str(exc), USAGE)
    report = result.report
    if as_json:
        print(json.dumps(asdict(report), default=str))
    else:
        for line in report.lines():
            out.print(escape(line), soft_wrap=True, highlight=False)
    if not report.committed:
        raise typer.Exit(FAILED)
    err.print(publish_results(settings, None))
    step = result.next_step(settings.history_start)
    if step:
        err.print(escape(step), soft_wrap=True, highlight=False)
    raise typer.Exit(WARNINGS if result.warnings else 0)


def _print_top(settings: Settings, as_json: bool = False, near: int = 0) -> None:
    from crypto_assets.ml.selection import NEAR_COLUMNS, TOP_COLUMNS
    from crypto_assets.status import latest_near_misses, latest_top_coins, publication
    from crypto_assets.storage import NothingPublished, ProfileMismatch

    try:
        published = publication(settings)
        day, table, reason = latest_top_coins(settings)
        table = _with_risk(settings, day, table)
        misses = latest_near_misses(settings, near) if near else None
    except NothingPublished as missing:
        published, day, reason = None, "-", str(missing)
        table = pd.DataFrame(columns=TOP_COLUMNS)
        misses = pd.DataFrame(columns=NEAR_COLUMNS) if near else None
    except ProfileMismatch as mismatch:
        _fail(str(mismatch))
    if as_json:
        payload = {
            "day": day,
            "reason": reason,
            "published_at": str(published.published_at) if published else None,
            "coins": _records(table),
        }
        if misses is not None:
            payload["near_misses"] = _records(misses)
        print(json.dumps(payload, default=str))
        return
    if published is not None:
        out.print(_as_of_line(published, ""), highlight=False)
    out.print(f"[bold]Top coins on {day}[/]: {escape(reason)}", soft_wrap=True)
    if len(table):
        out.print(_coin_grid(table))
    if misses is not None:
        threshold = f"{settings.confidence_threshold:.0%}"
        if misses.empty:  # with an empty list too, the reason says why (e.g. no 30d model)
            why = f" ({escape(reason)})" if table.empty else ""
            out.print(f"No coins below the {threshold} threshold to show{why}.", soft_wrap=True)
        else:
            out.print(
                f"[bold]Near misses[/] (BELOW the {threshold} threshold, not recommendations):"
            )
            out.print(_coin_grid(misses, below=True))


def _with_risk(settings: Settings, day: str, table: pd.DataFrame) -> pd.DataFrame:
    """The top list with each coin's risk verdict (``risk_metrics`` of the day): held back and
    why, warnings, suggested allocation; "not assessed" before the risk check ran."""
    from crypto_assets.status import top_list_risk

    risk = top_list_risk(settings, day)
    merged = table.merge(risk, on="symbol", how="left")
    assessed = merged["held_back"].notna()
    merged["held_back"] = merged["held_back"].astype("boolean").fillna(False).astype(bool)
    merged["risk_flags"] = merged["risk_flags"].astype("string").where(assessed, "not assessed")
    merged["held_back_reason"] = merged["held_back_reason"].astype("string").fillna("")
    return merged


def _records(table: pd.DataFrame) -> list[dict]:
    return table.assign(day=table["day"].astype(str), as_of=table["as_of"].astype(str)).to_dict(
        "records"
    )


def _coin_grid(table: pd.DataFrame, below: bool = False) -> Table:
    grid = Table()
    columns = ["coin", "1h", "24h", "7d", "30d", "confidence (estimate)", "as of", "why (SHAP)"]
    risk = "risk_flags" in table
    extra = ["short by"] if below else (["risk", "allocation"] if risk else [])
    for column in [*columns, *extra]:
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
        elif risk:
            held = f"HELD BACK: {row.held_back_reason}" if row.held_back else ""
            cells.append("; ".join(t for t in (held, str(row.risk_flags or "")) if t) or "-")
            weight = row.suggested_allocation
            cells.append(f"{weight:.1%}" if pd.notna(weight) else "-")
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


def _dashboard_settings(demo: bool, overrides: dict) -> Settings:
    """The profile the dashboard serves: the one asked for, else live when a live run has
    published, else the demo when it has (so `make demo && make dashboard` shows results)."""
    from crypto_assets import storage
    from crypto_assets.settings import load_settings

    settings = load_settings(**overrides, **({"profile": "demo"} if demo else {}))
    chosen = demo or "profile" in settings.model_fields_set
    if chosen or storage.published_path(settings).exists():
        return settings
    fallback = load_settings(**overrides, profile="demo")
    return fallback if storage.published_path(fallback).exists() else settings


@app.command()
def dashboard(
    demo: bool = DEMO_OPTION,
    host: str | None = typer.Option(
        None, help="Address to bind (default 127.0.0.1; anything else needs a token)."
    ),
    port: int | None = typer.Option(None, help="TCP port (default 8765)."),
) -> None:
    """Serve the signals dashboard over the published results (Ctrl-C stops it). With no
    profile chosen (no --demo, no CRYPTO_ASSETS_PROFILE) and nothing published by a live run,
    it serves the demo's results when `make demo` published them."""
    from crypto_assets.dashboard.security import StartRefused
    from crypto_assets.dashboard.server import serve
    from crypto_assets.settings import SettingsError

    overrides = {k: v for k, v in (("dashboard_host", host), ("dashboard_port", port)) if v}
    try:
        settings = _dashboard_settings(demo, overrides)
    except SettingsError as exc:
        _fail(str(exc))
    _quiet_dagster()
    where = f"http://{settings.dashboard_host}:{settings.dashboard_port}/"
    err.print(f"dashboard ({settings.profile} profile) on {where} (Ctrl-C stops it)")
    try:
        serve(settings)
    except StartRefused as exc:
        _fail(str(exc))


@app.command()
def backtest(
    snapshot: Path = typer.Option(DEFAULT_SNAPSHOT_DIR, help="Any snapshot directory."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
    horizons: str | None = typer.Option(None, help="Comma-separated subset, e.g. 7d,30d."),
    onchain: bool = typer.Option(
        True,
        help="Report on-chain coverage and, where the recorded on-chain data overlap the "
        "snapshot, the figures with and without on-chain features (a second walk-forward).",
    ),
) -> None:
    """Walk-forward backtest of every horizon on a snapshot; progress on stderr."""
    from crypto_assets.horizons import require_known
    from crypto_assets.market.snapshot import SnapshotError
    from crypto_assets.ml.backtest import SUMMARY_KEYS, run_backtest
    from crypto_assets.ml.config import TrainConfig

    settings = cli_settings()
    _quiet_dagster()
    chosen = None if horizons is None else [h.strip() for h in horizons.split(",")]
    try:  # before any candle is read: a typo is a bad command line, not a failed run
        require_known(chosen or [])
    except ValueError as exc:
        _fail(f"--horizons {horizons!r}: {exc}", USAGE)
    config = TrainConfig.from_settings(settings)
    try:
        result = run_backtest(
            snapshot,
            horizons=chosen,
            config=config,
            progress=lambda m: err.print(f"> {m}"),
            onchain_dir=settings.onchain_data_dir if onchain else None,
        )
    except SnapshotError as exc:
        _fail(str(exc), USAGE)
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
    if "onchain" in result:
        _print_onchain_backtest(result["onchain"])


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def _print_onchain_backtest(report: dict) -> None:
    """The backtest's on-chain section: coverage, then with/without per horizon."""
    if "skipped" in report:
        out.print(f"on-chain: {report['skipped']}")
        return
    for timeframe, cov in report["coverage"].items():
        out.print(
            f"on-chain ({timeframe}): {len(cov['covered_coins'])} of {cov['coins']} coins have "
            f"network features ({', '.join(cov['covered_coins']) or 'none'}), "
            f"{cov['rows_with_features']} of {cov['rows']} rows"
            + (f", {cov['first'][:10]}..{cov['last'][:10]}" if cov["first"] else "")
        )
    for name, row in report["comparison"].items():
        if "skipped" in row:
            out.print(f"on-chain {name}: {row['skipped']}")
            continue
        without, with_ = row["without"], row["with"]
        out.print(
            f"on-chain {name}: rank IC {without['rank_ic_mean']} -> {with_['rank_ic_mean']}; "
            f"two-coin rank IC {_signed(without['two_coin_rank_ic'])} -> "
            f"{_signed(with_['two_coin_rank_ic'])} over {with_['independent_periods']:.0f} "
            "independent periods"
        )
        if row.get("note"):
            out.print(f"  {row['note']}")


def main() -> None:
    """Console entry point. Ends the process without interpreter teardown, once output is
    flushed: duckdb's bindings otherwise print a false "leaked ..." report at every exit. An
    unexpected error is one line here, its traceback in the JSON log."""
    try:
        app()  # standalone mode: always ends in SystemExit, usage errors already printed
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        err.print("interrupted")
        code = 130
    except Exception as exc:  # a bug or an unforeseen failure: one line, the rest in the log
        code = _unexpected(exc)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _unexpected(exc: Exception) -> int:
    from crypto_assets.logs import JsonFileHandler

    handler = JsonFileHandler()
    record = logging.LogRecord(
        "crypto_assets.cli", logging.ERROR, __file__, 0, "unexpected error", None, sys.exc_info()
    )
    handler.emit(record)
    handler.close()
    text = " ".join(str(exc).split())[:300]
    err.print(f"[bold red]error:[/] {escape(type(exc).__name__)}: {escape(text)}", soft_wrap=True)
    err.print(f"the traceback is in {escape(handler.baseFilename)}", soft_wrap=True)
    return FAILED
