"""The MLflow lifecycle of a horizon's model zoo, on a real MLflow store in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from crypto_assets.ml.dataset import Dataset
from crypto_assets.ml.registry import configure_tracking, ensure_experiment
from crypto_assets.ml.tracking import TrainingRun, load_champion, train_and_register
from crypto_assets_tests.ml.conftest import small_config


@pytest.fixture(scope="module")
def trained(dataset_7d: Dataset, tmp_path_factory: pytest.TempPathFactory) -> TrainingRun:
    root = tmp_path_factory.mktemp("mlflow")
    configure_tracking(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts")
    experiment = ensure_experiment("signals_test", root / "artifacts")
    config = small_config(
        families={"7d": ["lightgbm", "rnn"]},
        optuna_budget_s={"7d": 1e6},
        optuna_trials=2,
        optuna_regrow=3.0,
    )
    return train_and_register(
        "7d",
        lambda: dataset_7d,
        config,
        profile="test",
        experiment_id=experiment,
        models_dir=root / "models",
    )


def test_every_candidate_has_a_nested_run(trained: TrainingRun) -> None:
    client = MlflowClient()
    parent = client.get_run(trained.run_id)
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{trained.run_id}'"
    )
    by_family = {run.data.tags["family"]: run for run in children}
    assert set(by_family) == {"lightgbm", "rnn", "ensemble"}
    for family, run in by_family.items():
        assert run.data.tags["selected"] == str(family == trained.zoo.selection.family).lower()
        assert "rank_ic_mean" in run.data.metrics and "fit_seconds" in run.data.metrics
    # Optuna's trials are logged with the family that ran them
    history = client.get_metric_history(by_family["lightgbm"].info.run_id, "optuna_trial_rank_ic")
    assert len(history) == len(trained.zoo.reports["lightgbm"].trials) > 0
    artifacts = client.list_artifacts(by_family["lightgbm"].info.run_id)
    assert "optuna_trials.json" in {a.path for a in artifacts}
    assert parent.data.tags["family"] == trained.zoo.selection.family
    assert parent.data.tags["selection_reason"] == trained.zoo.selection.reason
    assert "lightgbm_rank_ic_mean" in parent.data.metrics


def test_the_registered_version_says_which_family_and_why(trained: TrainingRun) -> None:
    client = MlflowClient()
    version = client.get_model_version(trained.name, trained.version)
    assert version.tags["family"] == trained.model.family == trained.zoo.selection.family
    assert version.tags["selection_reason"] == trained.zoo.selection.reason
    assert version.tags["checks_passed"] == str(trained.passed).lower()
    plots = {a.path for a in client.list_artifacts(trained.run_id, "plots")}
    assert {
        "plots/reliability.png",
        "plots/feature_importance.png",
        "plots/shap_summary_score.png",
        "plots/shap_summary_probability.png",
    } <= plots
    assert "zoo.json" in {a.path for a in client.list_artifacts(trained.run_id)}


def test_only_a_passing_version_is_loaded(trained: TrainingRun, tmp_path: Path) -> None:
    loaded = load_champion(trained.name, tmp_path)
    if trained.passed:
        assert loaded is not None and loaded[0].family == trained.model.family
    else:
        assert loaded is None
