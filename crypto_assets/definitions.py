"""The one Dagster ``Definitions`` of the code location: assets, checks, jobs, schedules,
sensors and resources. The market source (live exchange or recorded snapshot) is chosen by
settings, not by code edits."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from crypto_assets.defs.jobs import jobs, schedules, sensors
from crypto_assets.defs.market import market_assets
from crypto_assets.defs.sentiment import sentiment_assets
from crypto_assets.defs.signals import signal_assets
from crypto_assets.defs.storage import SCHEMA
from crypto_assets.resources.market_source import ExchangeResource, SnapshotSource
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.settings import Settings, get_settings
from crypto_assets.storage.io_manager import AtomicDuckDBPandasIOManager


def build_resources(settings: Settings) -> dict[str, object]:
    """Resources for one environment; a deployment swaps ``io_manager``/``duckdb`` for a
    warehouse and ``mlflow`` for a tracking server through the same keys."""
    database = str(settings.resolved_duckdb_path)
    settings.resolved_duckdb_path.parent.mkdir(parents=True, exist_ok=True)
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
        "market_source": source,
        "duckdb": DuckDBResource(database=database),
        "io_manager": AtomicDuckDBPandasIOManager(database=database, schema=SCHEMA),
        "mlflow": MlflowTracking(
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_root=str(settings.mlflow_artifact_root),
        ),
    }


def all_assets() -> list:
    return [*market_assets, *signal_assets, *sentiment_assets]


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or get_settings()
    return dg.Definitions(
        assets=all_assets(),
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=build_resources(settings),
    )


defs = build_definitions()
