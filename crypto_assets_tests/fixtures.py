"""Shared fixtures: an isolated project environment (DuckDB file, MLflow store, DAGSTER_HOME)
in a temporary directory, and small real snapshots cut from ../shared/data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from crypto_assets.settings import SHARED_DATA_DIR, Settings

BINANCE_DIR = SHARED_DATA_DIR / "market" / "binance_2024"
KRAKEN_BTC_ETH_DIR = SHARED_DATA_DIR / "market" / "kraken_btc_eth"
PATH_VARIABLES = {
    "CRYPTO_ASSETS_DATA_DIR": "data",
    "CRYPTO_ASSETS_MLFLOW_ARTIFACT_ROOT": "mlruns/artifacts",
    "DAGSTER_HOME": "dagster_home",
}


def isolated_settings(root: Path, **overrides: object) -> Settings:
    """Settings with every path the product writes inside ``root``, built as data: no
    environment variable and no .env file is read."""
    (root / "dagster_home").mkdir(parents=True, exist_ok=True)
    return Settings(
        _env_file=None,
        data_dir=root / "data",
        mlflow_tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db",
        mlflow_artifact_root=root / "mlruns" / "artifacts",
        dagster_home=root / "dagster_home",
        **overrides,
    )


def point_environment(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """The environment an entry point (the CLI) reads, with every path inside ``root``."""
    for name, relative in PATH_VARIABLES.items():
        monkeypatch.setenv(name, str(root / relative))
    monkeypatch.setenv("CRYPTO_ASSETS_MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlruns/mlflow.db")
    (root / "dagster_home").mkdir(parents=True, exist_ok=True)


@pytest.fixture
def project_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings (as data) whose paths all point into tmp_path; the environment points there
    too, for tests that go through the CLI."""
    point_environment(monkeypatch, tmp_path)
    yield isolated_settings(tmp_path)


def cut_snapshot(
    out_dir: Path,
    symbols: list[str] | int,
    start: str,
    end: str,
    source: Path = BINANCE_DIR,
    timeframes: tuple[str, ...] = ("1h", "1d"),
) -> Path:
    """A smaller snapshot (real candles, a subset of coins and days) in the standard layout."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for timeframe in timeframes:
        file = source / f"ohlcv_{timeframe}.parquet"
        frame = pd.read_parquet(file)
        chosen = sorted(frame["symbol"].unique())[:symbols] if isinstance(symbols, int) else symbols
        window = (frame["date"] >= pd.Timestamp(start, tz="UTC")) & (
            frame["date"] < pd.Timestamp(end, tz="UTC")
        )
        frame[window & frame["symbol"].isin(chosen)].to_parquet(out_dir / file.name)
    return out_dir


@pytest.fixture(scope="session")
def binance_1h() -> pd.DataFrame:
    return pd.read_parquet(BINANCE_DIR / "ohlcv_1h.parquet")
