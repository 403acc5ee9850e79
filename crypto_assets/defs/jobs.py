"""Jobs, schedules and sensors: the background work that keeps the assets fresh."""

from __future__ import annotations

import dagster as dg

from crypto_assets.defs.partitions import daily_partitions

market_job = dg.define_asset_job(
    "market_job",
    selection=dg.AssetSelection.groups("market"),
    partitions_def=daily_partitions,
    description="Universe, candles and sanitation for one day (or a range, in one run).",
)

market_daily_schedule = dg.build_schedule_from_partitioned_job(
    market_job, hour_of_day=0, minute_of_hour=10, name="market_daily"
)

jobs = [market_job]
schedules = [market_daily_schedule]
sensors: list = []
