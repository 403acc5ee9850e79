"""The on-chain domain's Dagster layer: coin contracts, whale transfers, exchange flows, holder
concentration, network activity and the coverage report, on the project's daily partitions.

``defs`` carries no resources: ``crypto_assets.definitions`` merges it with
``crypto_assets.resources.onchain.build_onchain_resources(settings)`` plus ``duckdb`` and
``io_manager``."""

import dagster as dg

from crypto_assets.defs.onchain.activity import build_activity_assets
from crypto_assets.defs.onchain.assets import build_onchain_assets
from crypto_assets.defs.partitions import daily_partitions


def onchain_assets(partitions_def: dg.PartitionsDefinition = daily_partitions) -> list:
    return [*build_onchain_assets(partitions_def), *build_activity_assets(partitions_def)]


defs = dg.Definitions(assets=onchain_assets())
