"""The health report of an installation: what ``crypto-assets doctor`` prints and what the
dashboard's status panel shows. The checks themselves are pure (``crypto_assets.ops.doctor``);
the one that opens the Dagster instance needs Dagster, so it lives here, beside the other entry
points (the runner, the definitions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crypto_assets.ops.doctor import Check, Report, check_daemon, run_checks, settings_failure
from crypto_assets.settings import Settings, SettingsError, load_settings


def dagster_check(home: Path) -> Check:
    """The instance in ``home`` (DAGSTER_HOME) loads and its storage answers; is the daemon
    alive (a heartbeat in the last two minutes)?"""
    if not (home / "dagster.yaml").exists():
        return Check(
            "dagster", "info", f"no instance at {home} yet (the first run or `make dev` creates it)"
        )
    import dagster as dg

    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs_count()
            storage = type(instance.run_storage).__name__
            beats = instance.get_daemon_heartbeats()
    except Exception as exc:  # any failure to open the instance is the finding
        return Check("dagster", "fail", f"instance at {home}: {type(exc).__name__}: {exc}")
    newest = max((b.timestamp for b in beats.values()), default=None)
    return check_daemon(home, storage, runs, newest)


def health_report(settings: Settings | None = None, *, exchange: Any | None = None) -> Report:
    """Every check with its verdict. Without ``settings`` they are loaded from the environment
    / .env, and invalid settings are themselves the (failed) finding."""
    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            return settings_failure(str(exc))
    home = settings.dagster_home
    return run_checks(settings, instance_check=lambda: dagster_check(home), exchange=exchange)
