"""On-chain fixtures: the real label book (parsed once per session) and the local replay
server of the on-chain APIs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pytest

from crypto_assets.onchain.labels import LabelBook, load_label_book
from crypto_assets.onchain.transfers import parse_whale_alert
from crypto_assets_tests.onchain.replay import ONCHAIN_DIR, WHALE_FILE, OnchainReplayServer


@pytest.fixture(scope="session")
def label_book() -> LabelBook:
    return load_label_book(ONCHAIN_DIR)


@pytest.fixture(scope="session")
def whale_payload() -> dict:
    return json.loads(WHALE_FILE.read_text())


@pytest.fixture
def whale_frame(whale_payload: dict) -> pd.DataFrame:
    return parse_whale_alert(
        whale_payload, "whale_alert test", pd.Timestamp("2019-06-18", tz="UTC")
    )


@pytest.fixture
def onchain_server() -> Iterator[OnchainReplayServer]:
    with OnchainReplayServer() as server:
        yield server
