"""Partition definitions shared by every daily asset (one place, so mappings line up)."""

from __future__ import annotations

import dagster as dg

from crypto_assets.horizons import HORIZON_NAMES
from crypto_assets.settings import get_settings

# end_offset=0: the newest partition is yesterday, the last complete UTC day, so a candle that
# is still forming is never part of a materialized partition.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=get_settings().history_start, end_offset=0, timezone="UTC"
)
horizon_partitions = dg.StaticPartitionsDefinition(HORIZON_NAMES)
