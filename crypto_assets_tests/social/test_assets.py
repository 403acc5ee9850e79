"""The text assets in a real Dagster run (``dg.materialize``) into a real DuckDB file through the
project's atomic IO manager, on the recorded real files (replay) and on live clients without
keys or network (honest status), one day and a range of days in one run."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from crypto_assets.definitions import DOMAINS, build_definitions, build_resources
from crypto_assets.defs import social
from crypto_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG, build_partitions
from crypto_assets.resources.io_manager import AtomicDuckDBPandasIOManager
from crypto_assets.resources.market_source import SnapshotSource
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.resources.text_sources import (
    TEXT_RESOURCE_KEYS,
    DefiLlamaHacksSource,
    RedditSource,
    ReplayTextSource,
    RssSource,
    replay_text_resources,
    text_resources,
)
from crypto_assets.settings import SHARED_DATA_DIR, Settings
from crypto_assets.storage import SCHEMA
from crypto_assets_tests.fixtures import isolated_settings

DAY = "2024-08-29"
RANGE = ("2024-08-27", "2024-08-29")


def _assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return list(social.build_defs(build_partitions(settings)).assets)


def _store_universe(database: Path, days: list[str]) -> None:
    """Each day's market list from the real binance_2024 snapshot, as exchange_markets
    stores it."""
    markets = SnapshotSource(snapshot_dir=str(SHARED_DATA_DIR / "market" / "binance_2024"))
    frames = []
    for day in days:
        stamp = pd.Timestamp(day, tz="UTC")
        frame = markets.fetch_markets(as_of=stamp + pd.Timedelta(days=1))
        frames.append(frame.assign(day=stamp, in_universe=frame["active"]))
    with duckdb.connect(str(database)) as conn:
        conn.execute(f"create schema if not exists {SCHEMA}")
        conn.register("frame", pd.concat(frames, ignore_index=True))
        conn.execute(f"create table {SCHEMA}.exchange_markets as select * from frame")


def _resources(settings: Settings, text: dict) -> dict:
    database = str(settings.resolved_duckdb_path)
    return {
        **text,
        "settings": PipelineSettings.from_settings(settings),
        "duckdb": DuckDBStore(database=database),
        "io_manager": AtomicDuckDBPandasIOManager(database=database, schema=SCHEMA),
        "mlflow_tracking": MlflowTracking(
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_root=str(settings.mlflow_artifact_root),
        ),
    }


def _table(settings: Settings, name: str) -> pd.DataFrame:
    """A stored table (empty when none was written)."""
    with duckdb.connect(str(settings.resolved_duckdb_path), read_only=True) as conn:
        exists = conn.execute(
            "select count(*) from information_schema.tables where table_schema=? and table_name=?",
            [SCHEMA, name],
        ).fetchone()[0]
        return conn.execute(f'select * from {SCHEMA}."{name}"').df() if exists else pd.DataFrame()


def _run(settings: Settings, text: dict, days: tuple[str, str] | None = None, **kwargs):
    """One run of the text assets: one day (``DAY``) or the range ``days`` in a single run."""
    settings.resolved_duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    if not settings.resolved_duckdb_path.exists():
        _store_universe(
            settings.resolved_duckdb_path,
            [d.strftime("%Y-%m-%d") for d in pd.date_range("2024-08-20", DAY)],
        )
    where = (
        {"tags": {RANGE_START_TAG: days[0], RANGE_END_TAG: days[1]}}
        if days
        else {"partition_key": DAY}
    )
    return dg.materialize(
        _assets(settings), resources=_resources(settings, text), **where, **kwargs
    )


@pytest.fixture(scope="module")
def replay_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dg.ExecuteInProcessResult, Settings]:
    settings = isolated_settings(tmp_path_factory.mktemp("social_assets"))
    return _run(settings, replay_text_resources(SHARED_DATA_DIR)), settings


def test_replay_materializes_posts_news_events_and_signals(replay_run):
    result, settings = replay_run
    assert result.success
    posts = _table(settings, "social_posts")
    assert len(posts) > 0 and posts["id"].is_unique
    day = pd.Timestamp(DAY, tz="UTC")
    times = pd.to_datetime(posts["time"], utc=True)
    assert times.between(day, day + pd.Timedelta(days=1), "left").all()
    news = _table(settings, "news_items")
    assert len(news) >= 5 and set(news["source"]) == {"cryptopanic"}
    assert news["event_kind"].notna().all() and news["coins"].str.len().gt(0).any()
    signals = _table(settings, "coin_text_signals")
    top = signals.sort_values("mentions").iloc[-1]
    assert top["mentions"] > 0 and "cryptopanic" in top["sources"]
    assert set(signals["coin"]) <= {"SOL", "TON", "XRP", "XMR", "ETH", "BTC", "DOGE", "ADA"}
    assert signals["sentiment_mean"].isna().all()  # no scorer trained in this store: null
    meta = result.asset_materializations_for_node("coin_text_signals")[0].metadata
    assert "no trained sentiment model" in meta["sentiment"].value


def test_replay_status_rows_and_one_status_check_per_source(replay_run):
    result, settings = replay_run
    status = _table(settings, "social_posts_status")
    by_source = dict(zip(status["source"], status["status"], strict=True))
    assert by_source == {
        "reddit": "replay",
        "telegram": "replay",
        "discord": "unavailable",
        "x": "replay",
    }
    assert list(status.columns) == ["day", "source", "status", "reason", "as_of", "rows"]
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert set(checks) == {k.removesuffix("_source") + "_status" for k in TEXT_RESOURCE_KEYS}
    failed = {name for name, c in checks.items() if not c.passed}
    assert failed == {"discord_status", "rss_status"}  # no recording of either exists
    assert all(c.severity == dg.AssetCheckSeverity.WARN for c in checks.values())
    assert checks["discord_status"].metadata["status"].value == "unavailable"
    assert checks["cryptopanic_status"].metadata["status"].value == "replay"
    assert checks["discord_status"].asset_key == dg.AssetKey("social_posts")


def test_live_without_keys_or_network_still_completes_with_honest_status(tmp_path: Path):
    settings = isolated_settings(tmp_path, text_sources="live")
    text = text_resources(settings)
    closed = "http://127.0.0.1:9"  # nothing listens: the same as no network
    fast = {"max_retries": 0, "min_interval_s": 0.0, "timeout_s": 2.0}
    text["reddit_source"] = RedditSource(public_url=closed, **fast)
    text["rss_source"] = RssSource(feeds=[f"{closed}/feed"], **fast)
    text["hacks_source"] = DefiLlamaHacksSource(url=f"{closed}/hacks", **fast)
    result = _run(settings, text)
    assert result.success
    status = pd.concat(
        [_table(settings, f"{n}_status") for n in ("social_posts", "news_items", "events")]
    )
    by_source = dict(zip(status["source"], status["status"], strict=True))
    assert by_source["reddit"] == "unavailable" and by_source["rss"] == "unavailable"
    assert by_source["cryptopanic"] == "no_key" and by_source["x"] == "no_key"
    assert by_source["telegram"] == "no_key" and by_source["discord"] == "no_key"
    assert by_source["token_unlocks"] == "no_key" and by_source["defillama_hacks"] == "unavailable"
    assert by_source["pump_groups"] == "replay"  # the research record has no live API
    assert _table(settings, "social_posts").empty and _table(settings, "news_items").empty
    assert status["rows"].sum() == len(_table(settings, "events"))
    assert (status.loc[status["status"] != "replay", "rows"] == 0).all()  # nothing invented
    assert _table(settings, "coin_text_signals")["mentions"].sum() == 0


def test_a_range_in_one_run_equals_day_by_day_runs(tmp_path: Path):
    """A backfill (one run over three days, each source fetched once) stores what three
    daily runs store: the same posts, status rows per day, and the same signals (the z-scores
    of a day see the earlier days of the same run as they would see stored ones)."""
    text = replay_text_resources(SHARED_DATA_DIR)
    quick = {"ops": {"coin_text_signals": {"config": {"score_sentiment": False}}}}
    ranged = isolated_settings(tmp_path / "range")
    assert _run(ranged, text, days=RANGE, run_config=quick).success
    daily = isolated_settings(tmp_path / "daily")
    for day in pd.date_range(*RANGE).strftime("%Y-%m-%d"):
        assert _run(daily, text, days=(day, day), run_config=quick).success
    status = _table(ranged, "social_posts_status")
    assert len(status) == 3 * 4 and status["day"].nunique() == 3
    key = {
        "social_posts": ["source", "id"],
        "news_items": ["source", "id"],
        "coin_text_signals": ["day", "coin"],
    }
    for table, columns in key.items():
        a = _table(ranged, table).sort_values(columns).reset_index(drop=True)
        b = _table(daily, table).sort_values(columns).reset_index(drop=True)
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    days = pd.to_datetime(_table(ranged, "coin_text_signals")["day"], utc=True)
    assert days.dt.strftime("%Y-%m-%d").nunique() >= 2  # 08-27 mentions no coin of the universe


def test_domain_is_registered_with_its_resources_and_job(tmp_path: Path):
    assert social in DOMAINS
    assert not social.build_defs(build_partitions(isolated_settings(tmp_path))).resources
    live = build_resources(isolated_settings(tmp_path))
    assert set(TEXT_RESOURCE_KEYS) <= set(live)
    assert isinstance(live["reddit_source"], RedditSource)
    demo = build_resources(isolated_settings(tmp_path, profile="demo"))
    assert all(isinstance(demo[k], ReplayTextSource) for k in TEXT_RESOURCE_KEYS)
    defs = build_definitions(isolated_settings(tmp_path))
    job = defs.resolve_job_def("social_job")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == {
        "social_posts",
        "social_posts_status",
        "news_items",
        "news_items_status",
        "events",
        "events_status",
        "coin_text_signals",
    }
    graph = defs.resolve_asset_graph()
    parents = {k.to_user_string() for k in graph.get(dg.AssetKey("feature_table")).parent_keys}
    assert "coin_text_signals" in parents
