"""Features domain in Dagster: technical features, labels, the feature table; the job that
computes them over a range of days, and the daily refresh of labels as horizons pass."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from crypto_assets.defs.features.assets import FEATURES_GROUP, build_assets
from crypto_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG, Partitions
from crypto_assets.defs.pipeline import Scope, UnresolvedAssetJobDefinition, pipeline_job
from crypto_assets.frames import utc
from crypto_assets.horizons import LABEL_REFRESH_DAYS


def _labels_refresh(labels_job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(job=labels_job, cron_schedule="40 0 * * *", execution_timezone="UTC")
    def labels_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """One run over the last LABEL_REFRESH_DAYS daily partitions (the longest horizon plus
        its exit candle, plus a day of margin), so each label lands once its horizon passed."""
        last = utc(context.scheduled_execution_time).normalize() - pd.Timedelta(days=1)
        first = last - pd.Timedelta(days=LABEL_REFRESH_DAYS - 1)
        return dg.RunRequest(
            run_key=f"labels-{last.date()}",
            tags={RANGE_START_TAG: str(first.date()), RANGE_END_TAG: str(last.date())},
        )

    return labels_refresh


def build_defs(partitions: Partitions) -> dg.Definitions:
    features_job = pipeline_job(
        "features_job",
        dg.AssetSelection.groups(FEATURES_GROUP),
        Scope.RANGE,
        "Technical features, labels and the feature table for a range of days.",
        partitions_def=partitions.daily,
    )
    labels_job = dg.define_asset_job(
        "labels_job",
        selection=dg.AssetSelection.assets("labels"),
        partitions_def=partitions.daily,
        description=f"Realised outcomes: refreshes the labels of the last {LABEL_REFRESH_DAYS} "
        "days as horizons pass.",
    )
    return dg.Definitions(
        assets=build_assets(partitions),
        jobs=[features_job, labels_job],
        schedules=[_labels_refresh(labels_job)],
    )
