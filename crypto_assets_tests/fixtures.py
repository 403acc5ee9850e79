"""Shared fixtures: an isolated project environment (DuckDB file, MLflow store, DAGSTER_HOME)
in a temporary directory, and small real snapshots cut from ../shared/data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from crypto_assets.settings import SHARED_DATA_DIR, get_settings

BINANCE_DIR = SHARED_DATA_DIR / "market" / "binance_2024"
KRAKEN_BTC_ETH_DIR = SHARED_DATA_DIR / "market" / "kraken_btc_eth"


@pytest.fixture
def project_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every path the product writes points into tmp_path; settings are re-read."""
    monkeypatch.setenv("CRYPTO_ASSETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(
        "CRYPTO_ASSETS_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    )
    monkeypatch.setenv("CRYPTO_ASSETS_MLFLOW_ARTIFACT_ROOT", str(tmp_path / "mlruns" / "artifacts"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


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
