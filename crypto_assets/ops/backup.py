"""Backup and restore of everything a user would miss: the DuckDB data (predictions, realised
outcomes and every other table), model files, the MLflow store (database and artifacts), the
Dagster instance storage and logs, and the settings WITHOUT secrets.

Consistency: each DuckDB database is exported with DuckDB's own ``EXPORT DATABASE`` from its
PUBLISHED READ COPY (``crypto_assets.storage.publish``): the immutable state of the last
successful run, which a running pipeline never holds or changes, so a backup never waits for a
run and never catches one half-way (a database never published is exported from itself
read-only; a writer holding it then stops the backup with a clear error). SQLite files (MLflow,
Dagster, alert state) are copied with SQLite's online backup API; other files are copied. A
backup is written under a temporary name and renamed once complete, so a crash never leaves
something that looks like a backup. Every file is listed in ``manifest.json`` with its SHA-256;
``manifest.sha256`` guards the manifest itself.

Restore goes into a fresh folder only and verifies everything first: a flipped byte, a missing
file, a file the manifest does not list, or any symlink refuses the whole backup. Each database
comes back as the pipeline's file and its published read copy (what readers open), and
restored MLflow paths are rebased to the new folder, so registered models load from there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from crypto_assets import __version__
from crypto_assets.ops.paths import UnsafePathError, is_inside, resolve_inside, user_directory
from crypto_assets.settings import Settings
from crypto_assets.storage.publish import MANIFEST_SCHEMA, PUBLISHED_SUFFIX, published_path

FORMAT = 1
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"
PREFIX = "crypto-assets-backup-"
NAME = re.compile(rf"^{PREFIX}\d{{8}}T\d{{6}}Z$")
_SQLITE_HEADER = b"SQLite format 3\x00"
_TRANSIENT = (".wal", "-wal", "-shm", "-journal", ".lock", ".tmp")


class BackupError(RuntimeError):
    """A backup that cannot be made or must not be restored; the message says why."""


@dataclass(frozen=True)
class BackupSources:
    """What one installation keeps, in folders (a missing folder is recorded, not an error)."""

    data_dir: Path
    mlflow_db: Path | None  # None: a tracking server keeps the runs (backed up on its side)
    mlflow_artifacts: Path
    dagster_home: Path
    log_dir: Path | None
    settings: dict[str, Any]
    extra_duckdb: tuple[Path, ...] = ()  # DuckDB files outside data_dir
    mlflow_uri: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> BackupSources:
        uri = settings.mlflow_tracking_uri
        mlflow_db = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
        duckdb_path = settings.resolved_duckdb_path
        outside = () if is_inside(duckdb_path, settings.data_dir) else (duckdb_path,)
        return cls(
            data_dir=settings.data_dir,
            mlflow_db=mlflow_db,
            mlflow_artifacts=settings.mlflow_artifact_root,
            dagster_home=settings.dagster_home,
            log_dir=settings.log_dir,
            settings=settings_without_secrets(settings),
            extra_duckdb=outside,
            mlflow_uri=uri,
        )

    def roots(self) -> list[Path]:
        found = [self.data_dir, self.mlflow_artifacts, self.dagster_home]
        found += [p for p in (self.log_dir, self.mlflow_db) if p is not None]
        return found


def settings_without_secrets(settings: Settings) -> dict[str, Any]:
    """Every setting as JSON data, secrets left out (only their names, when set)."""
    values = settings.model_dump(mode="json")
    secret_names = [
        name
        for name in type(settings).model_fields
        if isinstance(getattr(settings, name), SecretStr)
    ]
    for name in secret_names:
        values.pop(name)
    return {"values": values, "secrets_set": sorted(secret_names)}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class _Writer:
    """Builds a backup folder and remembers what went in."""

    root: Path
    skipped: list[dict[str, str]] = field(default_factory=list)

    def target(self, relative: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def copy_tree(self, source: Path, prefix: str, exclude_duckdb: bool = False) -> None:
        if not source.is_dir():
            self.skipped.append({"path": str(source), "reason": "not present"})
            return
        for path in _walk(source, self.skipped):
            relative = path.relative_to(source).as_posix()
            if path.name.endswith(_TRANSIENT) or relative.startswith(".doctor-"):
                continue
            if exclude_duckdb and path.suffix == ".duckdb":
                continue  # exported separately
            self.copy_file(path, f"{prefix}/{relative}")

    def copy_file(self, source: Path, relative: str) -> None:
        target = self.target(relative)
        with source.open("rb") as handle:
            is_sqlite = handle.read(16) == _SQLITE_HEADER
        if is_sqlite:
            _sqlite_copy(source, target)
        else:
            shutil.copy2(source, target)


def _walk(root: Path, skipped: list[dict[str, str]]) -> Iterator[Path]:
    """Regular files under ``root``; symlinks are recorded as skipped, never followed."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        for name in list(dirs):
            if (here / name).is_symlink():
                skipped.append({"path": str(here / name), "reason": "symlink, not followed"})
                dirs.remove(name)
        for name in sorted(files):
            path = here / name
            if path.is_symlink():
                skipped.append({"path": str(path), "reason": "symlink, not followed"})
            elif path.is_file():
                yield path


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (its WAL included) by the backup API, as one
    self-contained file (no WAL mode)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("pragma journal_mode=delete")
    finally:
        src.close()
        dst.close()


