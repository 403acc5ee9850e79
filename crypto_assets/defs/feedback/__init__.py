"""The feedback loop in Dagster: the outcome log, model health, feature drift, their checks, the
job and daily schedule that fill them, and the three drift sensors that ask ``retrain_job`` for a
retrain.

Resources it needs (``crypto_assets.definitions.build_resources``): ``settings``, ``duckdb``,
``io_manager``, ``mlflow_tracking`` and ``feedback_policy``; the sensors target the models
domain's ``retrain_job`` (partitioned by horizon).
"""

from __future__ import annotations

import dagster as dg

from crypto_assets.defs.feedback.drift import build_drift_asset
from crypto_assets.defs.feedback.health import build_health_asset
from crypto_assets.defs.feedback.outcomes import build_outcomes_asset
from crypto_assets.defs.feedback.sensors import drift_sensors
from crypto_assets.defs.partitions import Partitions
from crypto_assets.defs.pipeline import Scope, pipeline_job

FEEDBACK_ASSETS = ("prediction_outcomes", "model_health", "feature_drift")


def build_defs(partitions: Partitions) -> dg.Definitions:
    feedback_job = pipeline_job(
        "feedback_job",
        dg.AssetSelection.assets(*FEEDBACK_ASSETS),
        Scope.LATEST,
        "Predictions meet their outcomes; model health and feature drift of the models in use.",
        partitions_def=partitions.daily,
    )
    # after the labels refresh (00:40 UTC), so the outcomes of yesterday's passed horizons exist
    daily_feedback = dg.build_schedule_from_partitioned_job(
        feedback_job, hour_of_day=1, minute_of_hour=10, name="daily_feedback"
    )
    return dg.Definitions(
        assets=[
            build_outcomes_asset(partitions),
            build_health_asset(partitions),
            build_drift_asset(partitions),
        ],
        jobs=[feedback_job],
        schedules=[daily_feedback],
        sensors=drift_sensors,
    )
