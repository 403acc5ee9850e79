"""Runs the asset graph end to end through its defined jobs on a persistent Dagster instance, so
that what ``make run`` / ``make demo`` materialize is what ``make dev``'s UI shows, each run
under its job's name and tagged with the profile. The CLI calls this; nothing here
re-implements an asset, and the steps are read from the job definitions (``defs/pipeline.py``).
"""

from __future__ import annotations

import graphlib
import os
import re
import socket
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import yaml

from crypto_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from crypto_assets.defs.pipeline import PIPELINE_SCOPE, PROFILE_TAG, Scope
from crypto_assets.settings import PROJECT_ROOT, Settings

# Nothing of a run goes to the console: its events go to the instance's event log and the JSON
# log file (``json_log_path``); a failure reaches the user as one PipelineError line.
QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# Which process runs a CLI run: lets a later command tell a run whose process died
# (``crypto_assets.run_monitor``) from one still running.
PID_TAG = "crypto_assets/pid"
HOST_TAG = "crypto_assets/host"
JSON_LOG = Path("logs") / "crypto_assets.jsonl"
_RESOURCE = re.compile(r"ResourceDefinition (\w+)")


class PipelineError(RuntimeError):
    """A run that failed: the step (or resource) and its error in one line; ``run_id`` and
    ``result`` (what the run did before it failed, e.g. its checks) when a run took place."""

    def __init__(
        self,
        message: str,
        run_id: str | None = None,
        result: dg.ExecuteInProcessResult | None = None,
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.result = result


def json_log_path(settings: Settings) -> Path:
    """The JSON log file of runs in the settings' Dagster instance (``crypto_assets.logs``)."""
    return settings.dagster_home / JSON_LOG


def dagster_instance(settings: Settings) -> dg.DagsterInstance:
    """The persistent instance in ``settings.dagster_home`` (``DAGSTER_HOME``; default
    ``.dagster_home`` in the project), created with the project's dagster.yaml if new (its JSON
    log file then pinned inside that folder, whatever the environment says)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    project_config = PROJECT_ROOT / "dagster.yaml"
    if not config.exists() and project_config.exists():
        loaded = yaml.safe_load(project_config.read_text())
        handlers = loaded.get("python_logs", {}).get("dagster_handler_config", {}).get("handlers")
        if handlers and "jsonFile" in handlers:
            handlers["jsonFile"]["filename"] = str(home / JSON_LOG)
        config.write_text(yaml.safe_dump(loaded, sort_keys=False))
    return dg.DagsterInstance.from_config(str(home))


@dataclass(frozen=True)
class Step:
    """One run of a pipeline job: all of its partitions in a range, one key, or unpartitioned."""

    job: str
    scope: Scope
    description: str
    partition_key: str | None = None  # for Scope.EACH_PARTITION

    def partitions(self, first: str, last: str) -> str:
        """The partitions this step runs, for people ("-" when unpartitioned)."""
        return {
            Scope.RANGE: f"{first}..{last}",
            Scope.LATEST: last,
            Scope.EACH_PARTITION: self.partition_key or "-",
            Scope.ONCE: "-",
        }[self.scope]

    def label(self, first: str, last: str) -> str:
        where = self.partitions(first, last)
        return f"{self.job}{f' [{where}]' if where != '-' else ''}: {self.description}"


def pipeline_steps(defs: dg.Definitions, skip: Collection[str] = ()) -> list[Step]:
    """The pipeline jobs of ``defs`` in dependency order, one step per run they need.

    A job runs after every job that holds an ancestor of one of its assets (read from the asset
    graph), so a new domain's job lands in the right place without an edit here."""
    repository = defs.get_repository_def()
    graph = defs.resolve_asset_graph()
    jobs = {
        job.name: job
        for job in repository.get_all_jobs()
        if PIPELINE_SCOPE in job.metadata and job.name not in skip
    }
    keys = {name: set(job.asset_layer.selected_asset_keys) for name, job in jobs.items()}
    sorter: graphlib.TopologicalSorter = graphlib.TopologicalSorter()
    for name, own in keys.items():
        ancestors = set().union(*(graph.get_ancestor_asset_keys(k) for k in own)) - own
        sorter.add(name, *(other for other, theirs in keys.items() if ancestors & theirs))
    steps: list[Step] = []
    for name in sorter.static_order():
        job = jobs[name]
        scope = Scope(job.metadata[PIPELINE_SCOPE].value)
        description = job.description or name
        if scope is Scope.EACH_PARTITION:
            partition_keys = job.partitions_def.get_partition_keys() if job.partitions_def else []
            steps += [Step(name, scope, description, key) for key in partition_keys]
        else:
            steps.append(Step(name, scope, description))
    return steps


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def failure_cause(result: dg.ExecuteInProcessResult) -> str:
    """Why a run failed, in one line: the failed step and its error, or the resource that
    failed to start and why, or the run's own failure message."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            cause = error.cause or error
            return f"step {event.step_key} failed: {_first_line(cause.message)}"
    for event in result.all_events:
        data = event.event_specific_data
        error = getattr(data, "error", None)
        if event.is_run_failure and error is not None:
            resource = _RESOURCE.search(error.message)
            cause = _first_line((error.cause or error).message)
            if resource:
                return f"resource {resource[1]!r} failed to start: {cause}"
            return f"run failed: {cause}"
    return "run failed (no error recorded)"


def _raise_on_failure(result: dg.ExecuteInProcessResult, what: str) -> None:
    if not result.success:
        raise PipelineError(f"{what}: {failure_cause(result)}", result.run_id, result)


@dataclass(frozen=True)
class Finding:
    """A failed asset check of a run that completed: excluded coins, pairs that failed to
    fetch, revisions kept as stored, missing history, a model without skill... what a user must
    hear although nothing crashed (the CLI prints each and exits 3)."""

    job: str
    run_id: str
    asset: str
    check: str
    severity: str  # "WARN" or "ERROR" (Dagster's check severities)
    description: str
    partition: str | None = None  # set when the check judged one partition (e.g. a horizon)

    def line(self, limit: int = 400) -> str:
        text = " ".join(self.description.split()) or "failed"
        text = text if len(text) <= limit else text[: limit - 3] + "..."
        where = f" [{self.partition}]" if self.partition else ""
        return f"{self.severity} {self.asset}{where} / {self.check}: {text}"


def check_findings(result: dg.ExecuteInProcessResult, job: str) -> list[Finding]:
    """Every failed asset check of a run (passed ones say nothing)."""
    findings = []
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            continue
        findings.append(
            Finding(
                job=job,
                run_id=result.run_id,
                asset=evaluation.asset_key.to_user_string(),
                check=evaluation.check_name,
                severity=str(evaluation.severity.value),
                description=evaluation.description or "",
                partition=evaluation.partition,
            )
        )
    return findings


def run_job(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    *,
    profile: str,
    partition_key: str | None = None,
    day_range: tuple[str, str] | None = None,
    run_config: dict | None = None,
    assets: list[str] | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of a defined job (one partition, a range of daily partitions in a single run, or
    unpartitioned), named by the job and tagged with the profile; ``assets`` runs only those of
    the job's assets; ``tags`` are added to the run's (e.g. a sensor's run request). Raises
    PipelineError."""
    tags = {
        **(tags or {}),
        PROFILE_TAG: profile,
        PID_TAG: str(os.getpid()),
        HOST_TAG: socket.gethostname(),
    }
    if day_range is not None:
        tags |= {RANGE_START_TAG: day_range[0], RANGE_END_TAG: day_range[1]}
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        run_config={**QUIET_LOGGERS, **(run_config or {})},
        instance=instance,
        partition_key=partition_key,
        tags=tags,
        raise_on_error=False,
        asset_selection=[dg.AssetKey(a) for a in assets] if assets else None,
    )
    where = partition_key or (f"{day_range[0]}..{day_range[1]}" if day_range else "")
    _raise_on_failure(result, f"{job_name} {where}".strip())
    return result


