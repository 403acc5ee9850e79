"""Fixtures of the feedback-loop tests: the real world of ``world.py`` (20 Binance coins, hourly
candles 2024-01..07, their stored features and labels, the product's LightGBM models trained on
what was stored by 2024-04-01 and their predictions of 2024-04..06) in a DuckDB file and a real
MLflow store, built once per test run, and a private copy of both for each test."""

from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from crypto_assets.definitions import build_definitions
from crypto_assets.feedback.policy import FeedbackPolicy
from crypto_assets.runner import run_job
from crypto_assets.settings import Settings
from crypto_assets_tests.feedback import world
from crypto_assets_tests.fixtures import isolated_settings

# 90-day health windows: one quarter of outcomes per measurement in the domain tests
QUARTER = {"1h": 90, "24h": 90}


def policy_for_tests(**overrides: object) -> FeedbackPolicy:
    """The product's defaults (from a Settings built as data), with ``overrides``."""
    return FeedbackPolicy.from_settings(Settings(_env_file=None), **overrides)


@dataclass(frozen=True)
class World:
    candles: pd.DataFrame  # hourly, 20 coins
    labels: pd.DataFrame  # as stored by the end
    features: pd.DataFrame  # the feature_table rows
    predictions: pd.DataFrame  # the real predictions asset's rows, 2024-04-01 .. 2024-06-30
    root: Path  # the built world (DuckDB file, MLflow store): read it, never write it

    @property
    def feature_names(self) -> list[str]:
        keys = ("symbol", "date", "timeframe")
        return [c for c in self.features.columns if c not in keys]


def _build(root: Path, candles: pd.DataFrame, features: pd.DataFrame) -> None:
    lock_path = root / ".lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another xdist worker may be building it
        if not (root / "built").exists():
            world.train_and_predict(isolated_settings(root), candles, features)
            (root / "built").touch()


@pytest.fixture(scope="session")
def real_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    if not (world.BINANCE / "ohlcv_1h.parquet").exists():
        pytest.skip(f"real market data not found at {world.BINANCE}")
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "feedback_world"
    root.mkdir(exist_ok=True)
    candles = world.real_candles("1h", world.N_COINS, world.FIRST, world.END)
    features = world.stored_features(candles, "1h")
    _build(root, candles, features)
    with duckdb.connect(str(isolated_settings(root).resolved_duckdb_path), read_only=True) as c:
        predictions = c.execute("select * from crypto.predictions").df()
    return World(candles, world.stored_labels(candles, "1h"), features, predictions, root)


@dataclass(frozen=True)
class Stores:
    """A private copy of the world (DuckDB file and MLflow store) for one test, with the
    code location's definitions built on it."""

    settings: Settings

    @property
    def database(self) -> Path:
        return self.settings.resolved_duckdb_path

    def table(self, name: str) -> pd.DataFrame:
        with duckdb.connect(str(self.database), read_only=True) as conn:
            return conn.execute(f'select * from crypto."{name}"').df()

    def definitions(self, **overrides: object) -> dg.Definitions:
        """The project's definitions; ``overrides`` are settings (e.g. feedback knobs)."""
        return build_definitions(self.settings.model_copy(update=overrides))


@pytest.fixture
def stores(real_world: World, tmp_path: Path) -> Stores:
    source = isolated_settings(real_world.root)
    (tmp_path / "data").mkdir()
    shutil.copy(source.resolved_duckdb_path, tmp_path / "data" / "crypto_assets.duckdb")
    (tmp_path / "mlruns").mkdir()
    shutil.copy(real_world.root / "mlruns" / "mlflow.db", tmp_path / "mlruns" / "mlflow.db")
    # new runs in the copy keep their artifacts beside the world's (run ids never collide)
    settings = isolated_settings(tmp_path).model_copy(
        update={"mlflow_artifact_root": source.mlflow_artifact_root}
    )
    return Stores(settings)


@pytest.fixture
def instance() -> dg.DagsterInstance:
    """A real, in-memory Dagster instance (materializations, runs and sensor cursors)."""
    with dg.DagsterInstance.ephemeral() as dagster_instance:
        yield dagster_instance


def run_feedback(
    stores: Stores,
    instance: dg.DagsterInstance,
    first: str,
    last: str | None = None,
    assets: list[str] | None = None,
    **settings: object,
) -> dg.ExecuteInProcessResult:
    """The real ``feedback_job`` (or some of its assets) for one day or an inclusive range of
    days in one run, on the test's stores."""
    return run_job(
        stores.definitions(**settings),
        "feedback_job",
        instance,
        profile=stores.settings.profile,
        partition_key=None if last else first,
        day_range=(first, last) if last else None,
        assets=assets,
    )
