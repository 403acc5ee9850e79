"""Runs whose process died: marked FAILED instead of staying STARTED forever.

A run killed mid-way (SIGKILL, an out-of-memory kill, a closed terminal, a crashed ``dagster
dev``) never writes its end, so the Dagster instance shows it STARTED for ever and a queue with
a concurrency limit may wait on it. Dagster's own run monitoring (``run_monitoring`` in
dagster.yaml, done by the daemon of ``make dev``) fails runs that do not start in time or
outlive ``max_runtime_seconds``, but with the default run launcher it cannot see that a run's
process is gone, and CLI runs are not launched by a launcher at all. So every ``crypto-assets
run`` / ``demo`` first looks at the STARTED runs of the instance and marks failed those whose
process no longer exists:

- a CLI run carries the tags ``crypto_assets/pid`` and ``crypto_assets/host``
  (``crypto_assets.runner``): checked when the host is this machine;
- any other run of a local (SQLite) instance: the pid its run worker logged when it started
  ("Executing steps ... (pid: N)"), since such an instance only runs on this machine.

A pid counts as alive only if that process started before the run was created (a recycled pid
belongs to another process). Runs elsewhere (a Postgres instance shared by machines, without
our tags for this host) are left to Dagster's run monitoring.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage

from crypto_assets.runner import HOST_TAG, PID_TAG

STILL_RUNNING = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]


def process_started_at(pid: int) -> float | None:
    """When process ``pid`` started (UNIX time), or None when no such process exists; 0.0 when
    it exists but its start is unknown (no /proc)."""
    stat = Path(f"/proc/{pid}/stat")
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return 0.0
        return 0.0
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    if fields[0] == "Z":  # a zombie has exited: only its parent has not reaped it yet
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid the run's worker logged when it started executing steps."""
    for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = event.dagster_event.engine_event_data if event.dagster_event else None
        pid = (data.metadata or {}).get("pid") if data else None
        if pid is not None:
            return int(getattr(pid, "value", pid))
    return None


def _run_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    tags = run.tags
    if PID_TAG in tags:
        return int(tags[PID_TAG]) if tags.get(HOST_TAG) == socket.gethostname() else None
    if isinstance(instance.run_storage, SqliteRunStorage):
        return _worker_pid(instance, run.run_id)
    return None


def mark_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark FAILED every STARTED run of this machine whose process is gone; one line each."""
    lines = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=STILL_RUNNING)):
        run = record.dagster_run
        pid = _run_pid(instance, run)
        if pid is None or pid == os.getpid():
            continue
        started = process_started_at(pid)
        if started is not None and started <= record.create_timestamp.timestamp() + 1.0:
            continue  # the run's own process, still working
        message = (
            f"process {pid}, which ran this run, no longer exists (killed or crashed): "
            "marked failed by crypto-assets"
        )
        instance.report_run_failed(run, message)
        lines.append(
            f"run {run.run_id} ({run.job_name}) was left {run.status.value} by process {pid}, "
            "which no longer runs: marked FAILED"
        )
    return lines
