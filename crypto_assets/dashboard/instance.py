"""Run activity, failed runs and failed asset checks, read from the Dagster instance.

Only read methods of Dagster's instance API are called (runs, run events, the latest check
evaluation per check), so the same code reads the SQLite instance of ``make dev`` and a
Postgres one of a deployment, and the dashboard never changes what the pipeline records. An
instance that does not exist yet (no ``dagster.yaml`` and no run history) is not created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from dagster._core.events import DagsterEventType

from crypto_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from crypto_assets.defs.pipeline import PROFILE_TAG


def open_instance(dagster_home: Path) -> dg.DagsterInstance | None:
    """The instance in ``dagster_home``, or None when nothing was ever run there."""
    home = Path(dagster_home)
    if not (home / "dagster.yaml").is_file() and not (home / "history").is_dir():
        return None
    return dg.DagsterInstance.from_config(str(home))


def _time(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return f"{pd.Timestamp(stamp, unit='s', tz='UTC'):%Y-%m-%d %H:%M:%S}"


def _error(instance: dg.DagsterInstance, run_id: str) -> str:
    """The first step failure of a run in one line (or the run failure's message)."""
    for kind in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE):
        for entry in instance.all_logs(run_id, of_type=kind):
            event = entry.dagster_event
            data = getattr(event, "step_failure_data", None) if event else None
            if data is not None and data.error is not None:
                cause = data.error.cause or data.error
                return f"{event.step_key}: {' '.join(cause.message.split())[:300]}"
            if entry.message:
                return " ".join(entry.message.split())[:300]
    return "failed (no error message recorded)"


def _partitions(tags: dict[str, str]) -> str:
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    if RANGE_START_TAG in tags:
        return f"{tags[RANGE_START_TAG]}..{tags.get(RANGE_END_TAG, '')}"
    return "-"


def runs(instance: dg.DagsterInstance, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs: job, status, start, duration, profile, partition, and the error of a
    failed run."""
    rows = []
    for record in instance.get_run_records(limit=limit):
        run = record.dagster_run
        tags = run.tags or {}
        started, ended = record.start_time, record.end_time
        rows.append(
            {
                "run_id": run.run_id[:8],
                "job": run.job_name,
                "status": run.status.value,
                "started": _time(started),
                "seconds": round(ended - started, 1) if started and ended else None,
                "profile": tags.get(PROFILE_TAG, "-"),
                "partition": _partitions(tags),
                "error": _error(instance, run.run_id)
                if run.status == dg.DagsterRunStatus.FAILURE
                else "",
            }
        )
    return rows


def failed_checks(
    instance: dg.DagsterInstance, check_keys: list[dg.AssetCheckKey]
) -> list[dict[str, Any]]:
    """Checks whose latest completed evaluation failed, with severity and description."""
    if not check_keys:
        return []
    summaries = instance.event_log_storage.get_asset_check_summary_records(check_keys)
    rows = []
    for key in check_keys:
        summary = summaries.get(key)
        record = summary.last_completed_check_execution_record if summary else None
        evaluation = record.evaluation if record is not None else None
        if evaluation is None or evaluation.passed:
            continue
        rows.append(
            {
                "asset": key.asset_key.to_user_string(),
                "check": key.name,
                "severity": evaluation.severity.value,
                "description": evaluation.description or "",
                "partition": record.partition or "-",
                "when": _time(record.create_timestamp),
                "run_id": record.run_id[:8],
            }
        )
    return sorted(rows, key=lambda r: (r["severity"] != "ERROR", r["asset"], r["check"]))
