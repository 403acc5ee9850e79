"""Market domain in Dagster: universe, raw candles, sanitised candles, and the job that runs
them over a range of days."""

from __future__ import annotations

import dagster as dg

from crypto_assets.defs.market.assets import MARKET_GROUP, build_assets
from crypto_assets.defs.partitions import Partitions
from crypto_assets.defs.pipeline import Scope, pipeline_job


def build_defs(partitions: Partitions) -> dg.Definitions:
    market_job = pipeline_job(
        "market_job",
        dg.AssetSelection.groups(MARKET_GROUP),
        Scope.RANGE,
        "Market list, raw candles (incremental) and sanitised candles for a range of days.",
        partitions_def=partitions.daily,
    )
    return dg.Definitions(assets=build_assets(partitions), jobs=[market_job])
