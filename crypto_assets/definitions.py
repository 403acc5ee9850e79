"""The one Dagster ``Definitions`` of the code location, assembled from one ``Settings``.

``build_definitions(settings)`` builds the partition definitions and the resources from the
settings, asks every domain in ``DOMAINS`` for its assets, checks, jobs, schedules and sensors
(``defs/<domain>/__init__.py: build_defs(partitions) -> dg.Definitions``, without resources),
and merges them with the resources. The market source (live exchange or recorded snapshot) is
chosen by settings, not by code edits. ``dagster dev -m crypto_assets.definitions`` loads
``defs``, built from the environment when the code location loads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import ModuleType

import dagster as dg

from crypto_assets.defs import (
    features,
    feedback,
    live,
    market,
    models,
    onchain,
    ops,
    predictions,
    risk,
    sentiment,
    social,
    storage,
    verdicts,
)
from crypto_assets.defs.partitions import build_partitions
from crypto_assets.resources.feedback_policy import FeedbackPolicyResource
from crypto_assets.resources.io_manager import AtomicDuckDBPandasIOManager
from crypto_assets.resources.market_source import ExchangeResource, SnapshotSource
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.resources.onchain import build_onchain_resources
from crypto_assets.resources.order_books import order_book_source_for
from crypto_assets.resources.risk_rules import RiskRulesResource
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.resources.text_sources import text_resources
from crypto_assets.resources.verdict_store import VerdictStoreResource
from crypto_assets.settings import ENV_PREFIX, Settings, export_secrets, load_settings
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
    ops,
    onchain,
    feedback,
    risk,
    verdicts,
)
# Domains that talk to the live exchange only: merged when the market source is live (a demo
# on a snapshot never opens Kraken's WebSocket).
LIVE_DOMAINS: tuple[ModuleType, ...] = (live,)


def secret_config(settings: Settings, field: str) -> str | dg.EnvVar | None:
    """A ``SecretStr`` setting as resource config: ``dg.EnvVar`` when the environment holds
    this very value (the UI and run config then show the variable's name, never the value);
    the value itself when it came from ``.env`` or as data (this process alone knows it)."""
    value = getattr(settings, field)
    if value is None:
        return None
    name = f"{ENV_PREFIX}{field.upper()}"
    plain = value.get_secret_value()
    return dg.EnvVar(name) if os.environ.get(name) == plain else plain


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
    resources = {
        "settings": PipelineSettings.from_settings(settings),
        "market_source": source,
        "duckdb": DuckDBStore(database=database),
        "io_manager": AtomicDuckDBPandasIOManager(
            database=database, schema=SCHEMA, profile=settings.profile
        ),
        "mlflow_tracking": MlflowTracking(
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_root=str(settings.mlflow_artifact_root),
        ),
        **ops.build_ops_resources(settings, lambda field: secret_config(settings, field)),
        **build_onchain_resources(settings),
        "feedback_policy": FeedbackPolicyResource.from_settings(settings),
        # --- risk ---
        "order_book_source": order_book_source_for(settings),
        "risk_rules": RiskRulesResource.from_settings(settings),
        # --- dashboard verdicts ---
        "verdict_store": VerdictStoreResource.from_settings(settings),
        **text_resources(settings),  # social, news and events: live clients or replays
    }
    if settings.source == "live":
        from crypto_assets.resources.market_stream import KrakenStream

        resources["market_stream"] = KrakenStream(
            exchange_id=settings.exchange_id, timeout_ms=settings.request_timeout_ms
        )
    return resources


def build_definitions(
    settings: Settings, resources: Mapping[str, object] | None = None
) -> dg.Definitions:
    """Every domain's definitions on partitions and resources built from ``settings``;
    ``resources`` replaces some by key (e.g. a replay of a live source in tests)."""
    partitions = build_partitions(settings)
    domains = DOMAINS + (LIVE_DOMAINS if settings.source == "live" else ())
    return dg.Definitions.merge(
        *(domain.build_defs(partitions) for domain in domains),
        dg.Definitions(resources={**build_resources(settings), **(resources or {})}),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location's definitions (settings from the environment / .env, checked)."""
    settings = load_settings()
    export_secrets(settings)  # resources then name every secret (dg.EnvVar), never hold it
    return build_definitions(settings)
