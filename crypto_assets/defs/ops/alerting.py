"""Alert sensors: run failures, failed asset checks, source outages and drift-triggered retrains.

Each sensor turns Dagster records into :class:`crypto_assets.ops.alerts.Alert` objects and hands
them to the ``alerts`` resource, which rate-limits and delivers them. The sensors request no runs;
each tick's outcome (sent / held back / queued) shows as its skip message in the UI.

Convention for source status, which every domain follows so that outages alert without any
change here: a source-backed asset reports its source through an asset check that is named
``<something>_status`` (e.g. ``cryptopanic_status``) and/or carries metadata
``source``, ``status`` (``ok`` | ``no_key`` | ``unavailable`` | ``error`` | ``replay``) and
``reason``. Such a check is a *source status check*: it alerts as a source outage when it failed
or its ``status`` is anything but ``ok`` / ``replay`` (``no_key`` as a warning that the source is
not configured), and never as a generic failed check.

Drift: the feedback loop launches ``retrain_job`` runs tagged ``crypto_assets/drift`` (which
drift, how much, which horizon); the start of such a run is announced.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from crypto_assets.ops.alerts import Alert, Delivery
from crypto_assets.resources.alerts import AlertChannels

DRIFT_TAG = "crypto_assets/drift"
RETRAIN_JOB = "retrain_job"
STATUS_CHECK_SUFFIX = "_status"
HEALTHY_SOURCE_STATUSES = {"ok", "replay"}
_PARTITION_TAG = "dagster/partition"
_RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
_FETCH_LIMIT = 500
_COMPLETED = {"SUCCEEDED", "FAILED"}  # AssetCheckExecutionRecordStatus values
_DETAIL_LIMIT = 8


def summarize(deliveries: Sequence[Delivery]) -> str:
    """One line for the sensor tick: what went where."""
    if not deliveries:
        return "nothing to alert"
    sent = sum(bool(d.sent_to) for d in deliveries)
    held = sum(d.suppressed for d in deliveries)
    queued = sum(d.queued for d in deliveries)
    logged = len(deliveries) - sent - held - queued
    return (
        f"{len(deliveries)} alert(s): {sent} sent, {held} held back, {queued} queued, "
        f"{logged} logged only"
    )


def _partition_of(tags: Mapping[str, str]) -> str | None:
    if _PARTITION_TAG in tags:
        return tags[_PARTITION_TAG]
    start, end = (tags.get(t) for t in _RANGE_TAGS)
    return f"{start}...{end}" if start and end else None


def _text(value: Any, limit: int = 300) -> str:
    raw = getattr(value, "value", value)
    text = str(raw).strip().replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- run failures -----------------------------------------------------------------------------


def run_failure_alert(context: dg.RunFailureSensorContext) -> Alert:
    run = context.dagster_run
    steps = context.get_step_failure_events()
    if steps:
        step = steps[0]
        error = step.step_failure_data.error if step.step_failure_data else None
        cause = (error.cause or error) if error else None
        reason = _text(cause.message if cause else step.message or "unknown error")
        what = f"run of {run.job_name} failed at step {step.step_key}: {reason}"
        key = f"run_failure|{run.job_name}|{step.step_key}"
    else:  # failed before any step (a resource that would not start, a lost process)
        reason = _text(context.failure_event.message or "no step failed")
        what = f"run of {run.job_name} failed: {reason}"
        key = f"run_failure|{run.job_name}|-"
    return Alert(
        kind="run_failure",
        severity="error",
        what=what,
        action="open the run, read the failed step's error, fix the cause, then re-execute it "
        "from failure; data already stored for other partitions is unchanged",
        asset=steps[0].step_key if steps else None,
        partition=_partition_of(run.tags),
        run_id=run.run_id,
        job=run.job_name,
        key=key,
    )


@dg.run_failure_sensor(
    name="run_failure_alerts",
    monitor_all_code_locations=True,  # CLI runs on this instance have no code location
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts on every failed run (which step, why, a link to the run).",
)
def run_failure_alerts(context: dg.RunFailureSensorContext, alerts: AlertChannels) -> None:
    deliveries = alerts.send_all([run_failure_alert(context)])
    context.log.info(summarize(deliveries))


# --- asset checks and source status -----------------------------------------------------------


def unhealthy_source_status(
    check_name: str, metadata: Mapping[str, Any], passed: bool
) -> str | None:
    """The status of a source status check that needs attention, else None (see module doc)."""
    if "status" in metadata:
        status = _text(metadata["status"], 40).lower()
        return None if status in HEALTHY_SOURCE_STATUSES else status
    if check_name.endswith(STATUS_CHECK_SUFFIX) and not passed:
        return "error"
    return None


def _source_action(status: str) -> str:
    if status == "no_key":
        return (
            "set the source's key in .env (CRYPTO_ASSETS_..._API_KEY, see README) or ignore "
            "this source; nothing is fabricated in its place"
        )
    if status == "unavailable":
        return (
            "the source did not answer; the next scheduled run retries. Check the network or "
            "the provider's status page; stored data is kept"
        )
    return "open the run's log for the source's error; stored data is kept"


def check_alert(
    evaluation: dg.AssetCheckEvaluation, run_id: str | None, tags: Mapping[str, str]
) -> Alert | None:
    """The alert an evaluation deserves (source outage or failed check), or None."""
    metadata = {k: _text(v, 200) for k, v in evaluation.metadata.items()}
    asset = evaluation.asset_key.to_user_string()
    where = {
        "asset": asset,
        "partition": evaluation.partition or _partition_of(tags),
        "run_id": run_id,
        "job": tags.get("dagster/job_name") or None,
    }
    status = unhealthy_source_status(evaluation.check_name, metadata, evaluation.passed)
    if status is not None:
        source = metadata.get("source", asset)
        reason = metadata.get("reason") or evaluation.description or "no reason given"
        return Alert(
            kind="source_outage",
            severity="warning" if status == "no_key" else "error",
            what=f"source {source}: {status} ({reason})",
            action=_source_action(status),
            details={"check": evaluation.check_name, "as_of": metadata.get("as_of", "-")},
            key=f"source_outage|{source}|{status}",
            **where,
        )
    if evaluation.passed:
        return None
    blocking = evaluation.severity == dg.AssetCheckSeverity.ERROR
    description = f": {evaluation.description}" if evaluation.description else ""
    return Alert(
        kind="check_failed",
        severity="error" if blocking else "warning",
        what=f"check {evaluation.check_name} failed on {asset}{description}",
        action="open the check in the UI and read its metadata; fix the data or the source, then "
        "re-materialize the partition"
        + ("" if blocking else " (a warning: downstream assets still ran)"),
        details=dict(list(metadata.items())[:_DETAIL_LIMIT]),
        key=f"check_failed|{asset}|{evaluation.check_name}",
        **where,
    )


def _completed(record: Any) -> bool:
    return record.status.value in _COMPLETED


def new_check_executions(
    instance: dg.DagsterInstance, check_keys: Sequence[dg.AssetCheckKey], cursor: dict[str, Any]
) -> list[Any]:
    """Completed check executions newer than the cursor, oldest first; updates the cursor.

    Reads the instance's asset-check execution records (one index table, for SQLite and Postgres
    alike, CLI runs included): the latest execution of every check in one query, the history of
    a check only when its latest execution is new. ``cursor["start"]`` is the newest execution id
    when the sensor first ran (older history never alerts); ``cursor["seen"][check]`` the newest
    id handled per check. An execution still running holds back the later ones of its check
    until it completes; one whose run ended without it is passed over."""
    storage = instance.event_log_storage
    seen: dict[str, int] = cursor.setdefault("seen", {})
    floor = int(cursor.get("start", 0))
    found: list[Any] = []  # AssetCheckExecutionRecord
    latest = storage.get_latest_asset_check_execution_by_key(list(check_keys))
    for key, newest in latest.items():
        name = key.to_user_string()
        last = max(seen.get(name, 0), floor)
        if newest.id <= last:
            continue
        history = storage.get_asset_check_execution_history(key, limit=_FETCH_LIMIT)
        fresh = [r for r in history if r.id > last]
        running = [r.id for r in fresh if not _completed(r) and _run_active(instance, r.run_id)]
        cutoff = min(running, default=newest.id + 1)  # later ones wait for the running one
        handled = [r for r in fresh if r.id < cutoff]
        found.extend(r for r in handled if _completed(r))
        if handled:
            seen[name] = max(r.id for r in handled)
    return sorted(found, key=lambda r: r.id)


def _run_active(instance: dg.DagsterInstance, run_id: str) -> bool:
    """A planned check whose run ended never completes (the run-failure alert covers it)."""
    run = instance.get_run_by_id(run_id) if run_id else None
    return run is not None and not run.is_finished


def _run_tags(instance: dg.DagsterInstance, run_id: str) -> Mapping[str, str]:
    run = instance.get_run_by_id(run_id) if run_id else None
    return {**run.tags, "dagster/job_name": run.job_name} if run else {}


def _check_sensor_tick(
    context: dg.SensorEvaluationContext, alerts: AlertChannels, kind: str
) -> dg.SkipReason:
    """Shared body of the two check sensors: alert on each new completed evaluation that
    yields an alert of ``kind``."""
    if context.repository_def is None:
        return dg.SkipReason("no code location definitions: cannot list the asset checks")
    check_keys = list(context.repository_def.asset_graph.asset_check_keys)
    if context.cursor is None:
        latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(
            check_keys
        )
        start = max((record.id for record in latest.values()), default=0)
        context.update_cursor(json.dumps({"start": start, "seen": {}}))
        return dg.SkipReason(f"started after check execution {start}")
    cursor = json.loads(context.cursor)
    tags_by_run: dict[str, Mapping[str, str]] = {}
    found = []
    for record in new_check_executions(context.instance, check_keys, cursor):
        evaluation = record.evaluation
        if evaluation is None:
            continue
        if record.run_id not in tags_by_run:
            tags_by_run[record.run_id] = _run_tags(context.instance, record.run_id)
        alert = check_alert(evaluation, record.run_id or None, tags_by_run[record.run_id])
        if alert is not None and alert.kind == kind:
            found.append(alert)
    deliveries = alerts.send_all(found) if found else []
    context.update_cursor(json.dumps(cursor))
    return dg.SkipReason(summarize(deliveries))


@dg.sensor(
    name="asset_check_alerts",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts on failed asset checks (missing coins, stale or incomplete data, schema "
    "failures); source status checks go to source_outage_alerts.",
)
def asset_check_alerts(context: dg.SensorEvaluationContext, alerts: AlertChannels) -> dg.SkipReason:
    return _check_sensor_tick(context, alerts, kind="check_failed")


@dg.sensor(
    name="source_outage_alerts",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts when a source is unavailable, erroring or has no key (source status "
    "checks: named *_status or with a `status` metadata entry).",
)
def source_outage_alerts(
    context: dg.SensorEvaluationContext, alerts: AlertChannels
) -> dg.SkipReason:
    return _check_sensor_tick(context, alerts, kind="source_outage")


# --- drift-triggered retraining ---------------------------------------------------------------


def retrain_alert(run: dg.DagsterRun) -> Alert | None:
    """An info alert for a drift-triggered retrain; None for any other run."""
    if run.job_name != RETRAIN_JOB or DRIFT_TAG not in run.tags:
        return None
    partition = _partition_of(run.tags)
    details = {k: v for k, v in run.tags.items() if k.startswith("crypto_assets/")}
    return Alert(
        kind="retrain",
        severity="info",
        what=f"drift detected ({run.tags[DRIFT_TAG]}): retraining {partition or 'models'}",
        action="nothing required: the new model is used only if it scores better out of sample; "
        "the run and MLflow show the decision",
        partition=partition,
        run_id=run.run_id,
        job=run.job_name,
        details=details,
        key=f"retrain|{run.run_id}",
    )


@dg.run_status_sensor(
    name="retrain_alerts",
    run_status=dg.DagsterRunStatus.STARTED,
    monitor_all_code_locations=True,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Announces retrain_job runs that the drift sensors started (tag "
    "crypto_assets/drift).",
)
def retrain_alerts(context: dg.RunStatusSensorContext, alerts: AlertChannels) -> None:
    alert = retrain_alert(context.dagster_run)
    if alert is not None:
        context.log.info(summarize(alerts.send_all([alert])))


alert_sensors = [run_failure_alerts, asset_check_alerts, source_outage_alerts, retrain_alerts]
