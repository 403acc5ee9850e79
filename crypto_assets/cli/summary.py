"""The end of ``run`` / ``demo`` / ``backfill``: publish the read copy, and tell the user, in a
few lines, what did not go as it should, with the exit code that says it to scripts
(``crypto_assets.cli.errors``).

A run that completed can still hide trouble (coins excluded, pairs that failed to fetch,
candles the source revised, history it cannot give, a model without skill): each is a failed
asset check of a run (``crypto_assets.runner.check_findings``), printed one line each, and the
command exits 3. A run that failed prints its cause in one line and where the full log is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from crypto_assets.cli.errors import FAILED, OK, WARNINGS, err, fail
from crypto_assets.settings import Settings

out = Console()


def publish_results(settings: Settings, run_id: str | None) -> str:
    """Publish the read copy of the profile's database (``status``, ``top``, dashboards read
    only that); returns a line saying what was published. Call with no connection open."""
    from crypto_assets.storage import DatabaseBusy, NothingPublished, publish

    try:
        publication = publish(settings.resolved_duckdb_path, run_id=run_id)
    except NothingPublished:
        return "nothing to publish: the run stored no results"
    except DatabaseBusy as busy:
        fail(f"results are stored but not published: {busy}")
    return (
        f"results published for readers at {publication.published_at:%Y-%m-%d %H:%M:%S} UTC "
        f"({publication.path.name}, {publication.seconds:.1f} s)"
    )


def where_to_look(settings: Settings, run_id: str | None = None) -> str:
    """Where the full story is: the JSON log file and the Dagster runs (or the one run)."""
    from crypto_assets.runner import json_log_path

    runs = (
        f"run {run_id}" if run_id else f"the runs tagged crypto_assets/profile={settings.profile}"
    )
    return f"full log: {json_log_path(settings)}; {runs} in the Dagster UI (`make dev`, Runs)"


def print_findings(settings: Settings, findings: Sequence, notes: Sequence[str]) -> int:
    """One line per failed check and per note; returns the exit code (0 or 3)."""
    lines = [*notes, *dict.fromkeys(f.line() for f in findings)]
    if not lines:
        out.print("[bold green]Completed: every check passed.[/]")
        return OK
    out.print(f"[bold yellow]Completed with {len(lines)} warning(s)[/] (exit code {WARNINGS}):")
    for line in lines:
        out.print(f"  ! {escape(line)}", soft_wrap=True, highlight=False)
    out.print(escape(where_to_look(settings)), soft_wrap=True, highlight=False)
    return WARNINGS


def fail_run(settings: Settings, error: Exception, findings: Sequence) -> NoReturn:
    """A run failed: the checks that did run, then the cause and where the full log is."""
    run_id = getattr(error, "run_id", None)
    if findings:
        err.print("Before the failure:")
        for line in dict.fromkeys(f.line() for f in findings):
            err.print(f"  ! {escape(line)}", soft_wrap=True, highlight=False)
    err.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True, highlight=False)
    err.print(escape(where_to_look(settings, run_id)), soft_wrap=True, highlight=False)
    raise typer.Exit(FAILED)
