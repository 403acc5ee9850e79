"""Coin linking rules, and their precision on the hand-labelled sample of real posts."""

from __future__ import annotations

import pytest

from crypto_assets.social.linking import CoinLinker, link_frame

UNIVERSE = ["BTC", "BCH", "ETH", "XRP", "ONE", "GAS", "SUN", "TRUMP", "NEO", "USDT", "OP", "SOL"]


@pytest.fixture(scope="module")
def linker() -> CoinLinker:
    return CoinLinker.for_universe([f"{c}/USD" for c in UNIVERSE])


@pytest.mark.parametrize(
    ("text", "coins"),
    [
        ("BTC to the moon", ["BTC"]),
        ("$ONE is pumping", ["ONE"]),
        ("one more thing, ONE more time", []),
        ("Harmony (ONE) rallies", ["ONE"]),
        ("GAS fees are high today", []),
        ("NEO and GAS token jump", ["NEO", "GAS"]),
        ("Bitcoin Cash forks again", ["BCH"]),
        ("Trump signs an order; TRUMP is his name", []),
        ("TRUMP memecoin plunges 20%", ["TRUMP"]),
        ("ETH/USDT breaks out", ["ETH"]),
        ("OP is right about this", []),
        ("Optimism (OP) token rallies", ["OP"]),
        ("Justin Sun buys more", []),
        ("SUN token listed", ["SUN"]),
        ("US SEC sues Ripple", ["XRP"]),
    ],
)
def test_rules(linker: CoinLinker, text: str, coins: list[str]) -> None:
    assert sorted(link.coin for link in linker.link(text)) == sorted(coins)


def test_only_coins_of_the_universe_are_linked():
    linker = CoinLinker.for_universe(["BTC/USD"])
    assert [x.coin for x in linker.link("Ethereum and Bitcoin")] == ["BTC"]


def test_shouting_needs_context_for_word_tickers(linker: CoinLinker):
    shout = "WE PUMP XRP ON MONDAY, ONE TIME, SOL FANS TOO"
    assert {x.coin for x in linker.link(shout)} == {"XRP"}


def test_channel_context_lends_the_channel_coin(linker: CoinLinker):
    import pandas as pd

    posts = pd.DataFrame(
        {"text": ["BUY BUY BUY", "bitcoin?"], "channel": ["OFFICIAL BUY & HOLD XRP"] * 2}
    )
    out = link_frame(posts, linker, channel_context=True)
    assert out["coins"].tolist() == ["XRP", "BTC"]
    assert out["link_methods"].tolist() == ["channel", "name"]


def test_precision_on_hand_labelled_real_posts():
    """The labels (crypto_assets/social/data/linking_labels.csv) are ours: each row names a
    real post (file + row id) and a coin the linker proposed, judged correct or not by hand."""
    from crypto_assets.social.evaluation import linking_precision

    report = linking_precision()
    assert report["n"] >= 100
    assert report["precision"] >= 0.9
