"""`crypto-assets doctor | backup | restore | alert-test`: the operations commands.

A typer app whose commands join the main command at the top level
(``app.add_typer(ops_app)`` without a name). Exit codes: 0 fine; 1 failed or refused (one line
on stderr says why); 3 done with warnings (doctor: usable with warnings; alert-test: no channel
configured).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from crypto_assets.settings import Settings

ops_app = typer.Typer(help="Operations: health checks, backup and restore, alert test.")
out = Console()
err = Console(stderr=True)
_STYLE = {"ok": "green", "info": "cyan", "warn": "yellow", "fail": "bold red"}


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True, highlight=False, markup=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    """The settings, or exit with one line per bad value naming the variable."""
    from crypto_assets.logs import setup_logging
    from crypto_assets.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        _fail(str(exc))
    setup_logging("cli", settings)
    return settings


@ops_app.command("doctor")
def doctor_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Check the installation and print a verdict (exit 0 ready, 3 with warnings, 1 not ready)."""
    from crypto_assets.health import health_report
    from crypto_assets.logs import setup_logging
    from crypto_assets.ops.doctor import settings_failure
    from crypto_assets.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        report = settings_failure(str(exc))
    else:
        setup_logging("cli", settings)
        report = health_report(settings)
    if as_json:
        print(json.dumps(report.as_dict()))
        raise typer.Exit(report.exit_code)
    table = Table(title="crypto_assets doctor")
    for column in ("check", "status", "detail", "what to do"):
        table.add_column(column, overflow="fold")
    for check in report.checks:
        status = f"[{_STYLE[check.status]}]{check.status}[/]"
        table.add_row(check.name, status, check.detail, check.fix, style=None)
    out.print(table)
    colour = ("green", "yellow", "bold red")[report.worst]
    out.print(f"verdict: [{colour}]{report.verdict}[/]")
    raise typer.Exit(report.exit_code)


@ops_app.command("backup")
def backup_cmd(
    dest: Annotated[Path, typer.Argument(help="Folder that holds the backups (created if new).")],
    keep: Annotated[
        int | None, typer.Option(help="Newest backups kept in DEST (default: BACKUP_KEEP).")
    ] = None,
) -> None:
    """Write a consistent, checksummed snapshot of data, models, MLflow, Dagster and logs."""
    from crypto_assets.ops.backup import BackupError, BackupSources, create_backup
    from crypto_assets.ops.paths import UnsafePathError

    settings = _settings()
    sources = BackupSources.from_settings(settings)
    try:
        result = create_backup(sources, dest, keep=keep or settings.backup_keep)
    except (BackupError, UnsafePathError, OSError) as exc:
        _fail(str(exc))
    files = result.manifest["files"]
    size = sum(f["bytes"] for f in files.values()) / 1024**2
    out.print(f"backup written: {result.path} ({len(files)} files, {size:.1f} MB)")
    for skipped in result.manifest["skipped"]:
        out.print(f"  not included: {skipped['path']} ({skipped['reason']})")
    for path in result.pruned:
        out.print(f"  removed older backup: {path.name}")


@ops_app.command("restore")
def restore_cmd(
    src: Annotated[Path, typer.Argument(help="One backup folder (crypto-assets-backup-...).")],
    dest_dir: Annotated[Path, typer.Argument(help="A new or empty folder to restore into.")],
) -> None:
    """Verify every checksum first, then rebuild the backup in a fresh folder."""
    from crypto_assets.ops.backup import BackupError, restore_backup
    from crypto_assets.ops.paths import UnsafePathError

    _settings()
    try:
        result = restore_backup(src, dest_dir)
    except (BackupError, UnsafePathError) as exc:
        _fail(f"restore refused: {exc}")
    out.print(f"restored into {result.dest} (checksums verified)")
    out.print(f"to use it, set these (also in {result.dest / 'restored.env'}):")
    for key, value in result.env.items():
        out.print(f"  {key}={value}", highlight=False, soft_wrap=True)


@ops_app.command("alert-test")
def alert_test_cmd() -> None:
    """Send one test alert to every configured channel and say which ones accepted it."""
    from crypto_assets.ops.alerts import Alert, AlertRouter, AlertState

    settings = _settings()
    channels = {
        name: (value.get_secret_value() if value else None)
        for name, value in (
            ("telegram", settings.alert_telegram_url),
            ("discord", settings.alert_discord_url),
            ("email", settings.alert_email_url),
            ("webhook", settings.alert_webhook_url),
        )
    }
    state = settings.alert_state_path or settings.profile_dir / "ops" / "alert_state.sqlite"
    router = AlertRouter(channels, AlertState(state), settings.dagster_ui_url, repeat_minutes=0)
    alert = Alert(
        kind="test",
        severity="info",
        what="test alert from crypto-assets alert-test",
        action="nothing: this checks that alerts reach you",
        key=f"test|{time.time()}",
    )
    delivery = router.send(alert, queue=False)  # a test is not worth retrying later
    if not router.channels:
        _fail("no alert channel configured (CRYPTO_ASSETS_ALERT_*_URL)", code=3)
    for name in delivery.sent_to:
        out.print(f"{name}: delivered")
    for name in delivery.failed:
        out.print(f"{name}: [bold red]failed[/] (see the JSON log for the reason)")
    if delivery.failed:
        raise typer.Exit(1)
