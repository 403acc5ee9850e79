"""Fixtures of the text domain: the local text server and the recorded real files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from crypto_assets.settings import SHARED_DATA_DIR
from crypto_assets_tests.social.text_server import TextServer

SOCIAL = SHARED_DATA_DIR / "social"
NEWS = SHARED_DATA_DIR / "news"
EVENTS = SHARED_DATA_DIR / "events"
TELEGRAM_EXPORT = SOCIAL / "xrp_buy_hold_pump_telegram_export_messages.tgz"
CRYPTOPANIC = NEWS / "cryptopanic_news_feb2025.csv.gz"
REDDIT_POSTS = SOCIAL / "reddit_rCryptoCurrency_posts_2025-04.csv.gz"
REDDIT_SEARCH = SOCIAL / "reddit_rCryptoCurrency_bitcoin_search_2019-2024.csv.gz"


@pytest.fixture
def text_server() -> Iterator[TextServer]:
    with TextServer() as server:
        yield server


@pytest.fixture(scope="session")
def telegram_export() -> pd.DataFrame:
    from crypto_assets.resources.text_sources import read_recording
    from crypto_assets.social.records import TELEGRAM_XRP_EXPORT_UTC_OFFSET

    # the same process-wide parse the replay resource uses (the export takes seconds to parse)
    return read_recording(
        str(TELEGRAM_EXPORT), "telegram_export_tgz", TELEGRAM_XRP_EXPORT_UTC_OFFSET
    )


@pytest.fixture(scope="session")
def reddit_search_raw() -> pd.DataFrame:
    return pd.read_csv(REDDIT_SEARCH)


def data_path(*parts: str) -> Path:
    return SHARED_DATA_DIR.joinpath(*parts)
