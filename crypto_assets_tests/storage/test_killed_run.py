"""A killed run does not stay STARTED: a real run in a real process is SIGKILLed inside its
first step; the next command marks it FAILED (with the reason in its event log), and leaves a
run whose process still works alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg

from crypto_assets.run_monitor import mark_abandoned_runs, process_started_at
from crypto_assets.runner import PID_TAG, dagster_instance
from crypto_assets.settings import PROJECT_ROOT
from crypto_assets_tests.fixtures import cut_snapshot, isolated_settings


def _start(mode: str, root: Path, snapshot: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "crypto_assets_tests.storage.run_process"),
            *(mode, str(root), str(snapshot)),
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _holding(process: subprocess.Popen) -> None:
    """Wait until the run reached its first step and waits there."""
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "holding", process.stderr.read() if process.stderr else line


def _runs(instance: dg.DagsterInstance, status: dg.DagsterRunStatus) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(statuses=[status])))


def test_killed_runs_are_marked_failed_a_living_one_is_not(tmp_path: Path) -> None:
    """Both ways a run is known: a CLI run by its pid tag, a run of the daemon (untagged, here
    ``dg.materialize``) by the pid its worker logged."""
    snapshot = cut_snapshot(tmp_path / "snap", ["BTC/USDT"], "2024-05-30", "2024-06-04")
    settings = isolated_settings(tmp_path, source="snapshot", snapshot_dir=snapshot)
    instance = dagster_instance(settings)  # created once: three processes would race for it
    processes = {
        name: _start(name.split("-")[0], tmp_path, snapshot)
        for name in ("cli-killed", "plain-killed", "cli-alive")
    }
    try:
        for process in processes.values():
            _holding(process)
        assert len(_runs(instance, dg.DagsterRunStatus.STARTED)) == 3
        assert mark_abandoned_runs(instance) == []  # every process works: nothing to do
        killed = [processes["cli-killed"], processes["plain-killed"]]
        for process in killed:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            assert process_started_at(process.pid) is None
        assert len(_runs(instance, dg.DagsterRunStatus.STARTED)) == 3  # Dagster still believes
        lines = mark_abandoned_runs(instance)
        assert len(lines) == 2
        for process in killed:
            assert sum(f"by process {process.pid}, which no longer runs" in x for x in lines) == 1
        (still,) = _runs(instance, dg.DagsterRunStatus.STARTED)
        assert still.tags[PID_TAG] == str(processes["cli-alive"].pid)
        for run in _runs(instance, dg.DagsterRunStatus.FAILURE):
            events = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert "no longer exists (killed or crashed)" in events[0].message
        assert mark_abandoned_runs(instance) == []  # once is enough
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)
