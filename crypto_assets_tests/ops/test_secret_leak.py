"""Planted secrets (API keys, a bot token, alert URLs carrying a webhook token and a mail
password, a Postgres password) never reach a log file, a DuckDB table, the MLflow store, the
Dagster instance, a backup, or the console — after a real materialize, a real MLflow run and
real CLI commands that use those secrets (the alert test really posts to the webhook)."""

import json
from pathlib import Path

import duckdb
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from crypto_assets.cli import app
from crypto_assets.ml import registry
from crypto_assets.ops.cli import ops_app
from crypto_assets_tests.ops.conftest import HOOK_TOKEN, SECRETS, SMTP_PASSWORD

PLANTED = [*SECRETS.values(), SMTP_PASSWORD, HOOK_TOKEN]


def _leaks(text: str) -> list[str]:
    return [secret for secret in PLANTED if secret in text]


def _file_leaks(root: Path) -> dict[str, list[str]]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and "snap" not in path.parts:
            data = path.read_bytes()
            hits = [s for s in PLANTED if s.encode() in data]
            if hits:
                found[str(path.relative_to(root))] = hits
    return found


def _duckdb_leaks(database: Path) -> list[str]:
    found = []
    with duckdb.connect(str(database), read_only=True) as conn:
        columns = conn.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
        ).fetchall()
        for schema, table, column in columns:
            for secret in PLANTED:
                hits = conn.execute(
                    f'select count(*) from "{schema}"."{table}" '
                    f"where cast(\"{column}\" as varchar) like '%' || ? || '%'",
                    [secret],
                ).fetchone()[0]
                if hits:
                    found.append(f"{schema}.{table}.{column}")
    return found


def _mlflow_text(settings, tmp_path: Path) -> str:
    """Everything an MLflow run holds, as text: params, tags, metric names, artifact bytes."""
    registry.configure_tracking(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    client = MlflowClient()
    parts = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            parts.append(json.dumps(run.data.params) + json.dumps(run.data.tags))
            parts.append(json.dumps(sorted(run.data.metrics)))
            local = client.download_artifacts(run.info.run_id, "", str(tmp_path))
            for file in Path(local).rglob("*"):
                if file.is_file():
                    parts.append(file.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def test_planted_secrets_leak_nowhere(installed_env: dict, tmp_path: Path) -> None:
    root, settings = installed_env["root"], installed_env["settings"]
    runner = CliRunner()
    console = []
    for command, args in (
        (ops_app, ["doctor", "--json"]),
        (ops_app, ["alert-test"]),
        (ops_app, ["backup", str(root / "backups")]),
        (app, ["status", "--json"]),
    ):
        result = runner.invoke(command, args)
        console.append(result.output)
    # the secrets were really used: the webhook got the test alert on its secret path, and the
    # mail channel (its password refused by a server without AUTH) failed and was logged
    assert any(r["path"] == f"/{HOOK_TOKEN}" for r in installed_env["webhook"].requests)
    assert "email: failed" in console[1] and "webhook: delivered" in console[1]
    log_lines = (root / "dagster_home" / "logs" / "crypto_assets.jsonl").read_text()
    assert '"service": "dagster"' in log_lines and '"service": "cli"' in log_lines
    assert "alert channel email failed" in log_lines

    assert _leaks("\n".join(console)) == []
    assert _file_leaks(root) == {}  # logs, Dagster storage, MLflow db + artifacts, backups
    assert _duckdb_leaks(settings.resolved_duckdb_path) == []
    assert _leaks(_mlflow_text(settings, tmp_path)) == []
    assert json.loads(console[0])["verdict"].startswith("READY")
