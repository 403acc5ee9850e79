"""Parsers of the real recorded formats (read in place from ../shared/data)."""

from __future__ import annotations

import pandas as pd

from crypto_assets.news import records as news
from crypto_assets.social import records
from crypto_assets.social.source import EVENT_COLUMNS, POST_COLUMNS
from crypto_assets_tests.social.conftest import CRYPTOPANIC, EVENTS, REDDIT_POSTS, SOCIAL


def test_telegram_export_is_read_from_the_archive_with_its_offset(telegram_export):
    frame = telegram_export
    assert list(frame.columns) == POST_COLUMNS
    assert len(frame) > 45_000 and frame["id"].is_unique
    first = frame.iloc[0]
    # "28.01.2021 21:19:09" local (UTC+1) in messages1.html -> 20:19:09 UTC
    assert first["time"] == pd.Timestamp("2021-01-28 20:19:09", tz="UTC")
    assert first["text"] == "Hellooo" and first["ref"].endswith("messages1.html#message3")
    assert frame["channel"].iloc[0] == "🚨OFFICIAL BUY & HOLD XRP"
    # "joined" messages carry no from_name: the author is the previous message's
    joined = frame[frame["ref"].str.endswith("#message16")].iloc[0]
    assert joined["author"] == frame[frame["ref"].str.endswith("#message15")].iloc[0]["author"]
    assert frame["author"].notna().all()
    assert frame["time"].max() < pd.Timestamp("2021-02-04", tz="UTC")


def test_reddit_and_tweet_dumps_have_hashed_ids_and_no_invented_authors():
    posts = records.reddit_posts_csv(REDDIT_POSTS)
    tweets = records.tweets_csv(SOCIAL / "crypto_tweets_2021.csv.gz")
    for frame in (posts, tweets):
        assert frame["id"].is_unique and frame["author"].isna().all()
        assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert len(posts) == 4671 and posts["ref"].iloc[3].endswith("#row=3")
    assert posts["engagement"].notna().all()


def test_cryptopanic_headlines_collapse_exact_duplicates_and_parse_votes():
    frame = news.cryptopanic_csv(CRYPTOPANIC)
    assert len(frame) == 990  # 996 rows, 6 exact duplicates
    assert frame["time"].min() == pd.Timestamp("2024-08-28 08:09:37", tz="UTC")
    assert news.parse_votes("10 positive: votes, 8 important: votes") == {
        "positive": 10,
        "important": 8,
    }


def test_event_records_pumps_hacks_and_unlocks():
    pumps = news.pump_events_csv(EVENTS / "pump_telegram.csv")
    hacks = news.hacks_csv(EVENTS / "defillama_hacks_defi_exploits.csv")
    unlocks = news.vesting_schedule_csv(EVENTS / "gogopool_ggp_vesting_schedule.csv", "ggp")
    for frame in (pumps, hacks, unlocks):
        assert list(frame.columns) == EVENT_COLUMNS and frame["id"].is_unique
    assert len(pumps) >= 1100 and set(pumps["kind"]) == {"pump"}
    first = pumps.iloc[0]
    assert first["coin"] == "R" and first["time"] == pd.Timestamp("2018-01-01 16:00", tz="UTC")
    assert (
        hacks["amount_usd"].dropna().ge(0).all()
        and hacks["amount_usd"].gt(1e6).sum() > 200
        and hacks["url"].notna().mean() > 0.9
    )
    team = unlocks[unlocks["title"].str.contains("Team step")]
    # Team: 20 %, 36 months vesting, quarterly from 2024-04-26 -> 12 steps of 1.667 %
    assert len(team) == 12 and team["time"].min() == pd.Timestamp("2024-07-26", tz="UTC")
    assert set(unlocks["coin"]) == {"GGP"}
