"""Planted secrets — one in every secret setting (API keys, the alert URLs with their bot token,
webhook token and mail password), the Postgres and MLflow server passwords, one of them only in
a ``.env`` file — never reach a log file, a DuckDB table (the pipeline's database and its
published read copy), the MLflow store (params, tags, metrics, artifacts), Dagster's run
storage, a backup, or the console: after the real ``crypto-assets demo`` pipeline on a cut of a
real snapshot and the real ``top``, ``status``, ``doctor``, ``backup`` and ``alert-test``
commands (the alert really posts to a local webhook on its secret path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from crypto_assets.cli import app
from crypto_assets.ml import registry
from crypto_assets.settings import SECRET_FIELDS, load_settings
from crypto_assets_tests.ops.installation import (
    HOOK_TOKEN,
    SMTP_PASSWORD,
    Installation,
    secret_tokens,
)
from crypto_assets_tests.ops.leaks import duckdb_text, leaks_in, leaks_in_tree
from crypto_assets_tests.ops.servers import RecordingHttpServer, RecordingSmtpServer


def _mlflow_text(tmp_path: Path) -> str:
    """Everything the MLflow store holds, read through its client: every run's params, tags,
    metric names and artifact bytes, and every registered version's tags and description."""
    settings = load_settings()
    registry.configure_tracking(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    client = MlflowClient()
    parts = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            data = run.data
            parts += [json.dumps(data.params), json.dumps(data.tags), json.dumps(data.metrics)]
            local = client.download_artifacts(run.info.run_id, "", str(tmp_path / run.info.run_id))
            parts += [
                f.read_bytes().decode("utf-8", "replace")
                for f in Path(local).rglob("*")
                if f.is_file()
            ]
    for version in client.search_model_versions():
        parts += [json.dumps(version.tags), version.description or "", version.source]
    return "\n".join(parts)


def _commands(installation: Installation, backups: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    """The real commands, in-process, their console output kept. The alert channels point at
    live local servers (same planted tokens); Telegram and Discord would go to the internet, so
    alert-test runs without them."""
    runner = CliRunner()
    runs = [
        runner.invoke(app, args)
        for args in (
            ["top", "--json", "--demo"],
            ["status", "--json", "--demo"],
            ["doctor", "--json"],
            ["backup", str(backups)],
        )
    ]
    with RecordingHttpServer() as webhook, RecordingSmtpServer() as smtp:
        monkeypatch.setenv(
            "CRYPTO_ASSETS_ALERT_WEBHOOK_URL", f"json://127.0.0.1:{webhook.port}/{HOOK_TOKEN}"
        )
        monkeypatch.setenv(
            "CRYPTO_ASSETS_ALERT_EMAIL_URL",
            f"mailto://alerts:{SMTP_PASSWORD}@127.0.0.1:{smtp.port}?to=ops@example.org"
            "&from=alerts@example.org&mode=insecure&format=text",
        )
        for name in ("CRYPTO_ASSETS_ALERT_TELEGRAM_URL", "CRYPTO_ASSETS_ALERT_DISCORD_URL"):
            monkeypatch.delenv(name, raising=False)  # (Discord's was exported from root/.env)
        monkeypatch.chdir(backups)  # away from root/.env
        runs.append(runner.invoke(app, ["alert-test"]))
        monkeypatch.chdir(installation.root)
    # the secrets were really used: the webhook got the alert on its secret path; the mail
    # channel's password was refused by a server without AUTH, and the failure was logged
    assert [r["path"] for r in webhook.requests] == [f"/{HOOK_TOKEN}"]
    assert "webhook: delivered" in runs[-1].output and "email: failed" in runs[-1].output
    return runs


def test_planted_secrets_leak_nowhere(
    installed_env: Installation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = secret_tokens()
    assert len(secrets) >= len(SECRET_FIELDS)  # every secret setting has its planted value
    assert {f for f in SECRET_FIELDS if getattr(load_settings(), f) is None} == set()
    backups = tmp_path / "backups"
    runs = _commands(installed_env, backups, monkeypatch)
    top, status, doctor, backup = (r.output for r in runs[:4])
    assert json.loads(top)["day"] == "2024-05-31"
    assert {m["horizon"] for m in json.loads(status)["models"] if m.get("in_use")}
    assert json.loads(doctor)["verdict"].startswith("READY")
    assert "backup written" in backup

    console = installed_env.console + "".join(r.output for r in runs)
    assert leaks_in(console, secrets) == []
    # every file under the installation (logs, Dagster run storage with its job snapshots,
    # MLflow database and artifacts, model folders, DuckDB database and read copy) and the
    # backup, each read as its format stores text; root/.env is where the user put one secret
    assert leaks_in_tree(installed_env.root, secrets, skip={".env"}) == {}
    assert leaks_in_tree(backups, secrets) == {}
    published = installed_env.profile_dir / "crypto_assets.published.duckdb"
    for database in (installed_env.database, published):
        assert database.is_file() and leaks_in(duckdb_text(database), secrets) == []
    assert leaks_in(_mlflow_text(tmp_path / "artifacts"), secrets) == []
    log_lines = (installed_env.root / "dagster_home" / "logs" / "crypto_assets.jsonl").read_text()
    assert '"service": "cli"' in log_lines and '"event": "STEP_SUCCESS"' in log_lines
    assert "alert channel email failed" in log_lines  # the failure was logged, masked
