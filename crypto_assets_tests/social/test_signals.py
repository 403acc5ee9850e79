"""Signals, detectors and the as-of feature join (small inline frames test the logic), the
event rules, and the pump detector on the REAL pump-group export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_assets.horizons import TIMEFRAMES
from crypto_assets.news.classify import classify_headline
from crypto_assets.social.detectors import DetectorRules
from crypto_assets.social.features import asof_join_text_signals
from crypto_assets.social.linking import CoinLinker, explode_coins, link_frame
from crypto_assets.social.signals import coin_text_signals, event_flags

DAY = pd.Timestamp("2024-03-10", tz="UTC")


def _posts(day: pd.Timestamp, coin: str, n: int, label: str = "neutral", score: float = 0.0):
    return pd.DataFrame(
        {
            "coin": coin,
            "time": [day + pd.Timedelta(minutes=i) for i in range(n)],
            "text": ["buy now" if i % 2 else "hello" for i in range(n)],
            "author": [f"a{i}" for i in range(n)],
            "score": score,
            "label": label,
            "source": "reddit",
            "id": [f"{coin}{day:%d}{i}" for i in range(n)],
        }
    )


def _history(days: int, mentions: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": [DAY - pd.Timedelta(days=d) for d in range(1, days + 1)],
            "coin": "XRP",
            "mentions": mentions,
            "bullish": 0,
            "bearish": 1,
        }
    )


def test_mentions_z_uses_only_the_coins_own_past():
    posts = _posts(DAY, "XRP", 30)
    events = pd.DataFrame(columns=["coin", "kind", "time", "title"])
    history = _history(10, 2)
    out = coin_text_signals(posts, events, pd.DatetimeIndex([DAY]), history=history)
    row = out.iloc[0]
    assert row["mentions"] == 30 and row["mentions_baseline"] == 2.0
    assert row["mentions_z"] == pytest.approx((30 - 2) / 1.0)  # spread floored at 1 post
    # the same day with no history: no z-score, no detector verdict
    alone = coin_text_signals(posts, events, pd.DatetimeIndex([DAY])).iloc[0]
    assert np.isnan(alone["mentions_z"]) and pd.isna(alone["meme_pump"])
    # future rows in "history" must not change today's value
    future = pd.concat([history, _history(1, 500).assign(day=DAY + pd.Timedelta(days=1))])
    again = coin_text_signals(posts, events, pd.DatetimeIndex([DAY]), history=future).iloc[0]
    assert again["mentions_z"] == row["mentions_z"]


def test_fud_and_fomo_rules():
    bearish = _posts(DAY, "XRP", 8, "bearish", -0.8)
    events = pd.DataFrame(columns=["coin", "kind", "time", "title"])
    out = coin_text_signals(bearish, events, pd.DatetimeIndex([DAY]), history=_history(10, 2))
    assert bool(out["fud"].iloc[0]) is True and pd.isna(out["fomo"].iloc[0])  # no price: null
    bullish = _posts(DAY, "XRP", 8, "bullish", 0.8)
    hist = _history(10, 2).assign(bearish=0)
    market = pd.DataFrame(
        {"coin": ["XRP"], "bucket": [DAY], "price_return": [0.12], "quote_volume": [1e9]}
    )
    fomo = coin_text_signals(bullish, events, pd.DatetimeIndex([DAY]), history=hist, market=market)
    assert bool(fomo["fomo"].iloc[0]) is True and bool(fomo["fud"].iloc[0]) is False
    flat = market.assign(price_return=0.0)
    calm = coin_text_signals(bullish, events, pd.DatetimeIndex([DAY]), history=hist, market=flat)
    assert bool(calm["fomo"].iloc[0]) is False


def test_influencer_push_needs_reach_and_concentration():
    posts = _posts(DAY, "SOL", 4).assign(reach=[200_000, 90_000, 10, 10])
    events = pd.DataFrame(columns=["coin", "kind", "time", "title"])
    out = coin_text_signals(posts, events, pd.DatetimeIndex([DAY]))
    assert bool(out["influencer_push"].iloc[0]) is True
    small = coin_text_signals(posts.assign(reach=10), events, pd.DatetimeIndex([DAY]))
    assert bool(small["influencer_push"].iloc[0]) is False
    unknown = coin_text_signals(_posts(DAY, "SOL", 4), events, pd.DatetimeIndex([DAY]))
    assert pd.isna(unknown["influencer_push"].iloc[0])


def test_event_flags_carry_the_headline():
    events = pd.DataFrame(
        {
            "coin": ["ADA", "ADA", None],
            "kind": ["fork", "regulatory", "hack"],
            "time": [DAY + pd.Timedelta(hours=h) for h in (1, 2, 3)],
            "title": ["Chang hard fork", "SEC drops case", "X hacked"],
        }
    )
    flags = event_flags(events)
    assert flags["event_fork"].tolist() == [True] and flags["event_hack"].tolist() == [False]
    assert flags["event_headline"].item() == "Chang hard fork | SEC drops case"
    out = coin_text_signals(_posts(DAY, "BTC", 1), events, pd.DatetimeIndex([DAY]))
    assert set(out["coin"]) == {"ADA", "BTC"}
    assert out.set_index("coin").loc["ADA", "mentions"] == 0


def test_asof_join_never_uses_a_day_before_it_ends():
    signals = pd.DataFrame(
        {
            "day": [DAY, DAY + pd.Timedelta(days=1)],
            "coin": ["BTC", "BTC"],
            "mentions": [5, 9],
            "mentions_z": [1.0, 2.0],
            "sentiment_mean": [0.1, 0.2],
            "sentiment_std": [0.3, 0.3],
            "bull_bear_ratio": [2.0, 1.0],
            "authors": [4, 7],
        }
    )
    hourly = pd.DataFrame(
        {
            "symbol": ["BTC/USDT", "BTC/USDT", "ETH/USDT", "BTC/USDT"],
            "date": [
                DAY + pd.Timedelta(hours=22),
                DAY + pd.Timedelta(hours=23),
                DAY + pd.Timedelta(hours=23),
                DAY - pd.Timedelta(days=5),
            ],
        }
    )
    out = asof_join_text_signals(hourly, signals, TIMEFRAMES, timeframe="1h")
    # 22:00 candle closes 23:00 on DAY: day DAY is not over -> day before (not covered) -> null
    assert np.isnan(out["text_mentions"].iloc[0])
    # 23:00 candle closes at DAY+1 00:00: DAY is complete and used
    assert out["text_mentions"].iloc[1] == 5
    # a coin without posts on a covered day: zero mentions, sentiment unknown
    assert out["text_mentions"].iloc[2] == 0 and np.isnan(out["text_sentiment_mean"].iloc[2])
    assert np.isnan(out["text_mentions"].iloc[3])  # no source was collecting then
    daily = pd.DataFrame({"symbol": ["BTC/USDT"], "date": [DAY]})
    assert (
        asof_join_text_signals(daily, signals, TIMEFRAMES, timeframe="1d")["text_mentions"].item()
        == 5
    )


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        ("Hyperliquid Denies Being Hacked by Lazarus Group", "hack"),
        ("Crypto.com Moves to Delist USDT and 9 Other Tokens Under MiCA", "delisting"),
        ("Robinhood To List Dogwifhat ($WIF) Solana-based Memecoin!", "listing"),
        ("Sui Network to unlock millions of SUI this week", "unlock"),
        ("Cardano (ADA) One Step Closer to Plomin Hard Fork", "fork"),
        ("SEC Reviews Grayscale’s Bid to Launch Crypto ETF", "regulatory"),
        ("Shiba Inu Now Partners With Chainlink", "partnership"),
        ("Unlocking Ethereum’s Potential: Why Analysts Are Bullish", "other"),
        ("Solana validator extracts $60M with MEV Sandwich Attacks", "other"),
    ],
)
def test_headline_rules(title: str, kind: str):
    assert classify_headline(title) == kind


def test_event_rules_on_hand_labelled_headlines():
    from crypto_assets.social.evaluation import event_classifier_report

    report = event_classifier_report()
    assert report["holdout"]["n"] == 100 and report["holdout"]["accuracy"] >= 0.8
    assert report["all"]["accuracy"] >= 0.85


def test_pump_detector_on_the_real_pump_group(telegram_export):
    """The announced pump: 2021-02-01 8:30 EST = 13:30 UTC. Hourly buckets, text rules only
    (XRP is a large, liquid coin: the attention / liquidity gates are opened here)."""
    linker = CoinLinker.for_universe(["XRP", "BTC", "ETH", "DOGE"])
    rows = explode_coins(link_frame(telegram_export, linker, channel_context=True))
    rows = rows[rows["coin"] == "XRP"]
    hours = pd.date_range("2021-01-28 20:00", "2021-02-03 12:00", freq="h", tz="UTC")
    rules = DetectorRules(pump_max_baseline=1e9, pump_max_quote_volume=1e18)
    empty = pd.DataFrame(columns=["coin", "kind", "time", "title"])
    out = coin_text_signals(rows, empty, hours, rules=rules, freq="1h")
    fired = set(out.loc[out["meme_pump"].fillna(False), "day"])
    assert pd.Timestamp("2021-02-01 13:00", tz="UTC") in fired  # the hour of the announced pump
    assert len(fired) <= 5
