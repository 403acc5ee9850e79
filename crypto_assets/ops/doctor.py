"""Health checks of an installation: what ``crypto-assets doctor`` prints and what the
dashboard's status panel shows. Each check returns data (:class:`Check`), never prints.

Statuses: ``ok``; ``info`` (worth knowing, nothing wrong: no GPU, an optional key not set, an
instance not created yet on a fresh clone); ``warn`` (works, but something a user should act
on: source unreachable, daemon not running, little disk); ``fail`` (the product cannot run).
The verdict and exit code follow from the worst status: 0 ready, 3 ready with warnings, 1 not
ready. Checks read and probe; the only things written are the data folder (created when
missing, as a first run would) and a throwaway DuckDB file in it, deleted at once.

Pure like every domain package: the Dagster instance check needs Dagster, so it is handed in
(``crypto_assets.health`` builds the full report for the CLI and the dashboard).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from crypto_assets.ops.monitor import read_gpus
from crypto_assets.settings import ENV_PREFIX, PROJECT_ROOT, SECRET_FIELDS, Settings

Status = Literal["ok", "info", "warn", "fail"]
_RANK = {"ok": 0, "info": 0, "warn": 1, "fail": 2}
CORE_MODULES = ("dagster", "duckdb", "pandas", "pandera", "ccxt", "lightgbm", "mlflow", "apprise")
ALERT_CHANNELS = ("telegram", "discord", "email", "webhook")
ALERT_FIELDS = {f"alert_{channel}_url" for channel in ALERT_CHANNELS}
_GB = 1024**3


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Report:
    checks: list[Check]

    @property
    def worst(self) -> int:
        return max((_RANK[c.status] for c in self.checks), default=0)

    @property
    def verdict(self) -> str:
        return ("READY", "READY WITH WARNINGS", "NOT READY")[self.worst]

    @property
    def exit_code(self) -> int:
        return (0, 3, 1)[self.worst]

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "checks": [asdict(c) for c in self.checks],
        }


def _pins() -> dict[str, str]:
    """Exact pins of the project: from the installed distribution, else from pyproject.toml."""
    try:
        requirements = importlib.metadata.requires("crypto_assets") or []
    except importlib.metadata.PackageNotFoundError:
        pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
        requirements = pyproject["project"]["dependencies"]
    pins = {}
    for requirement in requirements:
        if "==" in requirement and "extra ==" not in requirement:
            name, version = requirement.split(";")[0].split("==")
            pins[name.strip()] = version.strip()
    return pins


def check_imports() -> Check:
    """Every pinned package installed at its pinned version, and the core ones importable."""
    missing, drift = [], []
    for name, pinned in _pins().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if installed.split("+")[0] != pinned:
            drift.append(f"{name} {installed} (pinned {pinned})")
    broken = []
    for module in CORE_MODULES:
        try:
            importlib.import_module(module)
        except Exception as exc:  # any import error is the finding
            broken.append(f"{module}: {type(exc).__name__}: {exc}")
    if missing or broken:
        return Check(
            "imports",
            "fail",
            "; ".join([*(f"{m} not installed" for m in missing), *broken]),
            "make install (or pip install -c requirements.lock -e .)",
        )
    if drift:
        return Check("imports", "warn", "; ".join(drift), "pip install -c requirements.lock -e .")
    return Check("imports", "ok", f"{len(_pins())} pinned packages at their versions")


def check_talib() -> Check:
    try:
        import numpy as np
        import talib

        rsi = talib.RSI(np.arange(1.0, 31.0), timeperiod=14)
    except Exception as exc:
        return Check("ta-lib", "fail", f"{type(exc).__name__}: {exc}", "pip install ta-lib==0.8.2")
    if not np.isclose(rsi[-1], 100.0):  # a steadily rising series has RSI 100
        return Check("ta-lib", "fail", f"RSI of a rising series is {rsi[-1]}, expected 100")
    return Check("ta-lib", "ok", f"TA-Lib {talib.__version__}: indicators compute")


def check_torch(gpu_status: str) -> Check:
    try:
        import torch
    except Exception as exc:
        return Check("torch", "fail", f"{type(exc).__name__}: {exc}", "pip install torch==2.13.0")
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return Check("torch", "ok", f"torch {torch.__version__} on cuda ({name})")
    if gpu_status.startswith("ok"):
        return Check(
            "torch",
            "warn",
            f"torch {torch.__version__} cannot use the NVIDIA GPU that NVML sees (CPU build?)",
            "install a CUDA build of torch (README, GPU)",
        )
    return Check("torch", "ok", f"torch {torch.__version__} on cpu (no NVIDIA GPU)")


def check_gpu(gpu_status: str) -> Check:
    return Check("gpu", "ok" if gpu_status.startswith("ok") else "info", gpu_status)


def check_duckdb(settings: Settings) -> Check:
    """The data folder takes a DuckDB file; the product's database opens (read-only)."""
    import duckdb

    folder = settings.resolved_duckdb_path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with (
            tempfile.TemporaryDirectory(dir=folder, prefix=".doctor-") as scratch,
            duckdb.connect(str(Path(scratch) / "probe.duckdb")) as conn,
        ):
            conn.execute("create table t as select 1 as x")
    except Exception as exc:
        return Check(
            "duckdb", "fail", f"cannot write a DuckDB file in {folder}: {exc}", "fix permissions"
        )
    database = settings.resolved_duckdb_path
    if not database.exists():
        return Check("duckdb", "info", f"{folder} writable; no database yet (created by a run)")
    try:
        with duckdb.connect(str(database), read_only=True) as conn:
            tables = conn.execute("select count(*) from information_schema.tables").fetchone()[0]
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            return Check("duckdb", "warn", f"{database} is locked by a writer (a run?)")
        return Check("duckdb", "fail", f"{database}: {exc}", "restore from a backup")
    except duckdb.Error as exc:
        return Check("duckdb", "fail", f"{database}: {exc}", "restore from a backup")
    return Check("duckdb", "ok", f"{database} readable ({tables} tables), folder writable")


