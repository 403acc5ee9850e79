"""Exit codes and one-line errors, shared by every ``crypto-assets`` command.

The policy (README "Exit codes"):

- 0 ``OK``: done, nothing to report;
- 1 ``FAILED``: a run or step failed, the source or the database could not be used, a backfill
  loaded nothing; one line says why and where the full log is;
- 2 ``USAGE``: bad settings (one line per bad value) or a bad command line;
- 3 ``WARNINGS``: done, results written and published, but something must be looked at
  (excluded coins, pairs that failed to fetch, failed asset checks, revised or missing
  candles, rejected backfill rows); each is one line of the summary.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from crypto_assets.settings import Settings, SettingsError, load_settings

OK, FAILED, USAGE, WARNINGS = 0, 1, 2, 3
err = Console(stderr=True)


def fail(message: str, code: int = FAILED) -> NoReturn:
    """Print ``error: message`` (each line of it) on stderr and exit with ``code``."""
    for line in str(message).splitlines() or [""]:
        err.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def cli_settings(**overrides: Any) -> Settings:
    """The command's one Settings (environment / .env + the command's overrides); bad values
    end the command with one line each and exit code 2."""
    try:
        return load_settings(**overrides)
    except SettingsError as error:
        fail(str(error), USAGE)
