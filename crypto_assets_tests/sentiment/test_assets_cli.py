"""End to end on a tiny training run: both Dagster assets, MLflow registry, the CLI.

One module-scoped materialization (tiny preset: a few dozen texts, one short epoch) in a tmp
MLflow sqlite store and a tmp DuckDB file; the other tests reuse it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from crypto_assets.cli.sentiment import sentiment_app
from crypto_assets.defs.partitions import build_partitions
from crypto_assets.defs.sentiment.assets import build_assets
from crypto_assets.resources.io_manager import AtomicDuckDBPandasIOManager
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.sentiment.tracking import MODEL_NAME
from crypto_assets.settings import Settings
from crypto_assets_tests.fixtures import isolated_settings

TINY = {"preset": "tiny"}


@dataclass
class Store:
    root: Path
    resources: dict
    database: Path
    settings: Settings


def _point_settings(monkeypatch: pytest.MonkeyPatch, root: Path) -> Settings:
    """The environment the CLI reads, and the same settings as data for the assets."""
    settings = isolated_settings(root)
    monkeypatch.setenv("CRYPTO_ASSETS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CRYPTO_ASSETS_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    monkeypatch.setenv("CRYPTO_ASSETS_MLFLOW_ARTIFACT_ROOT", str(settings.mlflow_artifact_root))
    monkeypatch.delenv("CRYPTO_ASSETS_SENTIMENT_HF_MODEL", raising=False)
    return settings


def _resources(settings: Settings, database: Path) -> dict:
    return {
        "settings": PipelineSettings.from_settings(settings),
        "mlflow_tracking": MlflowTracking(
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_root=str(settings.mlflow_artifact_root),
        ),
        "io_manager": AtomicDuckDBPandasIOManager(database=str(database), schema="crypto"),
    }


def _assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return build_assets(build_partitions(settings))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("sentiment")
    settings = isolated_settings(root)
    database = root / "db.duckdb"
    resources = _resources(settings, database)
    result = dg.materialize(
        _assets(settings),
        resources=resources,
        run_config={
            "ops": {
                "sentiment_model": {"config": TINY},
                "text_sentiment": {"config": {"limit_per_source": 5, "batch_size": 8}},
            }
        },
    )
    assert result.success
    yield Store(root, resources, database, settings)


@pytest.fixture
def settings_env(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    _point_settings(monkeypatch, store.root)
    return store


def test_model_asset_registers_champion_with_metrics(store: Store) -> None:
    from mlflow.tracking import MlflowClient

    store.resources["mlflow_tracking"].configure()
    client = MlflowClient()
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert str(champion.version) == "1"
    run = client.get_run(champion.run_id)
    assert run.info.run_name.startswith(f"{MODEL_NAME} tiny ")  # not a random MLflow name
    for key in ("macro_f1", "accuracy", "f1_bearish", "crypto_macro_f1", "train_seconds"):
        assert key in run.data.metrics
    assert run.data.params["preset"] == "tiny"
    artifacts = {a.path for a in client.list_artifacts(champion.run_id)}
    assert {"model", "data_range.json", "evaluation.json"} <= artifacts
    local = Path(champion.tags["local_dir"])
    assert local.is_relative_to(store.root / "data" / "models" / "sentiment")
    assert (local / "sentiment_meta.json").is_file()


def test_text_sentiment_stored_with_model_version(store: Store) -> None:
    with duckdb.connect(str(store.database), read_only=True) as conn:
        frame = conn.execute("select * from crypto.text_sentiment").df()
    assert len(frame) == 20  # 5 newest of each of the 4 real sources
    assert frame["source"].nunique() == 4
    assert frame["model_version"].eq("1").all()
    assert frame["model_name"].eq(MODEL_NAME).all()
    assert frame["score"].between(-1, 1).all()
    assert set(frame["label"]) <= {"bearish", "bullish", "neutral"}
    probs = frame[["p_bearish", "p_bullish", "p_neutral"]].sum(axis=1)
    assert probs.sub(1).abs().max() < 1e-5
    assert frame["id"].is_unique


def test_equal_retrain_does_not_replace_champion(store: Store, settings_env: Store) -> None:
    # Same seed and data -> the same macro-F1 (deterministic training) -> not strictly better.
    result = dg.materialize(
        _assets(store.settings),
        selection=["sentiment_model"],
        resources=store.resources,
        run_config={"ops": {"sentiment_model": {"config": TINY}}},
    )
    meta = result.asset_materializations_for_node("sentiment_model")[0].metadata
    assert meta["model"].value == f"{MODEL_NAME} v2"
    assert meta["promoted"].value is False
    assert meta["in_use"].value == "v1"
    assert "not better" in meta["decision"].value


def test_cli_evaluate_prints_one_json_object(settings_env: Store, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    pd.DataFrame(
        {
            "text": ["Bitcoin hits new all-time high", "Exchange hacked, funds drained", "AMA"],
            "label": [1, 0, 2],
        }
    ).to_csv(labels, index=False)
    result = CliRunner().invoke(sentiment_app, ["evaluate", "--labels", str(labels), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # stdout holds the JSON only
    assert payload["n"] == 3
    assert set(payload) == {
        "n",
        "accuracy",
        "macro_f1",
        "per_class_f1",
        "model",
        "texts_per_second",
        "device",
    }
    assert set(payload["per_class_f1"]) == {"bearish", "bullish", "neutral"}
    assert payload["model"] == f"{MODEL_NAME}@v1"
    assert payload["device"] in ("cpu", "cuda")
    assert payload["texts_per_second"] > 0


def test_cli_score_and_bad_labels(settings_env: Store, tmp_path: Path) -> None:
    runner = CliRunner()
    scored = runner.invoke(sentiment_app, ["score", "$BTC to the moon", "--json"])
    assert scored.exit_code == 0, scored.output
    payload = json.loads(scored.stdout)
    assert payload["label"] in ("bearish", "bullish", "neutral")
    assert -1 <= payload["score"] <= 1
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nmoon,7\n")
    failed = runner.invoke(sentiment_app, ["evaluate", "--labels", str(bad), "--json"])
    assert failed.exit_code == 2
    assert failed.stdout == ""
    assert "labels must be 0, 1 or 2" in failed.stderr


def test_cli_without_model_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _point_settings(monkeypatch, tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("text,label\nmoon,1\n")
    result = CliRunner().invoke(
        sentiment_app, ["evaluate", "--labels", str(labels), "--json", "--no-train"]
    )
    assert result.exit_code == 2
    assert "no trained sentiment model" in result.stderr


def test_hf_override_uses_same_interface(store: Store) -> None:
    from crypto_assets.sentiment.model import ModelNotAvailableError
    from crypto_assets.sentiment.service import load_scorer, score_table
    from crypto_assets.sentiment.texts import load_texts

    # any local HF sequence-classification folder: here the tiny model trained above
    folder = next((store.root / "data" / "models" / "sentiment").glob("*/config.json")).parent
    override = store.settings.model_copy(update={"sentiment_hf_model": str(folder)})
    scores = score_table(
        load_texts(["cryptopanic_news"], limit_per_source=3), load_scorer(override)
    )
    assert scores["model_version"].eq("external").all()
    missing = store.settings.model_copy(
        update={"sentiment_hf_model": "ElKulako/cryptobert-not-cached"}
    )
    with pytest.raises(ModelNotAvailableError, match="ElKulako/cryptobert-not-cached"):
        load_scorer(missing)


def test_text_sentiment_says_so_without_model(tmp_path: Path) -> None:
    """No scorer registered yet: no rows, no failed run, a failed (WARN) check with the reason,
    and the write is logged as an empty materialization."""
    settings = isolated_settings(tmp_path)
    result = dg.materialize(
        _assets(settings),
        selection=["text_sentiment"],
        resources=_resources(settings, tmp_path / "x.duckdb"),
        run_config={"ops": {"text_sentiment": {"config": {"limit_per_source": 1}}}},
    )
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "no trained sentiment model" in check.description
    meta = result.asset_materializations_for_node("text_sentiment")[0].metadata
    assert meta["rows"].value == 0 and meta["status"].value == "no_model"