def check_mlflow(settings: Settings, timeout_s: float = 3.0) -> Check:
    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.exists():
            writable = os.access(_existing_parent(path), os.W_OK)
            return Check(
                "mlflow",
                "info" if writable else "fail",
                f"no store yet at {path} (created by the first run)"
                + ("" if writable else "; its folder is not writable"),
            )
        import sqlite3

        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                runs = conn.execute("select count(*) from runs").fetchone()[0]
        except sqlite3.Error as exc:
            return Check("mlflow", "fail", f"{path}: {exc}", "restore the MLflow store")
        return Check("mlflow", "ok", f"sqlite store {path} ({runs} runs)")
    if uri.startswith(("http://", "https://")):
        import requests

        try:
            answer = requests.get(uri.rstrip("/") + "/health", timeout=timeout_s)
        except requests.RequestException as exc:
            return Check("mlflow", "fail", f"{uri} unreachable: {type(exc).__name__}")
        if answer.status_code != 200:
            return Check("mlflow", "fail", f"{uri}/health answered HTTP {answer.status_code}")
        return Check("mlflow", "ok", f"tracking server {uri} answers")
    return Check("mlflow", "info", f"tracking URI {uri.split('://')[0]}:// not probed")


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_daemon(home: Path, storage: str, runs: int, newest_heartbeat: float | None) -> Check:
    """The verdict on a loaded Dagster instance: its storage answers; is the daemon alive?"""
    detail = f"instance at {home} ({storage}, {runs} runs)"
    if newest_heartbeat is None or time.time() - newest_heartbeat > 120:
        return Check(
            "dagster",
            "warn",
            detail + "; the daemon is not running: schedules, sensors and alerts are idle",
            "make dev, or the systemd units in deploy/systemd",
        )
    return Check("dagster", "ok", detail + "; daemon running")


