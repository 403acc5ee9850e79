"""Model health logged to MLflow against the model version in use.

One MLflow run per registered version ("health <model> v<version>" in the feedback experiment),
found again by its tags on later days, so each version's live record reads as one set of
curves: ``live_rank_ic``, ``live_ece``, ... with step = the measured day (days since 1970) and
that day as the timestamp. The version's registry entry gets a ``feedback_health_run`` tag
pointing at the run, and each day's reliability curve is kept as an artifact.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from crypto_assets.frames import finite_floats

LIVE_METRICS = (
    "rank_ic",
    "hit_rate",
    "ece",
    "brier",
    "top_decile_return",
    "equal_weight_return",
    "n_outcomes",
    "n_dates",
    "user_verdicts",
    "user_good_share",
)


def health_run_id(client: MlflowClient, experiment_id: str, name: str, version: str) -> str:
    """The health run of one registered version (created on its first measured day)."""
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.model_name = '{name}' and tags.model_version = '{version}'",
        max_results=1,
    )
    if found:
        return found[0].info.run_id
    run = client.create_run(
        experiment_id,
        run_name=f"health {name} v{version}",
        tags={
            "model_name": name,
            "model_version": str(version),
            "mlflow.note.content": "Live health of this model version from realised outcomes "
            "(crypto_assets feedback loop).",
        },
    )
    client.set_model_version_tag(name, str(version), "feedback_health_run", run.info.run_id)
    return run.info.run_id


def log_health(
    experiment_id: str,
    name: str,
    version: str,
    health: dict,
    day: pd.Timestamp,
    reliability_png: bytes | None = None,
) -> str:
    """Log one day's health figures (the finite ones) to the version's health run."""
    client = MlflowClient()
    run_id = health_run_id(client, experiment_id, name, version)
    day = pd.Timestamp(day)
    step = int((day.normalize() - pd.Timestamp("1970-01-01", tz=day.tz)).days)
    stamp = int(day.timestamp() * 1000)
    values = finite_floats({key: health.get(key) for key in LIVE_METRICS})
    metrics = [Metric(f"live_{key}", value, stamp, step) for key, value in values.items()]
    client.log_batch(run_id, metrics=metrics)
    client.set_tag(run_id, "last_status", str(health.get("status")))
    if reliability_png:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"reliability_{day.date()}.png"
            path.write_bytes(reliability_png)
            client.log_artifact(run_id, str(path), artifact_path="reliability")
    client.set_terminated(run_id)  # FINISHED between days; logging to it again stays allowed
    return run_id
