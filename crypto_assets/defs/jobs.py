"""Jobs, schedules and sensors: the background work that keeps the assets fresh."""

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import daily_partitions, horizon_partitions
from crypto_assets.horizons import HORIZON_NAMES

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
LABEL_REFRESH_DAYS = 32

daily_signals_job = dg.define_asset_job(
    "daily_signals_job",
    selection=dg.AssetSelection.groups("market")
    | dg.AssetSelection.assets("technical_features", "feature_table", "predictions", "top_coins"),
    partitions_def=daily_partitions,
    description="Universe, candles, sanitation, features, batch inference and the top list for "
    "one day (or a range, in one run).",
)

labels_job = dg.define_asset_job(
    "labels_job",
    selection=dg.AssetSelection.assets("labels"),
    partitions_def=daily_partitions,
    description="Realised outcomes: refreshes the labels of the last 32 days as horizons pass.",
)

retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.assets("models"),
    partitions_def=horizon_partitions,
    description="Retrains one horizon's models; the registry alias moves only if it is better.",
)

daily_signals_schedule = dg.build_schedule_from_partitioned_job(
    daily_signals_job, hour_of_day=0, minute_of_hour=10, name="daily_signals"
)


@dg.schedule(job=labels_job, cron_schedule="40 0 * * *", execution_timezone="UTC")
def labels_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """One run over the last 32 daily partitions, so each label lands once its horizon passed."""
    end = pd.Timestamp(context.scheduled_execution_time).tz_convert("UTC").normalize()
    last = end - pd.Timedelta(days=1)
    first = last - pd.Timedelta(days=LABEL_REFRESH_DAYS - 1)
    return dg.RunRequest(
        run_key=f"labels-{last.date()}",
        tags={RANGE_START_TAG: str(first.date()), RANGE_END_TAG: str(last.date())},
    )


@dg.schedule(job=retrain_job, cron_schedule="0 3 1 * *", execution_timezone="UTC")
def monthly_retrain(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """Periodic retraining of every horizon (drift-triggered retraining comes with the feedback
    loop); a retrain that scores worse leaves the model in use unchanged."""
    stamp = pd.Timestamp(context.scheduled_execution_time).strftime("%Y-%m")
    return [dg.RunRequest(run_key=f"retrain-{stamp}-{h}", partition_key=h) for h in HORIZON_NAMES]


jobs = [daily_signals_job, labels_job, retrain_job]
schedules = [daily_signals_schedule, labels_refresh, monthly_retrain]
sensors: list = []
