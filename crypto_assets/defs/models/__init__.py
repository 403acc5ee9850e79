"""Models domain in Dagster: the per-horizon signal models, their retrain job and the monthly
retraining schedule."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from crypto_assets.defs.models.assets import MODELS_GROUP, build_assets
from crypto_assets.defs.partitions import Partitions
from crypto_assets.defs.pipeline import Scope, UnresolvedAssetJobDefinition, pipeline_job
from crypto_assets.horizons import HORIZON_NAMES


def _monthly_retrain(retrain_job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(job=retrain_job, cron_schedule="0 3 1 * *", execution_timezone="UTC")
    def monthly_retrain(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        """Periodic retraining of every horizon; a retrain that scores worse leaves the model in
        use unchanged (no drift-triggered retraining yet)."""
        stamp = pd.Timestamp(context.scheduled_execution_time).strftime("%Y-%m")
        return [
            dg.RunRequest(run_key=f"retrain-{stamp}-{h}", partition_key=h) for h in HORIZON_NAMES
        ]

    return monthly_retrain


def build_defs(partitions: Partitions) -> dg.Definitions:
    retrain_job = pipeline_job(
        "retrain_job",
        dg.AssetSelection.groups(MODELS_GROUP),
        Scope.EACH_PARTITION,
        "Retrains one horizon's models; the registry alias moves only if it is better.",
        partitions_def=partitions.horizons,
    )
    return dg.Definitions(
        assets=build_assets(partitions),
        jobs=[retrain_job],
        schedules=[_monthly_retrain(retrain_job)],
    )
