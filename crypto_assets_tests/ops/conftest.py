"""Fixtures of the ops tests: local alert endpoints, alert channels pointing at them, and one
real installation (shared by the backup and secret-leak tests) with secrets planted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto_assets.resources.alerts import AlertChannels
from crypto_assets_tests.ops.installation import (
    Installation,
    build,
    dotenv_name,
    shared_installation,
)
from crypto_assets_tests.ops.servers import RecordingHttpServer, RecordingSmtpServer

UI = "http://dagster.example:3000"


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


@pytest.fixture(scope="session")
def installation(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Installation:
    """The real demo installation with planted secrets (see installation.py), built once."""
    if worker_id == "master":  # no xdist: this process alone
        return build(tmp_path_factory.mktemp("installation") / "root")
    return shared_installation(tmp_path_factory.getbasetemp().parent / "ops-installation")


@pytest.fixture
def installed_env(installation: Installation, monkeypatch: pytest.MonkeyPatch) -> Installation:
    """The installation's environment (paths, planted secrets) for one in-process command."""
    for name in [n for n in os.environ if n.startswith("CRYPTO_ASSETS_") or n == "DAGSTER_HOME"]:
        monkeypatch.delenv(name)
    for key, value in installation.env.items():
        monkeypatch.setenv(key, value)
    # the commands export the secret they read from root/.env: drop it again afterwards
    monkeypatch.delenv(dotenv_name(), raising=False)
    monkeypatch.chdir(installation.root)  # root/.env, not the project's
    return installation
