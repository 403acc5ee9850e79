"""Host resource monitoring: a sensor samples CPU, memory, disk and GPUs, records each sample as
an observation of ``system_resources`` (plotted in the asset's page, no run needed, no DuckDB
write that could collide with a running pipeline) and alerts on sustained overload; a daily
asset stores each day's samples in DuckDB for the dashboard.

The sensor samples the machine it is evaluated on (the code location's host or container); on
one workstation that is the machine the runs use.
"""

import json
import time

import dagster as dg
import pandas as pd

from crypto_assets.ops.alerts import Alert
from crypto_assets.ops.monitor import Overload, overloads
from crypto_assets.resources.alerts import AlertChannels
from crypto_assets.resources.host_monitor import HostMonitor

from .alerting import summarize

OPS_GROUP = "ops"
SYSTEM_RESOURCES = dg.AssetKey("system_resources")
SENSOR_TICK_SECONDS = 30
# Samples exist only from the day the monitor first ran; a daily window that includes today, so
# the current day can be stored as it fills.
monitor_days = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1, timezone="UTC")

USAGE_COLUMNS = {
    "cpu_percent": "float64",
    "load_per_core": "float64",
    "memory_percent": "float64",
    "memory_used_gb": "float64",
    "memory_total_gb": "float64",
    "disk_free_gb_min": "float64",
    "disk_used_percent_max": "float64",
    "gpu_count": "float64",
    "gpu_util_percent_max": "float64",
    "gpu_memory_percent_max": "float64",
    "gpu_temperature_c_max": "float64",
    "gpu_status": "string",
}

system_resources = dg.AssetSpec(
    SYSTEM_RESOURCES,
    group_name=OPS_GROUP,
    description="CPU, memory, disk and GPU of the host, observed by the resource_monitor sensor "
    "(one observation per sample; numbers plot in this asset's page).",
    kinds={"psutil", "nvml"},
)

_ACTIONS = {
    "cpu": "a run or another program holds the CPU: lower run_queue.max_concurrent_runs in "
    "dagster.yaml or CRYPTO_ASSETS_MAX_CONCURRENCY, or let training use the GPU",
    "memory": "the OS may kill a run: lower concurrency or the universe size, or add memory",
    "disk": "free disk space: fewer kept backups (CRYPTO_ASSETS_BACKUP_KEEP), delete old MLflow "
    "runs, or move CRYPTO_ASSETS_DATA_DIR to a larger disk",
    "gpu": "a training job is close to the GPU's limit: lower its batch size, or check cooling "
    "if the temperature is high",
}


def overload_alert(overload: Overload, samples: int) -> Alert:
    family = next((name for name in _ACTIONS if overload.resource.startswith(name)), "cpu")
    return Alert(
        kind="overload",
        severity="warning",
        what=f"resource overload: {overload.message} (limit {overload.limit:g}, "
        f"{samples} samples in a row)",
        action=_ACTIONS[family],
        asset=SYSTEM_RESOURCES.to_user_string(),
        key=f"overload|{overload.resource}",
    )


@dg.sensor(
    name="resource_monitor",
    minimum_interval_seconds=SENSOR_TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Samples CPU, memory, disk and GPU every interval_seconds; alerts when a limit "
    "is exceeded for consecutive_samples samples in a row.",
)
def resource_monitor(
    context: dg.SensorEvaluationContext, host_monitor: HostMonitor, alerts: AlertChannels
) -> dg.SensorResult | dg.SkipReason:
    state = json.loads(context.cursor) if context.cursor else {}
    due = state.get("last", 0.0) + host_monitor.interval_seconds - 1
    if time.time() < due:
        return dg.SkipReason(f"next sample in {due - time.time():.0f} s")
    sample = host_monitor.sample()
    found = {o.resource: o for o in overloads(sample, host_monitor.thresholds())}
    streaks = {name: state.get("streaks", {}).get(name, 0) + 1 for name in found}
    sustained = [
        overload_alert(found[name], count)
        for name, count in streaks.items()
        if count >= host_monitor.consecutive_samples
    ]
    deliveries = alerts.send_all(sustained) if sustained else []
    metadata = {**sample.metrics(), "overloads": ", ".join(sorted(found)) or "none"}
    return dg.SensorResult(
        asset_events=[dg.AssetObservation(asset_key=SYSTEM_RESOURCES, metadata=metadata)],
        cursor=json.dumps({"last": sample.time, "streaks": streaks}),
        skip_reason=dg.SkipReason(summarize(deliveries)) if deliveries else None,
    )


def observed_samples(
    instance: dg.DagsterInstance, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Every ``system_resources`` observation in ``[start, end)`` as one typed row each."""
    rows, cursor = [], None
    while True:
        result = instance.fetch_observations(
            dg.AssetRecordsFilter(
                asset_key=SYSTEM_RESOURCES,
                after_timestamp=start.timestamp(),
                before_timestamp=end.timestamp(),
            ),
            limit=1000,
            cursor=cursor,
            ascending=True,
        )
        for record in result.records:
            observation = record.asset_observation
            values = {k: v.value for k, v in (observation.metadata if observation else {}).items()}
            rows.append({"time": record.timestamp, **{k: values.get(k) for k in USAGE_COLUMNS}})
        if not result.has_more:
            break
        cursor = result.cursor
    frame = pd.DataFrame(rows, columns=["time", *USAGE_COLUMNS])
    frame["time"] = pd.to_datetime(frame["time"].astype("float64"), unit="s", utc=True)
    return frame.astype(USAGE_COLUMNS)


@dg.asset(
    group_name=OPS_GROUP,
    partitions_def=monitor_days,
    deps=[system_resources],
    metadata={"partition_expr": "time"},
    kinds={"duckdb"},
)
def resource_usage(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
    """The day's host samples (from the resource_monitor sensor's observations) as a table; a
    day without samples is stored empty and says why."""
    window = context.partition_time_window
    frame = observed_samples(context.instance, pd.Timestamp(window.start), pd.Timestamp(window.end))
    metadata: dict[str, object] = {"samples": len(frame)}
    if frame.empty:
        metadata["note"] = (
            "no samples this day: the resource_monitor sensor did not run "
            "(is the Dagster daemon running?)"
        )
    else:
        for column in ("cpu_percent", "memory_percent", "gpu_util_percent_max"):
            if frame[column].notna().any():
                metadata[f"{column}_mean"] = round(float(frame[column].mean()), 2)
                metadata[f"{column}_max"] = round(float(frame[column].max()), 2)
        metadata["disk_free_gb_min"] = float(frame["disk_free_gb_min"].min())
        metadata["gpu_status"] = str(frame["gpu_status"].dropna().iloc[-1])
        metadata["preview"] = dg.MetadataValue.md(frame.tail(5).to_markdown(index=False))
    return dg.Output(frame, metadata=metadata)


resource_usage_job = dg.define_asset_job(
    "resource_usage_job",
    selection=dg.AssetSelection.assets(resource_usage),
    partitions_def=monitor_days,
    description="Stores a day of host samples in DuckDB.",
)


@dg.schedule(
    job=resource_usage_job,
    cron_schedule="5 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def resource_usage_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Stores the day that just ended, five minutes after midnight UTC."""
    day = pd.Timestamp(context.scheduled_execution_time).tz_convert("UTC") - pd.Timedelta(days=1)
    key = day.strftime("%Y-%m-%d")
    return dg.RunRequest(run_key=f"resource-usage-{key}", partition_key=key)
