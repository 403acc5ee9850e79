"""Backup and restore on a real installation (the demo pipeline on a cut of a real snapshot:
DuckDB database and its published read copy, a persistent Dagster instance, an MLflow store with
the registered signal models). Restored into a fresh folder, ``crypto-assets top --json`` and the
model versions come back identical, read by the real commands from the restored folder alone; a
damaged, partial, extended or symlinked backup is refused before anything is written; old
backups are pruned; a running writer does not stop a backup of the published results."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from crypto_assets.cli import app
from crypto_assets.ml import registry, tracking
from crypto_assets.ops.backup import (
    MANIFEST,
    MANIFEST_SUM,
    BackupError,
    BackupResult,
    BackupSources,
    create_backup,
    prune_backups,
    restore_backup,
    sha256_of,
    verify_backup,
)
from crypto_assets.ops.paths import UnsafePathError
from crypto_assets.settings import Settings
from crypto_assets.storage import publish
from crypto_assets_tests.fixtures import isolated_settings
from crypto_assets_tests.ops.installation import Installation
from crypto_assets_tests.ops.leaks import sqlite_text

PATH_VARIABLES = (
    "CRYPTO_ASSETS_DATA_DIR",
    "CRYPTO_ASSETS_MLFLOW_TRACKING_URI",
    "CRYPTO_ASSETS_MLFLOW_ARTIFACT_ROOT",
    "DAGSTER_HOME",
)


def _settings(installation: Installation) -> Settings:
    env = installation.env
    return Settings(
        _env_file=None,
        profile="demo",
        source="snapshot",
        snapshot_dir=installation.snapshot,
        data_dir=Path(env["CRYPTO_ASSETS_DATA_DIR"]),
        mlflow_tracking_uri=env["CRYPTO_ASSETS_MLFLOW_TRACKING_URI"],
        mlflow_artifact_root=Path(env["CRYPTO_ASSETS_MLFLOW_ARTIFACT_ROOT"]),
        dagster_home=Path(env["DAGSTER_HOME"]),
    )


@pytest.fixture(scope="module")
def backup(installation: Installation, tmp_path_factory: pytest.TempPathFactory) -> BackupResult:
    sources = BackupSources.from_settings(_settings(installation))
    return create_backup(sources, tmp_path_factory.mktemp("backups"), keep=3)


def _tables(database: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(database), read_only=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "select table_schema || '.' || table_name from information_schema.tables order by 1"
            ).fetchall()
        ]
        return {n: conn.execute(f"select * from {n}").df() for n in names}


def _same_tables(left: Path, right: Path) -> list[str]:
    before, after = _tables(left), _tables(right)
    assert set(before) == set(after)
    for name, frame in before.items():
        order = list(frame.columns)
        pd.testing.assert_frame_equal(
            frame.sort_values(order).reset_index(drop=True),
            after[name].sort_values(order).reset_index(drop=True),
        )
    return sorted(before)


def _read_commands() -> dict:
    """What a user sees: the top list and the status (models, and assets without their age,
    which moves with the clock), through the real commands."""
    runner = CliRunner()
    top = runner.invoke(app, ["top", "--json", "--demo"], catch_exceptions=False)
    status = json.loads(runner.invoke(app, ["status", "--json", "--demo"]).stdout)
    assets = [{k: v for k, v in row.items() if k != "age_hours"} for row in status["assets"]]
    return {"top": json.loads(top.stdout), "models": status["models"], "assets": assets}


def _registry() -> dict:
    """Every registered version with its alias, run metrics and checks verdict."""
    client = MlflowClient()
    found = {}
    for model in client.search_registered_models():
        for version in client.search_model_versions(f"name = '{model.name}'"):
            run = client.get_run(version.run_id)
            found[f"{model.name} v{version.version}"] = {
                "aliases": sorted(version.aliases),
                "checks": version.tags.get("checks_passed"),
                "metrics": run.data.metrics,
                "params": run.data.params,
            }
    return found


def test_restore_reproduces_top_and_model_versions(
    installed_env: Installation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["backup", str(tmp_path / "backups")])
    assert made.exit_code == 0, made.output
    [folder] = (tmp_path / "backups").iterdir()
    original = _read_commands()
    settings = _settings(installed_env)
    registry.configure_tracking(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    original_registry = _registry()
    assert original["top"]["day"] == "2024-05-31" and original["top"]["reason"]
    in_use = {m["horizon"] for m in original["models"] if m.get("in_use")}
    assert in_use  # the tiny real run puts models in use (1h and 24h at least, usually)

    fresh = tmp_path / "fresh"
    restored = runner.invoke(app, ["restore", str(folder), str(fresh)])
    assert restored.exit_code == 0, restored.output
    env = dict(line.split("=", 1) for line in (fresh / "restored.env").read_text().splitlines())
    assert set(env) == set(PATH_VARIABLES)
    for name in PATH_VARIABLES:
        assert str(fresh) in env[name]
        monkeypatch.setenv(name, env[name])
    monkeypatch.chdir(tmp_path)
    assert _read_commands() == original
    registry.configure_tracking(
        env["CRYPTO_ASSETS_MLFLOW_TRACKING_URI"], env["CRYPTO_ASSETS_MLFLOW_ARTIFACT_ROOT"]
    )
    assert _registry() == original_registry

    # the restored copy stands alone: no path of the original left in the MLflow store, the
    # model in use loads from the restored folder, the tables are the same
    assert str(installed_env.root) not in sqlite_text(fresh / "mlruns" / "mlflow.db")
    horizon = sorted(in_use)[0]
    model, version = tracking.load_champion(
        tracking.model_name(horizon, "demo"), tmp_path / "downloads"
    )
    assert model.features and version == "1"
    local = MlflowClient().get_model_version(tracking.model_name(horizon, "demo"), version)
    assert local.tags["local_dir"].startswith(str(fresh / "data"))
    data = fresh / "data" / "demo"  # the demo profile's folder, restored where it was
    published = installed_env.profile_dir / "crypto_assets.published.duckdb"
    tables = _same_tables(published, data / "crypto_assets.published.duckdb")
    assert {"crypto.predictions", "crypto.top_coins", "publication.manifest"} <= set(tables)
    pipeline = _same_tables(installed_env.database, data / "crypto_assets.duckdb")
    assert "publication.manifest" not in pipeline  # the stamp belongs to the read copy
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
    assert {r.job_name for r in runs} >= {"market_job", "retrain_job", "predictions_job"}
    assert (Path(env["DAGSTER_HOME"]) / "logs" / "crypto_assets.jsonl").stat().st_size > 0
    stored = json.loads((fresh / "settings.json").read_text())
    assert stored["values"]["data_dir"] == str(installed_env.data_dir)
    assert "alert_webhook_url" not in stored["values"]
    assert "alert_webhook_url" in stored["secrets_set"]  # its name only: the value is a secret


def _copy(backup: BackupResult, tmp_path: Path) -> Path:
    copy = tmp_path / backup.path.name
    shutil.copytree(backup.path, copy, symlinks=True)
    return copy


def _parquet(folder: Path) -> Path:
    return next(folder.glob("duckdb/**/crypto_assets/*.parquet"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("flip", "does not match its checksum: damaged"),
        ("missing", "is missing: partial backup"),
        ("extra", "is not in the manifest: refused"),
        ("symlink", "is a symlink: refused"),
        ("manifest", "does not match manifest.sha256: damaged"),
        ("traversal", "unsafe entry in the manifest"),
        ("incomplete", "missing: incomplete backup"),
    ],
)
def test_damaged_backup_is_refused(
    backup: BackupResult, tmp_path: Path, damage: str, message: str
) -> None:
    copy = _copy(backup, tmp_path)
    if damage == "flip":
        target = _parquet(copy)
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
    elif damage == "missing":
        _parquet(copy).unlink()
    elif damage == "extra":
        (copy / "data" / "planted.sh").write_text("echo hi")
    elif damage == "symlink":
        (copy / "data" / "link").symlink_to("/etc")
    elif damage == "manifest":
        manifest = json.loads((copy / MANIFEST).read_text())
        manifest["created_at"] = "1999-01-01T00:00:00+00:00"
        (copy / MANIFEST).write_text(json.dumps(manifest))
    elif damage == "traversal":
        manifest = json.loads((copy / MANIFEST).read_text())
        manifest["files"]["../escape.txt"] = {"sha256": "0" * 64, "bytes": 1}
        (copy / MANIFEST).write_text(json.dumps(manifest))
        (copy / MANIFEST_SUM).write_text(f"{sha256_of(copy / MANIFEST)}  {MANIFEST}\n")
    elif damage == "incomplete":
        (copy / MANIFEST_SUM).unlink()
    dest = tmp_path / "restore-here"
    with pytest.raises(BackupError, match=message):
        restore_backup(copy, dest)
    assert not dest.exists()  # refused before anything was written


def test_cli_refuses_a_damaged_backup(backup: BackupResult, tmp_path: Path) -> None:
    copy = _copy(backup, tmp_path)
    shutil.rmtree(copy / "mlflow")  # a partial copy (a transfer that stopped half-way)
    refused = CliRunner().invoke(app, ["restore", str(copy), str(tmp_path / "r")])
    assert refused.exit_code == 1
    assert "restore refused" in refused.output and "is missing: partial backup" in refused.output
    assert not (tmp_path / "r").exists()


def test_paths_are_validated(
    installation: Installation, backup: BackupResult, tmp_path: Path
) -> None:
    busy = tmp_path / "busy"
    (busy / "x").mkdir(parents=True)
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(backup.path, busy)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(UnsafePathError, match="is a symlink"):
        restore_backup(backup.path, link)
    sources = BackupSources.from_settings(_settings(installation))
    with pytest.raises(UnsafePathError, match="is a symlink"):
        create_backup(sources, link)
    with pytest.raises(BackupError, match="which is backed up"):
        create_backup(sources, installation.data_dir / "backups")
    with pytest.raises(BackupError, match="holds 1 backup"):
        verify_backup(backup.path.parent)


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "install")
    (settings.data_dir).mkdir(parents=True)
    (settings.data_dir / "notes.txt").write_text("kept")
    sources = BackupSources.from_settings(settings)
    dest = tmp_path / "backups"
    dest.mkdir()
    (dest / "my-own-folder").mkdir()
    made = [
        create_backup(
            sources, dest, keep=2, now=pd.Timestamp(f"2026-11-2{i}T10:00:00Z").to_pydatetime()
        )
        for i in (1, 2, 3)
    ]
    left = sorted(p.name for p in dest.iterdir())
    assert left == sorted(["my-own-folder", made[1].path.name, made[2].path.name])
    assert made[2].pruned == [made[0].path]
    assert {s["reason"] for s in made[0].manifest["skipped"]} == {"not present"}
    assert prune_backups(dest, 1) == [made[1].path]


def _hold_writer(database: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(database)!r}); "
            "c.execute('begin'); c.execute('insert into crypto.t values (2)'); "
            "print('held', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_running_writer_does_not_stop_a_backup_of_published_results(tmp_path: Path) -> None:
    """The backup reads the published read copy (the last finished run's results), so a run
    holding the database neither blocks it nor leaks its half-written state into it."""
    settings = isolated_settings(tmp_path / "install")
    database = settings.resolved_duckdb_path
    database.parent.mkdir(parents=True)
    with duckdb.connect(str(database)) as conn:
        conn.execute("create schema crypto; create table crypto.t as select 1 x")
    sources = BackupSources.from_settings(settings)
    holder = _hold_writer(database)
    try:
        with pytest.raises(BackupError, match="no published read copy and is being written"):
            create_backup(sources, tmp_path / "b1")
    finally:
        holder.kill()
        holder.wait()
    publish(database, run_id="run-1")  # what the publish sensor does after a run
    holder = _hold_writer(database)
    try:
        result = create_backup(sources, tmp_path / "b2")
    finally:
        holder.kill()
        holder.wait()
    facts = result.manifest["parts"]["duckdb"]["duckdb/crypto_assets"]
    assert facts["published"] is True and facts["run_id"] == "run-1"
    restored = restore_backup(result.path, tmp_path / "restored")
    with duckdb.connect(str(restored.dest / "data" / "crypto_assets.duckdb")) as conn:
        assert conn.execute("select x from crypto.t").fetchall() == [(1,)]  # not the 2
