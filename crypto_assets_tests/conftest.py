"""Shared pytest fixtures (generic ones only; feature-specific fixtures live beside their tests)."""

from __future__ import annotations

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
