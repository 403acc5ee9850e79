"""Runs the asset graph end to end through its defined jobs on a persistent Dagster instance, so
that what ``make run`` / ``make demo`` materialize is what ``make dev``'s UI shows, each run
under its job's name and tagged with the profile. The CLI calls this; nothing here
re-implements an asset, and the steps are read from the job definitions (``defs/pipeline.py``).
"""

from __future__ import annotations

import graphlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from crypto_assets.defs.pipeline import PIPELINE_SCOPE, PROFILE_TAG, Scope
from crypto_assets.settings import PROJECT_ROOT, Settings

QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


class PipelineError(RuntimeError):
    """A run that failed, with the step and its error in one line."""


def dagster_instance(settings: Settings) -> dg.DagsterInstance:
    """The persistent instance in ``settings.dagster_home`` (``DAGSTER_HOME``; default
    ``.dagster_home`` in the project), created with the project's dagster.yaml if new."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    project_config = PROJECT_ROOT / "dagster.yaml"
    if not config.exists() and project_config.exists():
        config.write_text(project_config.read_text())
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


def _raise_on_failure(result: dg.ExecuteInProcessResult, what: str) -> None:
    if result.success:
        return
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            cause = error.cause or error
            raise PipelineError(f"{what}: step {event.step_key} failed: {cause.message.strip()}")
    raise PipelineError(f"{what}: run failed")


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
) -> dg.ExecuteInProcessResult:
    """One run of a defined job (one partition, a range of daily partitions in a single run, or
    unpartitioned), named by the job and tagged with the profile; ``assets`` runs only those of
    the job's assets. Raises PipelineError."""
    tags = {PROFILE_TAG: profile}
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
) -> list[tuple[Step, float]]:
    """Run every pipeline job for days ``first_day..last_day`` (inclusive) in dependency order;
    returns each step with its wall time in seconds. ``run_config`` may hold config for any
    asset (applied where run); ``on_plan`` sees the steps before the first runs (e.g. to size a
    progress bar)."""
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
        run_job(defs, step.job, instance, run_config=config, **kwargs)
        timings.append((step, time.perf_counter() - started))
    return timings