def _export_duckdb(database: Path, target: Path) -> dict[str, Any]:
    """Export ``database`` as of its published read copy (its own file when never published);
    returns what was read, for the manifest."""
    import duckdb

    copy = published_path(database)
    source = copy if copy.is_file() else database
    facts: dict[str, Any] = {"database": str(database), "published": source == copy}
    try:
        with duckdb.connect(str(source), read_only=True) as conn:
            if facts["published"]:
                published_at, run_id = conn.execute(
                    f"select published_at, run_id from {MANIFEST_SCHEMA}.manifest"
                ).fetchone()
                facts |= {"published_at": str(published_at), "run_id": run_id}
            conn.execute(f"EXPORT DATABASE '{_sql_path(target)}' (FORMAT parquet)")
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise BackupError(
                f"{database} has no published read copy and is being written (a run?): "
                "retry when the run ends (it publishes one)"
            ) from exc
        raise BackupError(f"cannot read {source}: {exc}") from exc
    return facts


def _sql_path(path: Path) -> str:
    text = str(path)
    if "'" in text:
        raise UnsafePathError(f"{path} contains a quote; choose another folder")
    return text


def _duckdb_files(sources: BackupSources, skipped: list[dict[str, str]]) -> dict[str, Path]:
    """``duckdb/<relative name>`` -> database file, for every DuckDB database kept (a published
    read copy stands for its database, which it is exported in place of)."""
    found: dict[str, Path] = {}
    if sources.data_dir.is_dir():
        for path in _walk(sources.data_dir, skipped):
            if path.suffix != ".duckdb":
                continue
            database = path.with_name(
                path.name.removesuffix(PUBLISHED_SUFFIX).removesuffix(".duckdb")
            )
            relative = database.relative_to(sources.data_dir).as_posix()
            database = database.with_name(database.name + ".duckdb")
            found[f"duckdb/{relative}"] = database
    for path in sources.extra_duckdb:
        if path.is_file() or published_path(path).is_file():
            found[f"duckdb/_external/{path.stem}"] = path
    return found


def _postgres_instance(dagster_home: Path) -> bool:
    config = dagster_home / "dagster.yaml"
    return config.is_file() and "postgres" in config.read_text()


def _fill(writer: _Writer, sources: BackupSources) -> dict[str, Any]:
    """Write every part into the (temporary) backup folder; returns the manifest's ``parts``."""
    duckdb_parts = {
        relative: _export_duckdb(database, writer.target(relative))
        for relative, database in _duckdb_files(sources, writer.skipped).items()
    }
    writer.copy_tree(sources.data_dir, "data", exclude_duckdb=True)
    if sources.mlflow_db is not None and sources.mlflow_db.is_file():
        writer.copy_file(sources.mlflow_db, "mlflow/mlflow.db")
    elif sources.mlflow_db is None:
        writer.skipped.append(
            {
                "path": "MLflow runs and registry",
                "reason": "kept by a tracking server: back up its database and artifact store",
            }
        )
    writer.copy_tree(sources.mlflow_artifacts, "mlflow/artifacts")
    writer.copy_tree(sources.dagster_home, "dagster")
    if _postgres_instance(sources.dagster_home):
        writer.skipped.append(
            {"path": "dagster instance storage", "reason": "Postgres: back it up with pg_dump"}
        )
    if sources.log_dir and not is_inside(sources.log_dir, sources.dagster_home):
        writer.copy_tree(sources.log_dir, "logs")
    writer.target("settings.json").write_text(json.dumps(sources.settings, indent=1))
    return {
        "duckdb": duckdb_parts,
        "data_dir": str(sources.data_dir),
        "mlflow_db": str(sources.mlflow_db) if sources.mlflow_db else None,
        "mlflow_artifacts": str(sources.mlflow_artifacts),
        "dagster_home": str(sources.dagster_home),
        "log_dir": str(sources.log_dir) if sources.log_dir else None,
    }


