"""The label book on the real recorded label files, plus a user file."""

from pathlib import Path

import pandas as pd
import pytest

from crypto_assets.onchain.labels import (
    LabelFileError,
    load_label_book,
    normalize_address,
    owner_of,
    parse_user_labels,
)
from crypto_assets_tests.onchain.replay import ONCHAIN_DIR


def test_real_label_files_give_exchanges_with_their_source(label_book) -> None:
    counts = label_book.counts()
    assert sum(counts.values()) == len(label_book)
    # 420 Etherscan exchange wallets, 48 BscScan, 7 PolygonScan: every one kept, with its source
    assert counts["etherscan exchange accounts (brianleect/etherscan-labels, ~2023)"] == 420
    assert counts["bscscan exchange accounts (brianleect/etherscan-labels, ~2023)"] == 48
    assert counts["polygonscan exchange accounts (brianleect/etherscan-labels, ~2023)"] == 7
    binance = label_book.lookup(
        pd.Series(["ethereum"]), pd.Series(["0x3F5CE5FBFE3E9AF3971DD833D26BA9B5C936F0BE"])
    ).iloc[0]
    assert (binance["name"], binance["owner"], binance["category"]) == (
        "Binance",
        "binance",
        "exchange",
    )
    kraken = label_book.exchange_wallets("ethereum")
    assert (kraken["owner"] == "kraken").sum() == 18


def test_whale_alert_addresses_without_0x_match_labels(label_book) -> None:
    # Whale Alert sends Ethereum addresses without the 0x prefix
    found = label_book.lookup(
        pd.Series(["ethereum", "bitcoin"]),
        pd.Series(
            ["3f5ce5fbfe3e9af3971dd833d26ba9b5c936f0be", "1JDknRvZTi5XdhQB3cgvJ9R8aogUvfbYUB"]
        ),
    )
    assert found.iloc[0]["owner"] == "binance"
    assert found.iloc[1].isna().all()  # no recorded bitcoin labels


def test_addresses_and_owners_normalise() -> None:
    assert normalize_address("eth", "ABCDEF0123456789abcdef0123456789ABCDEF01") == (
        "0xabcdef0123456789abcdef0123456789abcdef01"
    )
    # bitcoin addresses are case-sensitive and stay as they are
    assert normalize_address("bitcoin", " 1H4o9Mh7HyjPa46z4vtv7J8yzaK5RY4bXR ") == (
        "1H4o9Mh7HyjPa46z4vtv7J8yzaK5RY4bXR"
    )
    assert owner_of("Binance: Hot Wallet 3") == "binance"
    assert owner_of("Huobi 10") == "huobi"


def test_user_labels_win_and_say_where_they_come_from(tmp_path: Path) -> None:
    user = tmp_path / "my_labels.csv"
    user.write_text(
        "chain,address,name,category\n"
        "ethereum,0x3f5ce5fbfe3e9af3971dd833d26ba9b5c936f0be,My fund,smart_money\n"
        "bitcoin,1H4o9Mh7HyjPa46z4vtv7J8yzaK5RY4bXR,Some exchange,exchange\n"
    )
    book = load_label_book(ONCHAIN_DIR, user)
    found = book.lookup(
        pd.Series(["ethereum", "bitcoin"]),
        pd.Series(
            ["0x3f5ce5fbfe3e9af3971dd833d26ba9b5c936f0be", "1H4o9Mh7HyjPa46z4vtv7J8yzaK5RY4bXR"]
        ),
    )
    assert found["category"].tolist() == ["smart_money", "exchange"]
    assert set(found["source"]) == {"user labels (my_labels.csv)"}
    assert len(book.exchange_wallets("bitcoin")) == 1


def test_bad_user_label_file_names_every_bad_line(tmp_path: Path) -> None:
    user = tmp_path / "bad.csv"
    user.write_text(
        "chain,address,name,category\n"
        "ethereum,0x123,Short,exchange\n"
        "bitcoin,,Empty,exchange\n"
        "ethereum,0x3f5ce5fbfe3e9af3971dd833d26ba9b5c936f0be,Fine,Smart Money\n"
    )
    with pytest.raises(LabelFileError) as error:
        parse_user_labels(user)
    text = str(error.value)
    assert "line 2" in text and "line 3" in text and "line 4" in text
    missing = tmp_path / "missing.csv"
    missing.write_text("chain,address\nethereum,0x3f5ce5fbfe3e9af3971dd833d26ba9b5c936f0be\n")
    with pytest.raises(LabelFileError, match="missing column"):
        parse_user_labels(missing)
