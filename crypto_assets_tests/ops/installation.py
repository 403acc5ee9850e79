"""One real installation for the secret-leak and backup/restore tests: the demo pipeline run by
the real ``crypto-assets demo`` command (a subprocess, its console kept) on a cut of a real
snapshot, with a secret planted in EVERY secret setting and the known secret variables, and the
results' read copy published.

One secret (``DOTENV_FIELD``) is planted in a ``.env`` file in the command's working folder
instead of the environment: a secret read from ``.env`` must not leak either.

Built once per test session, also under pytest-xdist: the first worker builds it under the
session's shared temporary folder while holding a lock, the others wait and reuse it. Tests
read it and append to its log; what they write goes to their own folders.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crypto_assets.logs import SECRET_ENV_VARS
from crypto_assets.settings import ENV_PREFIX, PROJECT_ROOT, SECRET_FIELDS
from crypto_assets.storage import publish
from crypto_assets_tests.fixtures import cut_snapshot

COINS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT"]
FIRST_DAY, END = "2024-03-01", "2024-06-01"  # last day 2024-05-31
LAST_DAY = "2024-05-31"
HOOK_TOKEN = "hooktoken-LEAKCHECK-c0ffee42"
SMTP_PASSWORD = "smtppw-LEAKCHECK-88e1"
# The value planted in each secret setting. A URL setting gets a URL that carries its token the
# way the real channel's URL does; every other secret a plain token.
PLANTED_URLS = {
    "alert_telegram_url": "tgram://555000111:LEAKCHECK-tgBotToken-9XyZ/-100222333",
    "alert_discord_url": "discord://123456789012/LEAKCHECK-discordWebhookToken-77",
}


DOTENV_FIELD = "alert_discord_url"


def planted_value(field: str) -> str:
    """The secret planted in setting ``field`` (a new secret setting is covered by itself)."""
    if field in PLANTED_URLS:
        return PLANTED_URLS[field]
    if field == "alert_webhook_url":
        return f"json://127.0.0.1:9/{HOOK_TOKEN}"  # the port is set per test (a live server)
    if field == "alert_email_url":
        return (
            f"mailto://alerts:{SMTP_PASSWORD}@127.0.0.1:9?to=ops@example.org"
            "&from=alerts@example.org&mode=insecure"
        )
    return f"{field}-LEAKCHECK-5eed{len(field):02d}"


def planted_secrets() -> dict[str, str]:
    """Environment variable -> planted value, for every secret setting and secret variable."""
    env = {f"{ENV_PREFIX}{field.upper()}": planted_value(field) for field in SECRET_FIELDS}
    env |= {name: f"{name.lower()}-LEAKCHECK-0d0e" for name in SECRET_ENV_VARS}
    return env


def secret_tokens() -> list[str]:
    """The strings that must never be found: each planted value and the token inside a URL."""
    tokens = {HOOK_TOKEN, SMTP_PASSWORD}
    for value in planted_secrets().values():
        tokens.add(value)
        tokens.update(part for part in value.replace("/", " ").split() if "LEAKCHECK" in part)
    return sorted(t for t in tokens if "LEAKCHECK" in t)


@dataclass(frozen=True)
class Installation:
    root: Path  # everything the product wrote lives under here
    snapshot: Path
    env: dict[str, str]  # paths, tiny training config and the planted secrets
    console: str  # what the demo command printed (stdout + stderr)

    @property
    def data_dir(self) -> Path:
        return Path(self.env["CRYPTO_ASSETS_DATA_DIR"])

    @property
    def profile_dir(self) -> Path:
        """The demo profile's own folder under the data dir (``Settings.profile_dir``)."""
        return self.data_dir / "demo"

    @property
    def database(self) -> Path:
        return self.profile_dir / "crypto_assets.duckdb"


def dotenv_name() -> str:
    return f"{ENV_PREFIX}{DOTENV_FIELD.upper()}"


def _environment(root: Path, snapshot: Path) -> dict[str, str]:
    """The command's environment: everything but the ``.env`` secret."""
    secrets = {k: v for k, v in planted_secrets().items() if k != dotenv_name()}
    return {
        "CRYPTO_ASSETS_DATA_DIR": str(root / "data"),
        "CRYPTO_ASSETS_MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlruns/mlflow.db",
        "CRYPTO_ASSETS_MLFLOW_ARTIFACT_ROOT": str(root / "mlruns" / "artifacts"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "CRYPTO_ASSETS_SNAPSHOT_DIR": str(snapshot),
        # the real trainer with fewer trees; 5 coins x 3 months cannot show calibration, so
        # the gate asks for skill only (the ECE gate is tested in crypto_assets_tests/ml)
        "CRYPTO_ASSETS_MODEL_N_ESTIMATORS": "20",
        "CRYPTO_ASSETS_MODEL_MAX_ECE": "1.0",
        **secrets,
    }


def command_environment(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without any product setting, plus ``env``."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(ENV_PREFIX) and k != "DAGSTER_HOME" and k not in SECRET_ENV_VARS
    }
    return {**base, "PYTHONPATH": str(PROJECT_ROOT), **env}


def build(root: Path) -> Installation:
    """Cut the snapshot, run ``crypto-assets demo`` on it, keep its console output."""
    root.mkdir(parents=True, exist_ok=True)
    snapshot = cut_snapshot(root.parent / f"{root.name}-snapshot", COINS, FIRST_DAY, END)
    env = _environment(root, snapshot)
    (root / "dagster_home").mkdir(exist_ok=True)
    (root / ".env").write_text(f"{dotenv_name()}={planted_value(DOTENV_FIELD)}\n")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from crypto_assets.cli import main; main()",
            "demo",
            "--snapshot",
            str(snapshot),
            "--skip-sentiment",
        ],
        env=command_environment(env),
        cwd=root,  # reads root/.env, not the project's
        capture_output=True,
        text=True,
        timeout=900,
    )
    console = done.stdout + done.stderr
    if done.returncode not in (0, 3):  # 3: done and published, with warnings to look at
        raise RuntimeError(f"crypto-assets demo failed ({done.returncode}):\n{console[-4000:]}")
    installation = Installation(root, snapshot, env, console)
    publish(installation.database)  # the read copy, as the publish sensor makes after a run
    (root.parent / f"{root.name}.json").write_text(
        json.dumps({"snapshot": str(snapshot), "env": env, "console": console})
    )
    return installation


def load(root: Path) -> Installation | None:
    meta = root.parent / f"{root.name}.json"
    if not meta.is_file():
        return None
    saved = json.loads(meta.read_text())
    return Installation(root, Path(saved["snapshot"]), saved["env"], saved["console"])


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shared_installation(shared_root: Path) -> Installation:
    """The installation under ``shared_root``, built by whichever worker comes first."""
    shared_root.parent.mkdir(parents=True, exist_ok=True)
    with _locked(shared_root.parent / f"{shared_root.name}.lock"):
        return load(shared_root) or build(shared_root)
