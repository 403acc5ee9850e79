"""Definitions built from settings as data: partitions sized by the data, resources carrying the
settings, pipeline steps read from the job definitions."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from crypto_assets.definitions import build_definitions
from crypto_assets.defs.partitions import build_partitions
from crypto_assets.defs.pipeline import Scope, pipeline_job
from crypto_assets.horizons import HORIZON_NAMES
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.runner import pipeline_steps
from crypto_assets.settings import Settings
from crypto_assets_tests.fixtures import BINANCE_DIR, cut_snapshot, isolated_settings


def test_snapshot_partitions_end_at_its_last_complete_day(tmp_path: Path) -> None:
    snapshot = cut_snapshot(tmp_path / "snap", 3, "2024-03-01", "2024-04-10T05:00")
    settings = isolated_settings(tmp_path, profile="demo", source="snapshot", snapshot_dir=snapshot)
    daily = build_partitions(settings).daily
    # 04-10 has only five hours: the last complete day is 04-09; nothing before the data
    assert daily.get_first_partition_key() == "2024-03-01"
    assert daily.get_last_partition_key() == "2024-04-09"
    # the whole binance_2024 snapshot from a later history_start: the UI opens on data
    later = isolated_settings(
        tmp_path, source="snapshot", snapshot_dir=BINANCE_DIR, history_start="2024-06-01"
    )
    keys = build_partitions(later).daily.get_partition_keys()
    assert (keys[0], keys[-1]) == ("2024-06-01", "2024-09-05")


def test_live_partitions_end_yesterday(tmp_path: Path) -> None:
    daily = build_partitions(isolated_settings(tmp_path, history_start="2025-01-01")).daily
    yesterday = pd.Timestamp.now(tz="UTC").normalize() - pd.Timedelta(days=1)
    assert daily.get_first_partition_key() == "2025-01-01"
    assert daily.get_last_partition_key() == yesterday.strftime("%Y-%m-%d")


def test_settings_resource_carries_the_settings(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, profile="demo", round_trip_cost=0.002)
    defs = build_definitions(settings.model_copy(update={"confidence_threshold": 0.7}))
    resource = defs.resources["settings"]
    assert isinstance(resource, PipelineSettings)
    assert (resource.profile, resource.round_trip_cost, resource.confidence_threshold) == (
        "demo",
        0.002,
        0.7,
    )
    assert resource.signal_model_name("30d") == "crypto_assets_demo_signal_30d"
    assert Path(resource.data_dir) == settings.profile_dir == settings.data_dir / "demo"


def test_pipeline_steps_follow_the_asset_graph(tmp_path: Path) -> None:
    defs = build_definitions(isolated_settings(tmp_path))
    steps = pipeline_steps(defs)
    assert [s.job for s in steps] == [
        "market_job",
        "sentiment_job",
        "verdicts_job",
        "onchain_job",  # after market_job (prices whales), before features_job (joined there)
        "social_job",  # feature_table joins coin_text_signals
        "features_job",
        *["retrain_job"] * len(HORIZON_NAMES),
        "predictions_job",
        "feedback_job",
        "risk_job",
    ]
    assert [s.partition_key for s in steps if s.job == "retrain_job"] == HORIZON_NAMES
    assert "sentiment_job" not in [s.job for s in pipeline_steps(defs, skip={"sentiment_job"})]


def test_a_new_domain_job_joins_the_pipeline_in_order(tmp_path: Path) -> None:
    """A domain that reads the top list adds its own pipeline job; the runner puts it after the
    job that makes the top list, with no edit to the runner."""
    settings = isolated_settings(tmp_path)
    partitions = build_partitions(settings)

    @dg.asset(partitions_def=partitions.daily, deps=["top_coins"], group_name="portfolio")
    def rebalance() -> None:
        """A stand-in downstream asset."""

    portfolio = dg.Definitions(
        assets=[rebalance],
        jobs=[
            pipeline_job(
                "portfolio_job",
                dg.AssetSelection.groups("portfolio"),
                Scope.LATEST,
                "stand-in",
                partitions_def=partitions.daily,
            )
        ],
    )
    defs = dg.Definitions.merge(build_definitions(settings), portfolio)
    jobs = [s.job for s in pipeline_steps(defs)]
    assert jobs.index("portfolio_job") > jobs.index("predictions_job")


def test_code_location_loads_from_the_environment(monkeypatch, tmp_path: Path) -> None:
    """`dagster dev -m crypto_assets.definitions` builds from Settings() at load time."""
    from crypto_assets import definitions

    monkeypatch.setenv("CRYPTO_ASSETS_SOURCE", "snapshot")
    monkeypatch.setenv("CRYPTO_ASSETS_SNAPSHOT_DIR", str(BINANCE_DIR))
    monkeypatch.setenv("CRYPTO_ASSETS_DATA_DIR", str(tmp_path))
    loaded = definitions.defs()
    job = loaded.resolve_job_def("market_job")
    assert job.partitions_def.get_last_partition_key() == "2024-09-05"
    assert Settings().source == "snapshot"
