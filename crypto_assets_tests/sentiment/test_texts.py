"""Loaders of the real recorded social/news texts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crypto_assets.sentiment.texts import (
    SOURCE_FILES,
    TEXT_COLUMNS,
    load_source,
    load_texts,
    parse_cryptopanic_time,
    stable_id,
)


@pytest.fixture(scope="module")
def texts() -> pd.DataFrame:
    return load_texts()


def test_all_sources_load_with_contract_columns(texts: pd.DataFrame) -> None:
    assert list(texts.columns) == TEXT_COLUMNS
    assert set(texts["source"]) == set(SOURCE_FILES)
    assert str(texts["time"].dtype) == "datetime64[ns, UTC]"
    assert texts["text"].str.len().gt(0).all()
    assert texts["id"].is_unique
    # real volumes (PROVENANCE.md): ~4.7k reddit titles, 230 search hits, 3.9k tweets, ~1k news
    counts = texts["source"].value_counts()
    assert counts["reddit_cryptocurrency"] > 4000
    assert counts["twitter_bitcoin_2021"] > 3500
    assert counts["cryptopanic_news"] > 900
    assert counts["reddit_bitcoin_search"] == 230


def test_ids_are_stable_hashes(texts: pd.DataFrame) -> None:
    row = texts.iloc[123]
    assert row["id"] == stable_id(row["source"], row["time"], row["text"])
    again = load_source(row["source"])
    assert row["id"] in set(again["id"])
    assert stable_id("a", "2024-01-01T00:00:00Z", "x") != stable_id("b", "2024-01-01", "x")


def test_cryptopanic_time_is_converted_to_utc() -> None:
    stamp = parse_cryptopanic_time(
        "Fri Feb 07 2025 08:29:27 GMT+0100 (heure normale d’Europe centrale)"
    )
    assert stamp == pd.Timestamp("2025-02-07 07:29:27", tz="UTC")
    assert pd.isna(parse_cryptopanic_time("yesterday"))


def test_limit_keeps_newest_per_source() -> None:
    frame = load_texts(["cryptopanic_news"], limit_per_source=5)
    full = load_source("cryptopanic_news")
    assert len(frame) == 5
    assert frame["time"].min() >= full["time"].nlargest(5).min()


def test_unknown_source_and_missing_file_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown text source"):
        load_source("telegram")
    with pytest.raises(FileNotFoundError, match="cryptopanic_news"):
        load_source("cryptopanic_news", data_dir=tmp_path)
