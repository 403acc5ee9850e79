"""Shared pytest fixtures (generic ones only; feature-specific fixtures live beside their tests)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from crypto_assets_tests.fixtures import binance_1h, project_env  # noqa: F401
from crypto_assets_tests.replay_server import KrakenReplayServer


@pytest.fixture
def kraken_server() -> Iterator[KrakenReplayServer]:
    """The Kraken replay server object (for fault injection, request counts, other dates)."""
    with KrakenReplayServer() as server:
        yield server


@pytest.fixture
def kraken_replay(kraken_server: KrakenReplayServer) -> str:
    """Base URL of a local Kraken REST replay of real recorded payloads (AssetPairs 2026-01-12)."""
    return kraken_server.url


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Every CLI command calls ``setup_logging`` (root handlers, levels): undo it after each
    test, so no test logs into another test's folder."""
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


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """CLI commands export secrets read from ``.env`` into ``os.environ``
    (``settings.export_secrets``): put the environment back after each test, so no test sees
    another test's secrets."""
    before = dict(os.environ)
    yield
    for name in [n for n in os.environ if n not in before]:
        del os.environ[name]
    os.environ.update(before)
