"""The whole graph through the command line, on a small real snapshot: market data, features,
labels, four horizon models in MLflow, predictions, the top list; then the registry alias rule
and the empty-list case. One module-scoped run keeps the suite fast."""

from __future__ import annotations

import json

import dagster as dg
import duckdb
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from crypto_assets.cli import app
from crypto_assets.definitions import build_definitions
from crypto_assets.defs.signals import model_name
from crypto_assets.horizons import HORIZON_NAMES
from crypto_assets.ml import registry
from crypto_assets.runner import materialize_partition
from crypto_assets.settings import get_settings
from crypto_assets_tests.fixtures import cut_snapshot

COINS = [
    "BTC/USDT",
    "ETH/USDT",
    "SOL/USDT",
    "XRP/USDT",
    "DOGE/USDT",
    "BCH/USDT",
    "LINK/USDT",
    "AVAX/USDT",
]


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("e2e")
    patch = pytest.MonkeyPatch()
    patch.setenv("CRYPTO_ASSETS_DATA_DIR", str(root / "data"))
    patch.setenv("CRYPTO_ASSETS_MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlruns/mlflow.db")
    patch.setenv("CRYPTO_ASSETS_MLFLOW_ARTIFACT_ROOT", str(root / "mlruns" / "artifacts"))
    patch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    patch.setenv("CRYPTO_ASSETS_MODEL_N_ESTIMATORS", "60")  # the real trainer, fewer trees
    (root / "dagster_home").mkdir()
    get_settings.cache_clear()
    snapshot = cut_snapshot(root / "snapshot", COINS, "2024-01-01", "2024-07-20")
    # `demo` sets these itself; owning them here means they are undone after the module
    patch.setenv("CRYPTO_ASSETS_PROFILE", "demo")
    patch.setenv("CRYPTO_ASSETS_SOURCE", "snapshot")
    patch.setenv("CRYPTO_ASSETS_SNAPSHOT_DIR", str(snapshot))
    result = CliRunner().invoke(
        app, ["demo", "--snapshot", str(snapshot), "--skip-sentiment"], catch_exceptions=False
    )
    yield {"root": root, "snapshot": snapshot, "result": result}
    patch.undo()
    get_settings.cache_clear()


def _db() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(get_settings().resolved_duckdb_path), read_only=True)


def test_demo_runs_whole_graph(demo_env: dict) -> None:
    result = demo_env["result"]
    assert result.exit_code == 0, result.output
    assert "Top coins on 2024-07-19" in result.output
    with _db() as conn:
        preds = conn.execute("select * from crypto.predictions").df()
        quality = conn.execute("select count(distinct symbol) from crypto.data_quality").fetchone()
    assert quality[0] == len(COINS)
    assert set(preds["horizon"]) == set(HORIZON_NAMES)
    assert set(preds["symbol"]) == set(COINS)
    assert preds["probability"].between(0, 1).all()
    assert preds["explanation"].str.len().gt(0).all()
    assert preds["model_version"].notna().all()
    as_of = pd.to_datetime(preds["as_of"], utc=True)
    assert (as_of <= pd.Timestamp("2024-07-20", tz="UTC")).all()  # nothing from the future


def test_models_tracked_and_aliased(demo_env: dict) -> None:
    registry.configure_tracking(
        get_settings().mlflow_tracking_uri, get_settings().mlflow_artifact_root
    )
    client = MlflowClient()
    for horizon in HORIZON_NAMES:
        version = registry.champion_version(model_name(horizon))
        assert version == "1"
        assert model_name(horizon).startswith("crypto_assets_demo_signal_")
        run = client.get_run(client.get_model_version(model_name(horizon), version).run_id)
        assert "rank_ic_mean" in run.data.metrics and "ece" in run.data.metrics
        assert run.data.params["horizon"] == horizon
        assert run.data.tags["git_commit"]


def test_worse_retrain_does_not_replace_model_in_use(demo_env: dict) -> None:
    """A retrain that cannot beat the champion (min_improvement = 1 rank-IC point) registers a
    new version but leaves the alias, and so the predictions, on the old one."""
    defs = build_definitions(get_settings())
    result = materialize_partition(
        defs,
        "models",
        "30d",
        dg.DagsterInstance.get(),
        run_config={"ops": {"models": {"config": {"min_improvement": 1.0}}}},
    )
    meta = result.asset_materializations_for_node("models")[0].metadata
    assert meta["promoted"].value is False
    assert meta["model"].value.endswith("v2") and meta["in_use"].value == "v1"
    assert registry.champion_version(model_name("30d")) == "1"
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "skill_and_calibration"
    assert {"rank_ic_mean", "ece"} <= set(check.metadata)


def test_predictions_cover_every_coin_and_horizon(demo_env: dict) -> None:
    defs = build_definitions(get_settings())
    result = materialize_partition(defs, "predictions", "2024-07-19", dg.DagsterInstance.get())
    (check,) = result.get_asset_check_evaluations()
    assert check.passed, check.metadata
    assert check.metadata["coins"].value == len(COINS)


def test_top_and_status_commands(demo_env: dict) -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["top", "--json", "--demo"], catch_exceptions=False)
    payload = json.loads(top.stdout)
    assert payload["day"] == "2024-07-19"
    assert payload["reason"]
    for coin in payload["coins"]:
        assert coin["confidence_30d"] >= get_settings().confidence_threshold
    returns = [c["expected_return_30d"] for c in payload["coins"]]
    assert returns == sorted(returns, reverse=True)
    status = json.loads(runner.invoke(app, ["status", "--json", "--demo"]).stdout)
    by_asset = {row["asset"]: row for row in status}
    assert by_asset["clean_ohlcv"]["coins"] == len(COINS)
    assert by_asset["text_sentiment"]["note"] == "not materialized yet"


def test_threshold_never_lowered(demo_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_CONFIDENCE_THRESHOLD", "0.9999")
    get_settings.cache_clear()
    payload = json.loads(CliRunner().invoke(app, ["top", "--json", "--demo"]).stdout)
    get_settings.cache_clear()
    assert payload["coins"] == []
    assert payload["reason"].startswith("no coin reached 100%")
    assert "the highest was" in payload["reason"]


def test_emptied_top_list_clears_stored_rows(
    demo_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day that no longer has passing coins is cleared (an empty result is a valid one), or
    yesterday's list would linger. The threshold must lie in (0, 1): the lowest bar here is
    a tiny positive one, which every coin with a non-zero 30d probability passes."""

    def run_top(threshold: str) -> int:
        monkeypatch.setenv("CRYPTO_ASSETS_CONFIDENCE_THRESHOLD", threshold)
        get_settings.cache_clear()
        defs = build_definitions(get_settings())
        materialize_partition(defs, "top_coins", "2024-07-19", dg.DagsterInstance.get())
        with _db() as conn:
            return conn.execute(
                "select count(*) from crypto.top_coins where day = '2024-07-19'"
            ).fetchone()[0]

    with _db() as conn:
        above_zero = conn.execute(
            "select count(*) from crypto.predictions where day = '2024-07-19' "
            "and horizon = '30d' and probability >= 1e-9"
        ).fetchone()[0]
    try:
        assert run_top("1e-9") == above_zero > 0  # (almost) everyone passes a near-zero bar
        assert run_top("0.9999") == 0  # nobody passes: the stored list is cleared
    finally:
        get_settings.cache_clear()
