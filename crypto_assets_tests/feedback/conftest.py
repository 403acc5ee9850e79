"""Fixtures of the feedback-loop tests: the real world of ``world.py`` (20 Binance coins, daily
candles 2024-01..07, their labels, features and the rule's predictions), stored in a DuckDB file
and, for the Dagster tests, registered in a real MLflow store."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource
from dagster_duckdb_pandas import DuckDBPandasIOManager

from crypto_assets.resources.feedback_policy import FeedbackPolicyResource
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.settings import FeedbackSettings
from crypto_assets_tests.feedback import world

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class World:
    candles: pd.DataFrame
    labels: pd.DataFrame
    features: pd.DataFrame
    predictions: pd.DataFrame
    folds: dict[str, list[float]]

    @property
    def feature_names(self) -> list[str]:
        return [c for c in self.features.columns if c not in ("symbol", "date", "timeframe")]


@pytest.fixture(scope="session")
def real_world() -> World:
    if not (world.BINANCE / "ohlcv_1d.parquet").exists():
        pytest.skip(f"real market data not found at {world.BINANCE}")
    candles = world.real_candles("1d", 20, "2024-01-01", "2024-08-01")
    labels = world.stored_labels(candles, "1d")
    features = world.stored_features(candles, "1d")
    predictions, folds = world.rule_predictions(candles, labels)
    return World(candles, labels, features, predictions, folds)


def policy_for_tests(**overrides: object) -> FeedbackSettings:
    """The defaults, with 90-day health windows (one quarter of outcomes per measurement)."""
    values = {"health_window_days": {"7d": 90, "30d": 90}, **overrides}
    return FeedbackSettings(**values)


@dataclass
class Stores:
    """A DuckDB file and an MLflow store holding the real world, and the resources over them."""

    root: Path
    database: Path
    tracking_uri: str
    artifact_root: Path

    def resources(self, **policy: object) -> dict[str, object]:
        knobs = policy_for_tests(**policy).model_dump()
        return {
            "duckdb": DuckDBResource(database=str(self.database)),
            "io_manager": DuckDBPandasIOManager(database=str(self.database), schema="crypto"),
            "mlflow": MlflowTracking(
                tracking_uri=self.tracking_uri, artifact_root=str(self.artifact_root)
            ),
            "feedback_policy": FeedbackPolicyResource(**knobs),
        }

    def table(self, name: str) -> pd.DataFrame:
        with duckdb.connect(str(self.database), read_only=True) as conn:
            return conn.execute(f'select * from crypto."{name}"').df()


@pytest.fixture(scope="module")
def registered(real_world: World, tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """The world in a DuckDB file and the rule registered as champion of 7d and 30d (once per
    module: MLflow's first use costs seconds)."""
    root = tmp_path_factory.mktemp("feedback_world")
    stores = Stores(
        root, root / "base.duckdb", f"sqlite:///{root}/mlruns/mlflow.db", root / "mlruns" / "art"
    )
    world.write_tables(
        stores.database,
        labels=real_world.labels,
        predictions=real_world.predictions,
        feature_table=real_world.features,
    )
    world.register_rule(
        stores.tracking_uri, stores.artifact_root, real_world.folds, real_world.feature_names
    )
    return stores


@pytest.fixture
def stores(registered: Stores, tmp_path: Path) -> Stores:
    """A fresh copy of the world's DuckDB file for one test (MLflow is shared read-mostly)."""
    database = tmp_path / "crypto_assets.duckdb"
    shutil.copy(registered.database, database)
    return Stores(registered.root, database, registered.tracking_uri, registered.artifact_root)


@pytest.fixture
def instance() -> dg.DagsterInstance:
    """A real, in-memory Dagster instance (materializations, runs and sensor cursors)."""
    with dg.DagsterInstance.ephemeral() as dagster_instance:
        yield dagster_instance


def materialize(assets: list, stores: Stores, instance, first: str, last: str | None = None, **kw):
    """Materialize ``assets`` for one day or an inclusive range of days in one run."""
    tags = {RANGE_START_TAG: first, RANGE_END_TAG: last} if last else {}
    result = dg.materialize(
        assets,
        resources=stores.resources(**kw),
        instance=instance,
        partition_key=None if last else first,
        tags=tags,
    )
    assert result.success
    return result
