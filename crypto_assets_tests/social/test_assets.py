"""The text assets in a real Dagster run (``dg.materialize``) into a real DuckDB file, on the
recorded real files (replay) and on live clients without keys or network (honest status)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource
from dagster_duckdb_pandas import DuckDBPandasIOManager

from crypto_assets.defs.social import coin_text_signals, defs, events, news_items, social_posts
from crypto_assets.resources.market_source import SnapshotSource
from crypto_assets.resources.sentiment_scorer import SentimentScorerResource
from crypto_assets.resources.text_sources import (
    DefiLlamaHacksSource,
    RedditSource,
    RssSource,
    replay_text_resources,
    text_resources,
)
from crypto_assets.settings import SHARED_DATA_DIR, Settings

DAY = "2024-08-29"
ASSETS = [social_posts, news_items, events, coin_text_signals]


def _store_universe(database: Path) -> None:
    """The day's market list from the real binance_2024 snapshot, as kraken_markets stores it."""
    markets = SnapshotSource(snapshot_dir=str(SHARED_DATA_DIR / "market" / "binance_2024"))
    frame = markets.fetch_markets(as_of=pd.Timestamp(DAY, tz="UTC") + pd.Timedelta(days=1))
    frame = frame.assign(day=pd.Timestamp(DAY, tz="UTC"), in_universe=frame["active"])
    with duckdb.connect(str(database)) as conn:
        conn.execute("create schema if not exists crypto")
        conn.register("frame", frame)
        conn.execute("create table crypto.kraken_markets as select * from frame")


def _resources(database: Path, root: Path, text: dict) -> dict:
    return {
        **text,
        "duckdb": DuckDBResource(database=str(database)),
        "io_manager": DuckDBPandasIOManager(database=str(database), schema="crypto"),
        "sentiment_scorer": SentimentScorerResource(
            tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
            artifact_root=str(root / "artifacts"),
            models_dir=str(root / "models"),
        ),
    }


def _table(database: Path, name: str) -> pd.DataFrame:
    """A stored table (empty when none was written: an empty day creates no table)."""
    with duckdb.connect(str(database), read_only=True) as conn:
        exists = conn.execute(
            "select count(*) from information_schema.tables where table_schema='crypto' "
            "and table_name=?",
            [name],
        ).fetchone()[0]
        return conn.execute(f'select * from crypto."{name}"').df() if exists else pd.DataFrame()


@pytest.fixture(scope="module")
def replay_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dg.ExecuteInProcessResult, Path]:
    root = tmp_path_factory.mktemp("social_assets")
    database = root / "db.duckdb"
    _store_universe(database)
    resources = _resources(database, root, replay_text_resources(SHARED_DATA_DIR))
    result = dg.materialize(ASSETS, resources=resources, partition_key=DAY)
    return result, database


def test_replay_materializes_posts_news_events_and_signals(replay_run):
    result, database = replay_run
    assert result.success
    posts = _table(database, "social_posts")
    assert len(posts) > 0 and posts["id"].is_unique
    day = pd.Timestamp(DAY, tz="UTC")
    assert (
        pd.to_datetime(posts["time"], utc=True)
        .between(day, day + pd.Timedelta(days=1), "left")
        .all()
    )
    news = _table(database, "news_items")
    assert len(news) >= 5 and set(news["source"]) == {"cryptopanic"}
    assert news["event_kind"].notna().all() and news["coins"].str.len().gt(0).any()
    signals = _table(database, "coin_text_signals")
    top = signals.sort_values("mentions").iloc[-1]
    assert top["mentions"] > 0 and "cryptopanic" in top["sources"]
    assert set(signals["coin"]) <= {"SOL", "TON", "XRP", "XMR", "ETH", "BTC", "DOGE", "ADA"}
    assert signals["sentiment_mean"].isna().all()  # no scorer trained in this store: null
    meta = result.asset_materializations_for_node("coin_text_signals")[0].metadata
    assert "no trained sentiment model" in meta["sentiment"].value


def test_replay_status_rows_and_failed_check_name_the_missing_sources(replay_run):
    result, database = replay_run
    status = _table(database, "social_posts_status")
    by_source = dict(zip(status["source"], status["status"], strict=True))
    assert by_source == {
        "reddit": "replay",
        "telegram": "replay",
        "discord": "unavailable",
        "x": "replay",
    }
    assert list(status.columns) == ["day", "source", "status", "reason", "as_of", "rows"]
    checks = {c.asset_key.path[-1]: c for c in result.get_asset_check_evaluations()}
    assert checks["social_posts"].passed is False  # discord has no recording
    assert checks["social_posts"].severity == dg.AssetCheckSeverity.WARN
    assert checks["news_items"].passed is False  # rss has no recording
    assert checks["events"].passed is True


def test_live_without_keys_or_network_still_completes_with_honest_status(tmp_path: Path):
    database = tmp_path / "db.duckdb"
    _store_universe(database)
    text = text_resources(Settings(text_sources="live", _env_file=None))
    closed = "http://127.0.0.1:9"  # nothing listens: the same as no network
    fast = {"max_retries": 0, "min_interval_s": 0.0, "timeout_s": 2.0}
    text["reddit_source"] = RedditSource(public_url=closed, **fast)
    text["rss_source"] = RssSource(feeds=[f"{closed}/feed"], **fast)
    text["hacks_source"] = DefiLlamaHacksSource(url=f"{closed}/hacks", **fast)
    result = dg.materialize(
        ASSETS, resources=_resources(database, tmp_path, text), partition_key=DAY
    )
    assert result.success
    status = pd.concat(
        [_table(database, f"{n}_status") for n in ("social_posts", "news_items", "events")]
    )
    by_source = dict(zip(status["source"], status["status"], strict=True))
    assert by_source["reddit"] == "unavailable" and by_source["rss"] == "unavailable"
    assert by_source["cryptopanic"] == "no_key" and by_source["x"] == "no_key"
    assert by_source["telegram"] == "no_key" and by_source["discord"] == "no_key"
    assert by_source["token_unlocks"] == "no_key" and by_source["defillama_hacks"] == "unavailable"
    assert _table(database, "social_posts").empty and _table(database, "news_items").empty
    assert status["rows"].sum() == _table(database, "events").shape[0]


def test_definitions_carry_no_resources():
    assert {k.to_user_string() for k in defs.assets[0].keys} >= {"social_posts"}
    assert not defs.resources
