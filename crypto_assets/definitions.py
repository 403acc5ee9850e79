"""The one Dagster ``Definitions`` of the code location, assembled from one ``Settings``.

``build_definitions(settings)`` builds the partition definitions and the resources from the
settings, asks every domain in ``DOMAINS`` for its assets, checks, jobs, schedules and sensors
(``defs/<domain>/__init__.py: build_defs(partitions) -> dg.Definitions``, without resources),
and merges them with the resources. The market source (live exchange or recorded snapshot) is
chosen by settings, not by code edits. ``dagster dev -m crypto_assets.definitions`` loads
``defs``, built from the environment when the code location loads.
"""

from __future__ import annotations

from types import ModuleType

import dagster as dg

from crypto_assets.defs import features, market, models, predictions, sentiment, social, storage
from crypto_assets.defs.partitions import build_partitions
from crypto_assets.resources.io_manager import AtomicDuckDBPandasIOManager
from crypto_assets.resources.market_source import ExchangeResource, SnapshotSource
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.resources.text_sources import text_resources
from crypto_assets.settings import Settings, load_settings
from crypto_assets.storage import SCHEMA

# Every domain's Dagster layer; a new domain adds its package here.
DOMAINS: tuple[ModuleType, ...] = (
    market,
    sentiment,
    social,
    features,
    models,
    predictions,
    storage,
)


def build_resources(settings: Settings) -> dict[str, object]:
    """Resources for one environment, by key. A deployment swaps ``io_manager``/``duckdb`` for
    a warehouse and ``mlflow_tracking`` for a tracking server through the same keys; a domain
    that talks to a new external system adds its resource here (its live or replay class chosen
    from settings; secrets as ``dg.EnvVar``)."""
    database = str(settings.resolved_duckdb_path)
    if settings.source == "snapshot":
        source: dg.ConfigurableResource = SnapshotSource(snapshot_dir=str(settings.snapshot_dir))
    else:
        source = ExchangeResource(
            exchange_id=settings.exchange_id,
            max_concurrency=settings.max_concurrency,
            timeout_ms=settings.request_timeout_ms,
            max_retries=settings.max_retries,
        )
    return {
        "settings": PipelineSettings.from_settings(settings),
        "market_source": source,
        "duckdb": DuckDBStore(database=database),
        "io_manager": AtomicDuckDBPandasIOManager(database=database, schema=SCHEMA),
        "mlflow_tracking": MlflowTracking(
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_root=str(settings.mlflow_artifact_root),
        ),
        **text_resources(settings),  # social, news and events: live clients or replays
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    """Every domain's definitions on partitions and resources built from ``settings``."""
    partitions = build_partitions(settings)
    return dg.Definitions.merge(
        *(domain.build_defs(partitions) for domain in DOMAINS),
        dg.Definitions(resources=build_resources(settings)),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location's definitions (settings from the environment / .env, checked)."""
    return build_definitions(load_settings())