def check_market_source(settings: Settings, exchange: Any | None = None) -> Check:
    """Snapshot files present, or the exchange's public clock answering (no key needed)."""
    if settings.source == "snapshot":
        from crypto_assets.market.snapshot import SnapshotError, resolve_snapshot_dir

        try:
            path = resolve_snapshot_dir(settings.snapshot_dir)
        except SnapshotError as exc:
            return Check("source", "fail", str(exc), "set CRYPTO_ASSETS_SNAPSHOT_DIR")
        return Check("source", "ok", f"snapshot {path} (replay, offline)")
    import ccxt

    if exchange is None:
        exchange = getattr(ccxt, settings.exchange_id)({"timeout": 5000})
    started = time.perf_counter()
    try:
        exchange.fetch_time()
    except ccxt.BaseError as exc:
        cause = exc.__cause__ or exc.__context__
        why = f"{type(exc).__name__}: {exc}" + (f" ({type(cause).__name__})" if cause else "")
        return Check(
            "source",
            "warn",
            f"{settings.exchange_id} unreachable: {why}",
            "check the network; `crypto-assets demo` works offline on a recorded snapshot",
        )
    elapsed = (time.perf_counter() - started) * 1000
    return Check("source", "ok", f"{settings.exchange_id} answers ({elapsed:.0f} ms)")


def check_keys_and_alerts(settings: Settings) -> list[Check]:
    """Which optional keys and alert channels are set (names only, never values)."""
    out = []
    for field in sorted(SECRET_FIELDS - ALERT_FIELDS):
        env = f"{ENV_PREFIX}{field.upper()}"
        if getattr(settings, field) is None:
            out.append(Check(f"key:{field}", "info", "not set: its source is off", f"set {env}"))
        else:
            out.append(Check(f"key:{field}", "ok", "set"))
    channels = [c for c in ALERT_CHANNELS if getattr(settings, f"alert_{c}_url") is not None]
    if channels:
        out.append(Check("alerts", "ok", f"channels: {', '.join(channels)}"))
    else:
        out.append(
            Check(
                "alerts",
                "info",
                "no channel configured: alerts are only logged",
                "set CRYPTO_ASSETS_ALERT_TELEGRAM_URL / _DISCORD_URL / _EMAIL_URL / _WEBHOOK_URL",
            )
        )
    return out


def check_disk(settings: Settings) -> Check:
    folder = _existing_parent(settings.data_dir)
    free_gb = shutil.disk_usage(folder).free / _GB
    minimum = settings.disk_min_free_gb
    detail = f"{free_gb:.1f} GB free on the disk of {folder}"
    if free_gb < minimum:
        return Check("disk", "fail", detail + f" (below {minimum:g} GB)", "free disk space")
    if free_gb < 2 * minimum:
        return Check("disk", "warn", detail + f" (close to {minimum:g} GB)", "free disk space")
    return Check("disk", "ok", detail)


def _guarded(name: str, probe: Callable[[], Check | list[Check]]) -> list[Check]:
    """A check that crashes is itself a finding, never a doctor traceback."""
    try:
        result = probe()
    except Exception as exc:
        return [Check(name, "fail", f"the check itself failed: {type(exc).__name__}: {exc}")]
    return result if isinstance(result, list) else [result]


def settings_failure(error: str) -> Report:
    """The report when the settings themselves are invalid: nothing else can be checked."""
    checks = _guarded("imports", check_imports)
    checks.append(Check("settings", "fail", error, "fix the value in .env / the environment"))
    return Report(checks)


def run_checks(
    settings: Settings,
    *,
    instance_check: Callable[[], Check] | None = None,
    exchange: Any | None = None,
) -> Report:
    """All checks in a fixed order; ``instance_check`` checks the Dagster instance."""
    checks = _guarded("imports", check_imports)
    checks.append(Check("settings", "ok", f"profile {settings.profile}, source {settings.source}"))
    gpu_status = read_gpus()[1]
    checks += _guarded("ta-lib", check_talib)
    checks += _guarded("torch", lambda: check_torch(gpu_status))
    checks.append(check_gpu(gpu_status))
    checks += _guarded("duckdb", lambda: check_duckdb(settings))
    checks += _guarded("mlflow", lambda: check_mlflow(settings))
    if instance_check is not None:
        checks += _guarded("dagster", instance_check)
    checks += _guarded("source", lambda: check_market_source(settings, exchange))
    checks += _guarded("keys", lambda: check_keys_and_alerts(settings))
    checks += _guarded("disk", lambda: check_disk(settings))
    return Report(checks)
