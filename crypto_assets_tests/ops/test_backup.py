"""Backup and restore on a real installation: market data and features materialized from a cut
of a real snapshot (DuckDB), a persistent Dagster instance, an MLflow store with registered
model versions. Restored into a fresh folder, everything reads back identical; a damaged,
partial, extended or symlinked backup is refused before anything is written."""

import json
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from crypto_assets.ml import registry
from crypto_assets.ops.backup import (
    MANIFEST,
    MANIFEST_SUM,
    BackupError,
    BackupSources,
    create_backup,
    prune_backups,
    restore_backup,
    sha256_of,
    verify_backup,
)
from crypto_assets.ops.cli import ops_app
from crypto_assets.ops.paths import UnsafePathError
from crypto_assets.settings import Settings
from crypto_assets_tests.ops.conftest import MODEL


def _tables(database: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(database), read_only=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "select table_schema || '.' || table_name from information_schema.tables order by 1"
            ).fetchall()
        ]
        return {n: conn.execute(f"select * from {n}").df() for n in names}


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_restore_reproduces_tables_models_and_runs(installed_env: dict, tmp_path: Path) -> None:
    settings, backup = installed_env["settings"], installed_env["backup"]
    assert backup.path.name.startswith("crypto-assets-backup-")
    restored = restore_backup(backup.path, tmp_path / "restored")
    before, after = (
        _tables(settings.resolved_duckdb_path),
        _tables(restored.dest / "data" / "crypto_assets.duckdb"),
    )
    assert set(before) == set(after) and {"crypto.clean_ohlcv", "crypto.technical_features"} <= set(
        before
    )
    assert len(before["crypto.technical_features"]) >= 3 * 7 * 25  # hourly + daily rows
    for name, frame in before.items():
        pd.testing.assert_frame_equal(_sorted(frame), _sorted(after[name]), check_dtype=True)
    # MLflow: same versions and alias; artifacts load from the restored folder only
    old_root = installed_env["root"]
    shutil.move(old_root / "mlruns", old_root / "mlruns.moved")
    shutil.move(settings.data_dir / "models", old_root / "models.moved")
    try:
        registry.configure_tracking(
            restored.env["CRYPTO_ASSETS_MLFLOW_TRACKING_URI"],
            restored.env["CRYPTO_ASSETS_MLFLOW_ARTIFACT_ROOT"],
        )
        client = MlflowClient()
        versions = sorted(str(v.version) for v in client.search_model_versions(f"name='{MODEL}'"))
        assert versions == installed_env["versions"]
        assert str(client.get_model_version_by_alias(MODEL, "champion").version) == versions[0]
        folder = registry.version_dir(MODEL, versions[1], tmp_path / "downloads", "model.json")
        assert json.loads((folder / "model.json").read_text()) == {"weights": "w2"}
        assert str(restored.dest) in client.get_model_version(MODEL, versions[1]).tags["local_dir"]
    finally:
        shutil.move(old_root / "mlruns.moved", old_root / "mlruns")
        shutil.move(old_root / "models.moved", settings.data_dir / "models")
    # Dagster: the restored instance has the same runs; logs came along
    home = Path(restored.env["DAGSTER_HOME"])
    os.environ["DAGSTER_HOME"], saved = str(home), os.environ["DAGSTER_HOME"]
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert instance.get_runs_count() == installed_env["runs"] > 0
    finally:
        os.environ["DAGSTER_HOME"] = saved
    assert (home / "logs" / "crypto_assets.jsonl").stat().st_size > 0
    stored = json.loads((restored.dest / "settings.json").read_text())
    assert stored["values"]["source"] == "snapshot" and "alert_email_url" not in stored["values"]
    assert "alert_email_url" in stored["secrets_set"]  # its name only: the value is a secret


def _copy(installed_env: dict, tmp_path: Path) -> Path:
    copy = tmp_path / installed_env["backup"].path.name
    shutil.copytree(installed_env["backup"].path, copy, symlinks=True)
    return copy


def _parquet(folder: Path) -> Path:
    return next(folder.glob("duckdb/crypto_assets/*.parquet"))


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
    installed_env: dict, tmp_path: Path, damage: str, message: str
) -> None:
    copy = _copy(installed_env, tmp_path)
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


def test_paths_are_validated(installed_env: dict, tmp_path: Path) -> None:
    backup = installed_env["backup"].path
    busy = tmp_path / "busy"
    (busy / "x").mkdir(parents=True)
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(backup, busy)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(UnsafePathError, match="is a symlink"):
        restore_backup(backup, link)
    with pytest.raises(UnsafePathError, match="is a symlink"):
        create_backup(BackupSources.from_settings(installed_env["settings"], tmp_path), link)
    inside = installed_env["settings"].data_dir / "backups"
    with pytest.raises(BackupError, match="which is backed up"):
        create_backup(BackupSources.from_settings(installed_env["settings"], tmp_path), inside)
    with pytest.raises(BackupError, match="holds 1 backup"):
        verify_backup(backup.parent)


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        mlflow_tracking_uri=f"sqlite:///{tmp_path}/m.db",
        mlflow_artifact_root=tmp_path / "art",
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("kept")
    sources = BackupSources.from_settings(settings, tmp_path / "no_home")
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


def test_cli_backup_and_restore(installed_env: dict, tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(ops_app, ["backup", str(tmp_path / "b"), "--keep", "1"])
    assert made.exit_code == 0, made.output
    assert "backup written:" in made.output
    [folder] = list((tmp_path / "b").iterdir())
    restored = runner.invoke(ops_app, ["restore", str(folder), str(tmp_path / "r")])
    assert restored.exit_code == 0, restored.output
    assert "CRYPTO_ASSETS_DATA_DIR=" in restored.output
    (folder / "data" / "extra.txt").write_text("x")
    refused = runner.invoke(ops_app, ["restore", str(folder), str(tmp_path / "r2")])
    assert refused.exit_code == 1 and "restore refused" in refused.output
