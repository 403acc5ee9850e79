"""The on-chain domain's Dagster layer: coin contracts, whale transfers, exchange flows, holder
concentration, network activity and the coverage report, on the project's daily partitions,
and the job that runs them in every whole-graph run (``crypto-assets run`` / ``demo``).

No resources here: ``crypto_assets.definitions.build_resources`` adds
``crypto_assets.resources.onchain.build_onchain_resources(settings)`` (live clients or replays
of the recorded real files) beside ``duckdb`` and ``io_manager``."""

from __future__ import annotations

import dagster as dg

from crypto_assets.defs.onchain.activity import build_activity_assets
from crypto_assets.defs.onchain.assets import ONCHAIN_GROUP, build_onchain_assets
from crypto_assets.defs.partitions import Partitions
from crypto_assets.defs.pipeline import Scope, pipeline_job


def build_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """Every on-chain asset on the code location's daily partitions."""
    return [
        *build_onchain_assets(partitions.daily),
        *build_activity_assets(partitions.daily),
    ]


def build_defs(partitions: Partitions) -> dg.Definitions:
    onchain_job = pipeline_job(
        "onchain_job",
        dg.AssetSelection.groups(ONCHAIN_GROUP),
        Scope.RANGE,
        "On-chain data for a range of days: coin contracts, whale transfers, exchange flows, "
        "holder concentration, network activity and coverage (status rows where a source has "
        "no key or no recording).",
        partitions_def=partitions.daily,
    )
    return dg.Definitions(assets=build_assets(partitions), jobs=[onchain_job])
