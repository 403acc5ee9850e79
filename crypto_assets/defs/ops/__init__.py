"""The operations domain in Dagster: alert sensors (run failures, failed checks, source outages,
drift-triggered retrains), the host resource monitor and the daily ``resource_usage`` table.

``defs`` carries no resources; ``crypto_assets/definitions.py`` merges it with
:func:`build_ops_resources` (``alerts`` and ``host_monitor``) like every other domain.
"""

import os

import dagster as dg

from crypto_assets.resources.alerts import AlertChannels
from crypto_assets.resources.host_monitor import HostMonitor
from crypto_assets.settings import Settings

from .alerting import DRIFT_TAG, RETRAIN_JOB, STATUS_CHECK_SUFFIX, alert_sensors
from .monitoring import (
    resource_monitor,
    resource_usage,
    resource_usage_daily,
    resource_usage_job,
    system_resources,
)

__all__ = ["DRIFT_TAG", "RETRAIN_JOB", "STATUS_CHECK_SUFFIX", "build_ops_resources", "defs"]

ALERT_URL_ENV = {
    "telegram_url": "CRYPTO_ASSETS_ALERT_TELEGRAM_URL",
    "discord_url": "CRYPTO_ASSETS_ALERT_DISCORD_URL",
    "email_url": "CRYPTO_ASSETS_ALERT_EMAIL_URL",
    "webhook_url": "CRYPTO_ASSETS_ALERT_WEBHOOK_URL",
}

defs = dg.Definitions(
    assets=[system_resources, resource_usage],
    jobs=[resource_usage_job],
    schedules=[resource_usage_daily],
    sensors=[*alert_sensors, resource_monitor],
)


def _secret_field(settings: Settings, field: str, env_name: str) -> str | dg.EnvVar | None:
    """``dg.EnvVar`` when the secret is in the environment (the UI then shows the variable's name,
    never its value); the value itself only when it came from a ``.env`` file that this process
    read but did not export."""
    value = getattr(settings, f"alert_{field}")
    if value is None:
        return None
    return dg.EnvVar(env_name) if env_name in os.environ else value.get_secret_value()


def build_ops_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The ``alerts`` and ``host_monitor`` resources for these settings."""
    data_dir = settings.data_dir
    state = settings.alert_state_path or data_dir / "ops" / "alert_state.sqlite"
    urls = {field: _secret_field(settings, field, env) for field, env in ALERT_URL_ENV.items()}
    disks = [data_dir, settings.mlflow_artifact_root, settings.resolved_duckdb_path.parent]
    return {
        "alerts": AlertChannels(
            **urls,
            ui_base_url=settings.dagster_ui_url,
            state_path=str(state),
            repeat_minutes=settings.alert_repeat_minutes,
            min_severity=settings.alert_min_severity,
        ),
        "host_monitor": HostMonitor(
            disk_paths=[str(p) for p in dict.fromkeys(disks)],
            interval_seconds=settings.monitor_interval_seconds,
            consecutive_samples=settings.overload_consecutive_samples,
            cpu_overload_percent=settings.cpu_overload_percent,
            memory_overload_percent=settings.memory_overload_percent,
            disk_min_free_gb=settings.disk_min_free_gb,
            gpu_memory_overload_percent=settings.gpu_memory_overload_percent,
            gpu_temperature_overload_c=settings.gpu_temperature_overload_c,
        ),
    }
