"""Predictions domain in Dagster: predictions and the top list, the job that produces today's
answer, and the daily job + schedule that runs the whole daily chain (market data -> features
-> predictions -> top list) for the day that just ended."""

from __future__ import annotations

import dagster as dg

from crypto_assets.defs.partitions import Partitions
from crypto_assets.defs.pipeline import Scope, pipeline_job
from crypto_assets.defs.predictions.assets import PREDICTIONS_GROUP, build_assets


def build_defs(partitions: Partitions) -> dg.Definitions:
    predictions_job = pipeline_job(
        "predictions_job",
        dg.AssetSelection.groups(PREDICTIONS_GROUP),
        Scope.LATEST,
        "Batch inference with the models in use and the top list, for the latest day.",
        partitions_def=partitions.daily,
    )
    daily_signals_job = dg.define_asset_job(
        "daily_signals_job",
        selection=dg.AssetSelection.groups("market", PREDICTIONS_GROUP)
        | dg.AssetSelection.assets("technical_features", "feature_table"),
        partitions_def=partitions.daily,
        description="Universe, candles, sanitation, features, batch inference and the top list "
        "for one day (or a range, in one run).",
    )
    daily_signals = dg.build_schedule_from_partitioned_job(
        daily_signals_job, hour_of_day=0, minute_of_hour=10, name="daily_signals"
    )
    return dg.Definitions(
        assets=build_assets(partitions),
        jobs=[predictions_job, daily_signals_job],
        schedules=[daily_signals],
    )
