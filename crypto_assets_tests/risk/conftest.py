"""Fixtures of the risk tests: the REAL order-book recordings, read in place."""

from __future__ import annotations

import pytest

from crypto_assets.resources.order_books import RecordedOrderBooks
from crypto_assets.risk.recordings import KrakenReplay, replay_kraken_book
from crypto_assets.settings import SHARED_DATA_DIR
from crypto_assets_tests.fixtures import project_env  # noqa: F401

ORDERBOOK_DIR = SHARED_DATA_DIR / "orderbook"
KRAKEN_WS = ORDERBOOK_DIR / "KRAKEN.ws.50.0"
BINANCE_HTTP = ORDERBOOK_DIR / "BINANCE.http.0.0"


@pytest.fixture(scope="session")
def kraken_replay() -> KrakenReplay:
    """The whole recorded Kraken v1 book session, rebuilt once per test session."""
    return replay_kraken_book(KRAKEN_WS)


@pytest.fixture(scope="session")
def recorded_books() -> RecordedOrderBooks:
    return RecordedOrderBooks(recordings_dir=str(ORDERBOOK_DIR))
