"""The on-chain features in the whole pipeline, where the recorded data overlap real candles:
the real Kraken BTC/ETH hourly candles of February 2018 (the recorded network metrics end
2018-02-20) run through the market, on-chain and features jobs of a real Dagster instance on a
real DuckDB file (replay resources: no key, no network). Checked: the feature table carries
the network features for the coins that have them, as of each candle close only; the coverage
report, `status` and the lineage say which coins have on-chain data and which do not."""

from __future__ import annotations

import json
import os

import dagster as dg
import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from crypto_assets.cli import app
from crypto_assets.definitions import build_definitions
from crypto_assets.onchain.features import REGIME_COLUMNS
from crypto_assets.onchain.network import FEATURE_COLUMNS, load_recorded_metrics, network_features
from crypto_assets.runner import dagster_instance, run_pipeline
from crypto_assets.status import onchain_summary
from crypto_assets.storage import publish
from crypto_assets_tests.fixtures import (
    KRAKEN_BTC_ETH_DIR,
    cut_snapshot,
    isolated_settings,
    point_environment,
)
from crypto_assets_tests.onchain.replay import ONCHAIN_DIR

FIRST, LAST = "2018-02-14", "2018-02-20"
ONCHAIN_TABLES = ("network_activity", "whale_transfers", "exchange_flows", "holder_concentration")


@pytest.fixture(scope="module")
def btc_eth(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("btc_eth")
    snapshot = cut_snapshot(
        root / "snapshot",
        ["BTC/USD", "ETH/USD"],
        "2018-01-01",
        "2018-02-21",
        source=KRAKEN_BTC_ETH_DIR,
        timeframes=("1h",),
    )
    patch = pytest.MonkeyPatch()
    for name in [n for n in os.environ if n.startswith("CRYPTO_ASSETS_") or n == "DAGSTER_HOME"]:
        patch.delenv(name)
    settings = isolated_settings(
        root,
        profile="demo",
        source="snapshot",
        snapshot_dir=snapshot,
        history_start="2018-01-01",
        onchain_data_dir=ONCHAIN_DIR,
    )
    messages: list[str] = []
    run_pipeline(
        settings,
        pd.Timestamp(FIRST, tz="UTC"),
        pd.Timestamp(LAST, tz="UTC"),
        progress=messages.append,
        # only what the on-chain join needs: the other domains' jobs are tested on their own
        skip_jobs=(
            "sentiment_job",
            "verdicts_job",
            "social_job",
            "retrain_job",
            "predictions_job",
            "feedback_job",
            "risk_job",
        ),
    )
    patch.undo()
    publish(settings.resolved_duckdb_path)  # status summaries read the published copy
    with duckdb.connect(str(settings.resolved_duckdb_path), read_only=True) as conn:
        features = conn.execute("select * from crypto.feature_table").df()
    features["date"] = pd.to_datetime(features["date"], utc=True)
    return {"root": root, "settings": settings, "messages": messages, "features": features}


def test_jobs_run_in_graph_order(btc_eth: dict) -> None:
    jobs = [m.split(" ")[0] for m in btc_eth["messages"]]
    assert jobs == ["market_job", "onchain_job", "features_job"]


def test_feature_table_has_network_features_as_of_each_close(btc_eth: dict) -> None:
    features = btc_eth["features"]
    assert set(features["symbol"]) == {"BTC/USD", "ETH/USD"}
    recorded = network_features(load_recorded_metrics(str(ONCHAIN_DIR), "test"))
    recorded = recorded.set_index(["coin", "metric_day"])
    steps = features["timeframe"].map({"1h": pd.Timedelta(hours=1), "1d": pd.Timedelta(days=1)})
    # the newest day complete at the candle's close: day D is public at D + 1 day
    source_day = (features["date"] + steps).dt.floor("D") - pd.Timedelta(days=1)
    stored = source_day >= pd.Timestamp(FIRST, tz="UTC")  # network_activity ran from FIRST
    has = features[FEATURE_COLUMNS].notna().any(axis=1)
    assert has[stored].all() and not has[~stored].any()
    assert (~stored).sum() < stored.sum() and stored.sum() > 300
    assert features.loc[stored, REGIME_COLUMNS].notna().all(axis=1).all()
    for index in features[stored].sample(24, random_state=1).index:
        row = features.loc[index]
        expected = recorded.loc[(row["symbol"].split("/")[0], source_day[index])]
        for column in FEATURE_COLUMNS:
            got, want = row[column], expected[column]
            assert (pd.isna(got) and pd.isna(want)) or got == pytest.approx(want), (
                row["symbol"],
                row["date"],
                column,
            )
        btc = recorded.loc[("BTC", source_day[index])]
        assert row["regime_btc_tx_logchg_7d"] == pytest.approx(btc["net_tx_logchg_7d"])


def test_the_models_do_not_see_the_onchain_columns(btc_eth: dict) -> None:
    from crypto_assets.features.pipeline import feature_names

    names = set(feature_names("1h")) | set(feature_names("1d"))
    assert not names & {*FEATURE_COLUMNS, *REGIME_COLUMNS}


def test_coverage_and_status_say_which_coins_have_onchain_data(
    btc_eth: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = btc_eth["settings"]
    summary = onchain_summary(settings)
    assert summary["day"] == LAST
    assert summary["covered"] == ["BTC", "ETH"] and summary["uncovered"] == []
    assert summary["feature_coins"] == ["BTC/USD", "ETH/USD"]
    statuses = {(r["table"], r["status"]) for r in summary["sources"]}
    assert ("network_activity", "replay") in statuses
    assert ("whale_transfers", "unavailable") in statuses  # Etherscan transfers: no recording
    instance = dagster_instance(settings)
    event = instance.get_latest_materialization_event(dg.AssetKey("feature_table"))
    metadata = event.asset_materialization.metadata
    assert metadata["onchain_coins"].value == "2 of 2 coins: BTC/USD, ETH/USD"
    assert metadata["onchain_coins_without"].value == "-"
    point_environment(monkeypatch, btc_eth["root"])
    status = CliRunner().invoke(app, ["status", "--json", "--demo"], catch_exceptions=False)
    payload = json.loads(status.stdout)
    assert payload["onchain"]["covered"] == ["BTC", "ETH"]
    rows = {row["asset"]: row for row in payload["assets"]}
    assert rows["network_activity"]["coins"] == 2 and rows["network_activity"]["status_rows"] > 0
    text = CliRunner().invoke(app, ["status", "--demo"], catch_exceptions=False).stdout
    assert "2 of 2 universe coins have on-chain data (BTC, ETH)" in text


def test_lineage_shows_source_and_as_of_rules(btc_eth: dict) -> None:
    defs = build_definitions(btc_eth["settings"])
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    for name in (*ONCHAIN_TABLES, "coin_contracts", "onchain_coverage"):
        assert specs[name].metadata["source"] and specs[name].metadata["as_of_rule"]
    parents = {d.asset_key.to_user_string() for d in specs["feature_table"].deps}
    assert set(ONCHAIN_TABLES) <= parents
    assert "D + 1 day" in specs["network_activity"].metadata["as_of_rule"]


def test_demo_rejects_a_last_day_outside_the_snapshot(
    btc_eth: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_environment(monkeypatch, btc_eth["root"])
    monkeypatch.setenv("CRYPTO_ASSETS_HISTORY_START", "2018-01-01")
    snapshot = btc_eth["settings"].snapshot_dir
    result = CliRunner().invoke(
        app, ["demo", "--snapshot", str(snapshot), "--last-day", "2019-01-01"]
    )
    assert result.exit_code == 1
    assert "outside the snapshot's days" in result.output
