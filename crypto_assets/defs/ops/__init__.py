"""The operations domain in Dagster: alert sensors (run failures, failed checks, source outages,
drift-triggered retrains), the host resource monitor and the daily ``resource_usage`` table.

``build_defs`` carries no resources; ``crypto_assets/definitions.py`` adds
:func:`build_ops_resources` (``alerts`` and ``host_monitor``) to ``build_resources``.
"""

from collections.abc import Callable

import dagster as dg

from crypto_assets.defs.partitions import Partitions
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

__all__ = ["DRIFT_TAG", "RETRAIN_JOB", "STATUS_CHECK_SUFFIX", "build_defs", "build_ops_resources"]

ALERT_CHANNELS = ("telegram", "discord", "email", "webhook")


def build_defs(partitions: Partitions) -> dg.Definitions:
    """Alert and monitor sensors, the host observations and the daily usage table. The usage
    table has its own daily partitions: host samples follow the wall clock, not the data's
    days (a demo's partitions end with its snapshot)."""
    del partitions
    return dg.Definitions(
        assets=[system_resources, resource_usage],
        jobs=[resource_usage_job],
        schedules=[resource_usage_daily],
        sensors=[*alert_sensors, resource_monitor],
    )


def build_ops_resources(
    settings: Settings, secret: Callable[[str], str | dg.EnvVar | None]
) -> dict[str, dg.ConfigurableResource]:
    """The ``alerts`` and ``host_monitor`` resources for these settings; ``secret(field)`` gives
    a secret setting as config (``dg.EnvVar`` when it is in the environment)."""
    data_dir = settings.data_dir
    state = settings.alert_state_path or settings.profile_dir / "ops" / "alert_state.sqlite"
    urls = {f"{c}_url": secret(f"alert_{c}_url") for c in ALERT_CHANNELS}
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
