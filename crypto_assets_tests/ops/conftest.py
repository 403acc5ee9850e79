"""Fixtures of the ops tests: local alert endpoints, alert channels pointing at them, and one
small real installation (shared by the backup and secret-leak tests) with secrets planted."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from crypto_assets.resources.alerts import AlertChannels
from crypto_assets_tests.fixtures import cut_snapshot, project_env  # noqa: F401
from crypto_assets_tests.ops.servers import RecordingHttpServer, RecordingSmtpServer

UI = "http://dagster.example:3000"
MODEL = "ops_test_model"
# Planted secrets: none of these strings may appear anywhere the product writes or prints.
SECRETS = {
    "CRYPTO_ASSETS_CRYPTOPANIC_API_KEY": "cpk-LEAKCHECK-7f3a9b2c",
    "CRYPTO_ASSETS_TELEGRAM_BOT_TOKEN": "555000111:LEAKCHECK-tgBotToken-9XyZ",
    "DAGSTER_PG_PASSWORD": "pgpw-LEAKCHECK-41d2",
}
SMTP_PASSWORD = "smtppw-LEAKCHECK-88e1"
HOOK_TOKEN = "hooktoken-LEAKCHECK-c0ffee42"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI commands call setup_logging (root handlers, levels): undo it after each test."""
    from crypto_assets import logs

    root = logging.getLogger()
    package = logging.getLogger("crypto_assets")
    handlers, level, package_level = list(root.handlers), root.level, package.level
    service = logs._service
    yield
    logs._service = service
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    package.setLevel(package_level)


@pytest.fixture
def webhook() -> Iterator[RecordingHttpServer]:
    with RecordingHttpServer() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[RecordingSmtpServer]:
    with RecordingSmtpServer() as server:
        yield server


@pytest.fixture
def channels(
    tmp_path: Path, webhook: RecordingHttpServer, smtp: RecordingSmtpServer
) -> AlertChannels:
    return AlertChannels(
        webhook_url=webhook.apprise_url,
        email_url=smtp.apprise_url,
        ui_base_url=UI,
        state_path=str(tmp_path / "alert_state.sqlite"),
        repeat_minutes=60,
    )


def _model_version(experiment_id: str, folder: Path, text: str) -> str:
    """A real MLflow run the way model training logs one (params, metrics, resource usage
    tags, a model folder as artifacts) and a registered version of it."""
    from crypto_assets.ml import registry
    from crypto_assets.ops.monitor import ResourceUsage

    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"weights": text}))
    with mlflow.start_run(experiment_id=experiment_id) as run:
        with ResourceUsage(interval_s=0.05) as usage:
            np.linalg.svd(np.random.default_rng(1).standard_normal((200, 200)))
        mlflow.log_params({"horizon": "30d", "n_estimators": 20, "source": "snapshot"})
        mlflow.log_metrics({"rank_ic": 0.05, **usage.metrics()})
        mlflow.set_tags(usage.tags())
        mlflow.log_artifacts(str(folder), artifact_path="model")
    return registry.register_model_dir(
        MODEL, run.info.run_id, run.info.artifact_uri, folder, "model"
    )


@pytest.fixture(scope="session")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Market data and technical features from a cut of a real snapshot (a persistent Dagster
    instance with the project's dagster.yaml, so JSON logs are written), two registered model
    versions in a sqlite MLflow store, and one backup of it all. Secrets planted in the env."""
    from crypto_assets.definitions import build_definitions
    from crypto_assets.ml import registry
    from crypto_assets.ops.backup import BackupSources, create_backup
    from crypto_assets.runner import dagster_instance, materialize_range
    from crypto_assets.settings import get_settings

    root = tmp_path_factory.mktemp("install")
    webhook, smtp = RecordingHttpServer(), RecordingSmtpServer()
    webhook.__enter__()
    smtp.__enter__()
    patch = pytest.MonkeyPatch()
    env = {
        **SECRETS,
        "CRYPTO_ASSETS_ALERT_WEBHOOK_URL": f"json://127.0.0.1:{webhook.port}/{HOOK_TOKEN}",
        "CRYPTO_ASSETS_ALERT_EMAIL_URL": (
            f"mailto://alerts:{SMTP_PASSWORD}@127.0.0.1:{smtp.port}?to=ops@example.org"
            "&mode=insecure&format=text"
        ),
        "CRYPTO_ASSETS_DATA_DIR": str(root / "data"),
        "CRYPTO_ASSETS_MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlruns/mlflow.db",
        "CRYPTO_ASSETS_MLFLOW_ARTIFACT_ROOT": str(root / "mlruns" / "artifacts"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "CRYPTO_ASSETS_SOURCE": "snapshot",
        "CRYPTO_ASSETS_SNAPSHOT_DIR": str(
            cut_snapshot(
                root / "snap", ["BTC/USDT", "ETH/USDT", "SOL/USDT"], "2024-05-20", "2024-06-18"
            )
        ),
    }
    for key, value in env.items():  # only while building; tests apply it with `installed_env`
        patch.setenv(key, value)
    get_settings.cache_clear()
    settings = get_settings()
    defs = build_definitions(settings)
    with dagster_instance() as instance:
        materialize_range(defs, "group:market", "2024-06-10", "2024-06-16", instance)
        materialize_range(defs, "technical_features", "2024-06-10", "2024-06-16", instance)
        runs = instance.get_runs_count()
    registry.configure_tracking(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    experiment = registry.ensure_experiment("ops_test", settings.mlflow_artifact_root)
    models = settings.data_dir / "models" / "signals"
    versions = [_model_version(experiment, models / f"v{i}", f"w{i}") for i in (1, 2)]
    MlflowClient().set_registered_model_alias(MODEL, "champion", versions[0])
    backup = create_backup(
        BackupSources.from_settings(settings, root / "dagster_home"), root / "backups", keep=3
    )
    patch.undo()
    get_settings.cache_clear()
    yield {
        "env": env,
        "root": root,
        "settings": settings,
        "backup": backup,
        "runs": runs,
        "versions": versions,
        "webhook": webhook,
        "smtp": smtp,
    }
    webhook.__exit__()
    smtp.__exit__()


@pytest.fixture
def installed_env(installation: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """The installation's environment (paths, planted secrets) for one test."""
    from crypto_assets.settings import get_settings

    for key, value in installation["env"].items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield installation
    get_settings.cache_clear()
