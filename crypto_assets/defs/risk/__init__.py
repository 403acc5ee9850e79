"""Risk domain in Dagster: order books of the day's top list (and the watch list), the risk
verdict per coin and the risk-checked top list; the pipeline job that runs them after the top
list (``crypto-assets run`` / ``demo``), and a sensor (off by default) that runs them after a
top list the daemon wrote. Resource keys: ``order_book_source``, ``risk_rules``, ``duckdb``,
``io_manager``."""

from __future__ import annotations

import dagster as dg

from crypto_assets.defs.partitions import Partitions
from crypto_assets.defs.pipeline import Scope, pipeline_job
from crypto_assets.defs.risk.assets import RISK_GROUP, build_assets


def _risk_after_top_coins(risk_job) -> dg.SensorDefinition:
    @dg.asset_sensor(
        asset_key=dg.AssetKey("top_coins"),
        job=risk_job,
        name="risk_after_top_coins",
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    def risk_after_top_coins(
        context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
    ) -> dg.RunRequest | None:
        """Check a day's risk as soon as its top list is written (same partition); for top
        lists of the daily schedule (the CLI runs ``risk_job`` itself)."""
        event = asset_event.dagster_event
        partition = event.partition if event else None
        if not partition:
            return None
        return dg.RunRequest(
            run_key=f"risk-{partition}-{asset_event.run_id}", partition_key=partition
        )

    return risk_after_top_coins


def build_defs(partitions: Partitions) -> dg.Definitions:
    risk_job = pipeline_job(
        "risk_job",
        dg.AssetSelection.groups(RISK_GROUP),
        Scope.LATEST,
        "Order books and the risk check of the latest day's top list.",
        partitions_def=partitions.daily,
    )
    return dg.Definitions(
        assets=build_assets(partitions),
        jobs=[risk_job],
        sensors=[_risk_after_top_coins(risk_job)],
    )