def _step_config(defs: dg.Definitions, job_name: str, run_config: dict | None) -> dict | None:
    """The part of ``run_config`` whose ops this job runs (a job rejects config for others)."""
    if not run_config:
        return None
    job = defs.resolve_job_def(job_name)
    names = {key.path[-1] for key in job.asset_layer.selected_asset_keys}
    ops = {k: v for k, v in run_config.get("ops", {}).items() if k in names}
    return {"ops": ops} if ops else None


def run_pipeline(
    settings: Settings,
    first_day: pd.Timestamp,
    last_day: pd.Timestamp,
    progress: Callable[[str], None] = print,
    instance: dg.DagsterInstance | None = None,
    run_config: dict | None = None,
    skip_jobs: Collection[str] = (),
    on_plan: Callable[[list[Step]], None] | None = None,
    on_result: Callable[[Step, dg.ExecuteInProcessResult], None] | None = None,
) -> list[tuple[Step, float]]:
    """Run every pipeline job for days ``first_day..last_day`` (inclusive) in dependency order;
    returns each step with its wall time in seconds. ``run_config`` may hold config for any
    asset (applied where run); ``on_plan`` sees the steps before the first runs (e.g. to size a
    progress bar); ``on_result`` sees each successful run's result (e.g. to collect its failed
    checks; a failed run's result rides on the PipelineError)."""
    from crypto_assets.definitions import build_definitions

    defs = build_definitions(settings)
    instance = instance or dagster_instance(settings)
    first, last = first_day.strftime("%Y-%m-%d"), last_day.strftime("%Y-%m-%d")
    steps = pipeline_steps(defs, skip=skip_jobs)
    if on_plan is not None:
        on_plan(steps)
    timings = []
    for step in steps:
        started = time.perf_counter()
        progress(step.label(first, last))
        kwargs: dict = {"profile": settings.profile}
        if step.scope is Scope.RANGE:
            kwargs["day_range"] = (first, last)
        elif step.scope is Scope.LATEST:
            kwargs["partition_key"] = last
        elif step.scope is Scope.EACH_PARTITION:
            kwargs["partition_key"] = step.partition_key
        config = _step_config(defs, step.job, run_config)
        result = run_job(defs, step.job, instance, run_config=config, **kwargs)
        if on_result is not None:
            on_result(step, result)
        timings.append((step, time.perf_counter() - started))
    return timings