def _write_manifest(root: Path, name: str, created: datetime, parts: dict, skipped: list) -> dict:
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        files[relative] = {"sha256": sha256_of(path), "bytes": path.stat().st_size}
    manifest = {
        "format": FORMAT,
        "product": "crypto_assets",
        "version": __version__,
        "name": name,
        "created_at": created.isoformat(),
        "parts": parts,
        "skipped": skipped,
        "files": files,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    digest = sha256_of(root / MANIFEST)
    (root / MANIFEST_SUM).write_text(f"{digest}  {MANIFEST}\n")
    return manifest


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    pruned: list[Path]


def create_backup(
    sources: BackupSources, dest: str | Path, keep: int | None = None, now: datetime | None = None
) -> BackupResult:
    """Write one complete backup into a new folder under ``dest``; keep the newest ``keep``."""
    dest_root = user_directory(dest)
    for source in sources.roots():
        if is_inside(dest_root, source):
            raise BackupError(f"{dest_root} is inside {source}, which is backed up: choose another")
    dest_root.mkdir(parents=True, exist_ok=True)
    created = (now or datetime.now(UTC)).astimezone(UTC)
    name = f"{PREFIX}{created:%Y%m%dT%H%M%SZ}"
    final = dest_root / name
    if final.exists():
        raise BackupError(f"{final} already exists (two backups in one second?)")
    partial = Path(tempfile.mkdtemp(prefix=f".partial-{name}-", dir=dest_root))
    try:
        writer = _Writer(partial)
        parts = _fill(writer, sources)
        manifest = _write_manifest(partial, name, created, parts, writer.skipped)
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    pruned = prune_backups(dest_root, keep) if keep else []
    return BackupResult(final, manifest, pruned)


def prune_backups(dest_root: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` complete backups in ``dest_root`` (only folders this
    module made: matching names, with a manifest, not symlinks). Returns what was deleted."""
    if keep < 1:
        raise BackupError("keep must be at least 1")
    ours = sorted(
        (p for p in dest_root.iterdir() if NAME.match(p.name) and not p.is_symlink()),
        key=lambda p: p.name,
    )
    complete = [p for p in ours if (p / MANIFEST_SUM).is_file()]
    doomed = complete[:-keep]
    for path in doomed:
        shutil.rmtree(path)
    return doomed


# --- verify and restore ------------------------------------------------------------------------


def _backup_folder(src: str | Path) -> Path:
    folder = user_directory(src, must_exist=True)
    if (folder / MANIFEST).is_file() or (folder / MANIFEST_SUM).is_file():
        return folder
    inside = sorted(p.name for p in folder.iterdir() if NAME.match(p.name))
    if inside:
        raise BackupError(
            f"{folder} holds {len(inside)} backup(s), not one: name one, e.g. {folder / inside[-1]}"
        )
    raise BackupError(f"{folder} is not a backup (no {MANIFEST}): incomplete or not ours")


def verify_backup(src: str | Path) -> tuple[Path, dict[str, Any]]:
    """The backup folder and its manifest, after checking every byte; raises :class:`BackupError`
    naming the first problem (damaged, missing, extra, symlinked or unsafe entries)."""
    folder = _backup_folder(src)
    if not (folder / MANIFEST_SUM).is_file() or not (folder / MANIFEST).is_file():
        raise BackupError(f"{folder}: {MANIFEST} or {MANIFEST_SUM} missing: incomplete backup")
    expected = (folder / MANIFEST_SUM).read_text().split()[0]
    if sha256_of(folder / MANIFEST) != expected:
        raise BackupError(f"{folder}: {MANIFEST} does not match {MANIFEST_SUM}: damaged")
    manifest = json.loads((folder / MANIFEST).read_text())
    if manifest.get("format") != FORMAT or manifest.get("product") != "crypto_assets":
        raise BackupError(f"{folder}: not a crypto_assets backup of format {FORMAT}")
    listed = manifest["files"]
    for relative, facts in listed.items():
        try:
            path = resolve_inside(folder, relative)
        except UnsafePathError as exc:
            raise BackupError(f"{folder}: unsafe entry in the manifest: {exc}") from exc
        if not path.is_file():
            raise BackupError(f"{folder}: {relative} is missing: partial backup")
        if path.stat().st_size != facts["bytes"] or sha256_of(path) != facts["sha256"]:
            raise BackupError(f"{folder}: {relative} does not match its checksum: damaged")
    for entry in folder.rglob("*"):
        relative = entry.relative_to(folder).as_posix()
        if entry.is_symlink():
            raise BackupError(f"{folder}: {relative} is a symlink: refused")
        if entry.is_file() and relative not in listed and relative not in (MANIFEST, MANIFEST_SUM):
            raise BackupError(f"{folder}: {relative} is not in the manifest: refused")
    return folder, manifest


@dataclass(frozen=True)
class RestoreResult:
    dest: Path
    env: dict[str, str]  # what to set to use the restored copy
    duckdb_files: list[Path]


def _fresh_destination(dest: str | Path) -> Path:
    target = user_directory(dest)
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty: restore goes into a new or empty folder only")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _import_duckdb(export_dir: Path, database: Path, published: bool) -> list[Path]:
    """Rebuild a database from its export; one exported from a published read copy comes back
    as that copy (its publication stamp kept) and as the pipeline's file beside it (without
    the stamp, which belongs to the copy). Returns the files written."""
    import duckdb

    database.parent.mkdir(parents=True, exist_ok=True)
    first = published_path(database) if published else database
    with duckdb.connect(str(first)) as conn:
        conn.execute(f"IMPORT DATABASE '{_sql_path(export_dir)}'")
        conn.execute("checkpoint")
    if not published:
        return [database]
    shutil.copyfile(first, database)
    with duckdb.connect(str(database)) as conn:
        conn.execute(f"drop schema if exists {MANIFEST_SCHEMA} cascade")
        conn.execute("checkpoint")
    return [database, first]


def _rebase_sqlite(database: Path, replacements: list[tuple[str, str]]) -> None:
    """Rewrite absolute paths of the old installation in every text column (MLflow keeps
    artifact locations and local model folders as absolute paths / file URIs). One pass per
    value, longest match first, so a new folder inside the old one is not rewritten twice."""
    mapping = dict(r for r in replacements if r[0])
    pattern = re.compile("|".join(re.escape(old) for old in sorted(mapping, key=len, reverse=True)))
    conn = sqlite3.connect(database)
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            columns = conn.execute(f'pragma table_info("{table}")').fetchall()
            for column in [c[1] for c in columns if re.search("CHAR|TEXT", c[2].upper())]:
                rows = conn.execute(
                    f'select rowid, "{column}" from "{table}" where "{column}" is not null'
                ).fetchall()
                changed = [
                    (pattern.sub(lambda m: mapping[m.group(0)], value), rowid)
                    for rowid, value in rows
                    if isinstance(value, str) and pattern.search(value)
                ]
                conn.executemany(f'update "{table}" set "{column}" = ? where rowid = ?', changed)
        conn.commit()
    finally:
        conn.close()


def _copy_part(folder: Path, manifest: dict, prefix: str, target: Path) -> None:
    for relative in manifest["files"]:
        if relative.startswith(prefix + "/"):
            destination = resolve_inside(target, relative.removeprefix(prefix + "/"))
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / relative, destination)


def restore_backup(src: str | Path, dest: str | Path) -> RestoreResult:
    """Verify ``src`` completely, then rebuild it under the fresh folder ``dest``:
    ``data/`` (DuckDB files re-imported, model files), ``mlruns/`` (MLflow database, artifacts,
    paths rebased), ``dagster_home/``, ``logs/``, ``settings.json`` and ``restored.env``."""
    folder, manifest = verify_backup(src)
    target = _fresh_destination(dest)
    parts = manifest["parts"]
    layout = {
        "data": target / "data",
        "mlflow/artifacts": target / "mlruns" / "artifacts",
        "dagster": target / "dagster_home",
        "logs": target / "logs",
    }
    for prefix, where in layout.items():
        _copy_part(folder, manifest, prefix, where)
    databases = []
    for relative, facts in parts["duckdb"].items():
        name = relative.removeprefix("duckdb/").removeprefix("_external/")
        database = resolve_inside(layout["data"], f"{name}.duckdb")
        databases += _import_duckdb(
            resolve_inside(folder, relative), database, bool(facts.get("published"))
        )
    mlflow_db = target / "mlruns" / "mlflow.db"
    if "mlflow/mlflow.db" in manifest["files"]:
        shutil.copy2(folder / "mlflow" / "mlflow.db", mlflow_db)
        old_artifacts = Path(parts["mlflow_artifacts"])
        old_store = Path(parts["mlflow_db"]).parent  # e.g. the Default experiment's folder
        _rebase_sqlite(
            mlflow_db,
            [
                (old_artifacts.as_uri(), layout["mlflow/artifacts"].as_uri()),
                (str(old_artifacts), str(layout["mlflow/artifacts"])),
                (str(Path(parts["data_dir"])), str(layout["data"])),
                (old_store.as_uri(), mlflow_db.parent.as_uri()),
                (str(old_store), str(mlflow_db.parent)),
            ],
        )
    shutil.copy2(folder / "settings.json", target / "settings.json")
    env = {
        "CRYPTO_ASSETS_DATA_DIR": str(layout["data"]),
        "CRYPTO_ASSETS_MLFLOW_TRACKING_URI": f"sqlite:///{mlflow_db}",
        "CRYPTO_ASSETS_MLFLOW_ARTIFACT_ROOT": str(layout["mlflow/artifacts"]),
        "DAGSTER_HOME": str(layout["dagster"]),
    }
    (target / "restored.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return RestoreResult(target, env, databases)
