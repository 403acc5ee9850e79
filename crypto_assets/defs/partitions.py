"""Partition definitions shared by every daily asset (one place, so mappings line up)."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from crypto_assets.horizons import HORIZON_NAMES
from crypto_assets.settings import get_settings

# end_offset=0: the newest partition is yesterday, the last complete UTC day, so a candle that
# is still forming is never part of a materialized partition.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=get_settings().history_start, end_offset=0, timezone="UTC"
)
horizon_partitions = dg.StaticPartitionsDefinition(HORIZON_NAMES)


def partition_days(window: dg.TimeWindow) -> list[pd.Timestamp]:
    """The UTC days a (possibly multi-day, single-run) partition window covers."""
    return list(pd.date_range(window.start, window.end, freq="D", inclusive="left", tz="UTC"))
