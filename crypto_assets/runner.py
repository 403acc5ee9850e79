"""Runs the asset graph end to end on a persistent Dagster instance, so that what ``make run`` /
``make demo`` materialize is what ``make dev``'s UI shows. The CLI calls this; nothing here
re-implements an asset."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd

from crypto_assets.defs.jobs import RANGE_END_TAG, RANGE_START_TAG
from crypto_assets.horizons import HORIZON_NAMES
from crypto_assets.settings import PROJECT_ROOT, Settings

QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


class PipelineError(RuntimeError):
    """A run that failed, with the step and its error in one line."""


def dagster_instance() -> dg.DagsterInstance:
    """The persistent instance under DAGSTER_HOME (default: ``.dagster_home`` in the project)."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    project_config = PROJECT_ROOT / "dagster.yaml"
    if not config.exists() and project_config.exists():
        config.write_text(project_config.read_text())
    return dg.DagsterInstance.get()


def _raise_on_failure(result: dg.ExecuteInProcessResult, what: str) -> None:
    if result.success:
        return
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            cause = error.cause or error
            raise PipelineError(f"{what}: step {event.step_key} failed: {cause.message.strip()}")
    raise PipelineError(f"{what}: run failed")


def _selection(selection: str | dg.AssetSelection) -> str | dg.AssetSelection:
    """ "group:x" passes through; "a b c" means those assets."""
    if isinstance(selection, str) and " " in selection.strip():
        return dg.AssetSelection.assets(*selection.split())
    return selection


def _materialize(
    defs: dg.Definitions,
    selection: str | dg.AssetSelection,
    instance: dg.DagsterInstance,
    what: str,
    run_config: dict | None,
    **partition: object,
) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        list(defs.assets or []),
        selection=_selection(selection),
        resources=defs.resources,
        instance=instance,
        run_config={**QUIET_LOGGERS, **(run_config or {})},
        raise_on_error=False,
        **partition,
    )
    _raise_on_failure(result, f"{selection} {what}")
    return result


def materialize_range(
    defs: dg.Definitions,
    selection: str | dg.AssetSelection,
    first_day: str,
    last_day: str,
    instance: dg.DagsterInstance,
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """One run over a range of daily partitions (assets with a single-run backfill policy)."""
    tags = {RANGE_START_TAG: first_day, RANGE_END_TAG: last_day}
    return _materialize(
        defs, selection, instance, f"{first_day}..{last_day}", run_config, tags=tags
    )


def materialize_partition(
    defs: dg.Definitions,
    selection: str | dg.AssetSelection,
    partition_key: str | None,
    instance: dg.DagsterInstance,
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of one partition (or of unpartitioned assets when ``partition_key`` is None)."""
    return _materialize(
        defs, selection, instance, f"[{partition_key}]", run_config, partition_key=partition_key
    )


def run_pipeline(
    settings: Settings,
    first_day: pd.Timestamp,
    last_day: pd.Timestamp,
    progress: Callable[[str], None] = print,
    instance: dg.DagsterInstance | None = None,
    universe_config: dict | None = None,
    with_sentiment: bool = True,
) -> None:
    """Materialize the graph for days ``first_day..last_day`` (inclusive) in dependency order."""
    from crypto_assets.definitions import build_definitions

    defs = build_definitions(settings)
    instance = instance or dagster_instance()
    first, last = first_day.strftime("%Y-%m-%d"), last_day.strftime("%Y-%m-%d")
    run_config = (
        {"ops": {"kraken_markets": {"config": universe_config}}} if universe_config else None
    )
    progress(f"market data {first}..{last} (universe, candles, sanitation)")
    materialize_range(defs, "group:market", first, last, instance, run_config=run_config)
    if with_sentiment:
        from crypto_assets.ml import registry
        from crypto_assets.sentiment.tracking import MODEL_NAME

        registry.configure_tracking(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
        in_use = registry.champion_version(MODEL_NAME)
        if in_use is None:  # first run: fine-tune once; later runs reuse the model in use
            progress("sentiment scorer: fine-tune, evaluate, register (first run only)")
            materialize_partition(defs, "sentiment_model text_sentiment", None, instance)
        else:
            progress(f"scoring texts with sentiment model v{in_use}")
            materialize_partition(defs, "text_sentiment", None, instance)
    progress("features and labels")
    materialize_range(defs, "technical_features labels feature_table", first, last, instance)
    for horizon in HORIZON_NAMES:
        progress(f"model {horizon} (walk-forward evaluation, MLflow, registry)")
        materialize_partition(defs, "models", horizon, instance)
    progress(f"predictions and top coins for {last}")
    materialize_partition(defs, "predictions top_coins", last, instance)
