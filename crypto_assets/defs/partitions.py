"""Partition definitions shared by every partitioned asset, built once from settings.

One ``Partitions`` object per code location, so that every asset, job and schedule of every
domain uses the very same definitions (partition mappings line up). Domains receive it in their
``build_defs(partitions)``; nothing reads settings at import.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import pandas as pd

from crypto_assets.horizons import HORIZON_NAMES
from crypto_assets.market.snapshot import snapshot_day_range
from crypto_assets.settings import Settings

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class Partitions:
    daily: dg.DailyPartitionsDefinition  # one UTC day; "daily_partitions" in the brief
    horizons: dg.StaticPartitionsDefinition  # one per prediction horizon (1h, 24h, 7d, 30d)


def build_partitions(settings: Settings) -> Partitions:
    """Daily partitions from ``history_start`` to the last complete day of the data.

    Live: the newest partition is yesterday (``end_offset=0``), the last complete UTC day, so a
    candle that is still forming is never part of a materialized partition. Snapshot: the
    partitions span exactly the days the snapshot covers, so the UI never offers (or defaults
    to) days without data.
    """
    if settings.source == "snapshot":
        first, last = snapshot_day_range(settings.snapshot_dir, settings.history_start)
        if last < first:
            raise ValueError(
                f"snapshot {settings.snapshot_dir} has no complete day on or after "
                f"history_start {settings.history_start}"
            )
        daily = dg.DailyPartitionsDefinition(
            start_date=first.strftime("%Y-%m-%d"),
            end_date=(last + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),  # exclusive
            timezone="UTC",
        )
    else:
        daily = dg.DailyPartitionsDefinition(
            start_date=settings.history_start, end_offset=0, timezone="UTC"
        )
    return Partitions(daily=daily, horizons=dg.StaticPartitionsDefinition(HORIZON_NAMES))


def partition_days(window: dg.TimeWindow) -> list[pd.Timestamp]:
    """The UTC days a (possibly multi-day, single-run) partition window covers."""
    return list(pd.date_range(window.start, window.end, freq="D", inclusive="left", tz="UTC"))
