"""Fixtures of the ops tests: local alert endpoints, alert channels pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto_assets.resources.alerts import AlertChannels
from crypto_assets_tests.fixtures import project_env  # noqa: F401
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
