"""The on-chain assets in a real Dagster run (``dg.materialize``) on a real DuckDB file, with the
replay resources over the recorded real files, and with live clients that have no key or no
network (status rows and failed WARN checks, no invented rows)."""

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from crypto_assets.defs.onchain import build_assets, build_defs
from crypto_assets.defs.partitions import Partitions
from crypto_assets.resources.coingecko import CoinGeckoResource
from crypto_assets.resources.esplora import EsploraResource
from crypto_assets.resources.etherscan import EtherscanResource
from crypto_assets.resources.io_manager import AtomicDuckDBPandasIOManager
from crypto_assets.resources.network_metrics import BlockchainChartsResource
from crypto_assets.resources.onchain import build_onchain_resources
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.resources.whale_alert import WhaleAlertResource
from crypto_assets.settings import Settings

# reaches back to the recorded data (2010..2019, 2022); the product's start at history_start
PARTITIONS = Partitions(
    daily=dg.DailyPartitionsDefinition(start_date="2010-01-01", timezone="UTC"),
    horizons=dg.StaticPartitionsDefinition(["24h"]),
)
ASSETS = build_assets(PARTITIONS)
UNIVERSE = {"ops": {"coin_contracts": {"config": {"coins": ["BTC", "ETH", "LINK", "SOL"]}}}}


def _resources(database: Path, source: str = "replay") -> dict:
    resources = build_onchain_resources(Settings(_env_file=None, onchain_source=source))
    return resources | {
        "duckdb": DuckDBStore(database=str(database)),
        "io_manager": AtomicDuckDBPandasIOManager(database=str(database), schema="crypto"),
    }


def _table(database: Path, name: str) -> pd.DataFrame:
    with duckdb.connect(str(database), read_only=True) as conn:
        return conn.execute(f"select * from crypto.{name}").df()


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.asset_key.to_user_string(): e.passed for e in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def whale_day(tmp_path_factory) -> tuple[Path, dg.ExecuteInProcessResult]:
    database = tmp_path_factory.mktemp("onchain") / "onchain.duckdb"
    result = dg.materialize(
        ASSETS, resources=_resources(database), partition_key="2019-06-18", run_config=UNIVERSE
    )
    return database, result


def test_replay_day_of_the_recorded_whale_alert_response(whale_day) -> None:
    database, result = whale_day
    assert result.success
    whales = _table(database, "whale_transfers")
    data = whales[whales["row_kind"] == "data"]
    assert len(data) == 10 and (data["amount_usd"] >= 1_000_000).all()
    assert set(data["direction"]) >= {"to_exchange", "from_exchange", "exchange_internal"}
    status = whales[whales["row_kind"] == "status"].set_index("source")["status"].to_dict()
    assert sorted(status.values()) == ["replay", "unavailable", "unavailable"]
    assert data["day"].dt.strftime("%Y-%m-%d").eq("2019-06-18").all()
    flows = _table(database, "exchange_flows")
    assert set(flows.loc[flows["row_kind"] == "data", "coin"]) == {"BTC", "ETH"}
    coverage = _table(database, "onchain_coverage").set_index("coin")
    assert coverage["has_onchain"].to_dict() == {
        "BTC": True,
        "ETH": True,
        "LINK": False,
        "SOL": False,
    }  # LINK's one transfer is below the $1M whale threshold
    contracts = _table(database, "coin_contracts")
    assert contracts.loc[contracts["row_kind"] == "status", "status"].tolist() == ["unavailable"]
    checks = _checks(result)
    assert checks["whale_transfers"] is False  # Etherscan / Esplora have no recording
    assert checks["exchange_flows"] is True
    metadata = result.asset_materializations_for_node("whale_transfers")[0].metadata
    assert metadata["rows"].value == 10 and metadata["below_threshold"].value == 14
    assert metadata["coverage"].value == "2 coins with whale transfers: BTC, ETH"
    assert "whale_alert replay" in metadata["source"].value and metadata["as_of"].value
    (evaluation,) = [
        e for e in result.get_asset_check_evaluations() if e.asset_key.path == ["whale_transfers"]
    ]
    assert evaluation.check_name == "source_status"
    assert evaluation.metadata["status"].value == "unavailable"  # what alerting reads
    assert "no Etherscan transfer list is recorded" in evaluation.metadata["reason"].value
    coverage = result.asset_materializations_for_node("onchain_coverage")[0].metadata
    assert coverage["coins_without"].value == "LINK, SOL"


def test_rerun_of_a_partition_replaces_it(whale_day) -> None:
    database, _ = whale_day
    before = len(_table(database, "whale_transfers"))
    selection = [
        a for a in ASSETS if a.key.to_user_string() in {"coin_contracts", "whale_transfers"}
    ]
    result = dg.materialize(
        selection,
        resources=_resources(database),
        partition_key="2019-06-18",
        run_config=UNIVERSE,
    )
    assert result.success and len(_table(database, "whale_transfers")) == before


def test_replay_network_and_holder_days(tmp_path) -> None:
    database = tmp_path / "onchain.duckdb"
    network = [a for a in ASSETS if a.key.to_user_string() == "network_activity"]
    result = dg.materialize(network, resources=_resources(database), partition_key="2017-06-30")
    assert result.success
    table = _table(database, "network_activity")
    data = table[table["row_kind"] == "data"].set_index("coin")
    assert set(data.index) == {"BTC", "ETH"} and data["net_tx_logchg_30d"].notna().all()
    assert (data["known_at"] == pd.Timestamp("2017-07-01", tz="UTC")).all()
    holders = [
        a for a in ASSETS if a.key.to_user_string() in {"coin_contracts", "holder_concentration"}
    ]
    result = dg.materialize(
        holders, resources=_resources(database), partition_key="2022-04-21", run_config=UNIVERSE
    )
    table = _table(database, "holder_concentration")
    row = table[table["row_kind"] == "data"].iloc[0]
    assert row["holders"] == 338 and row["complete"] and pd.isna(row["coin"])
    assert 0 < row["top10_share"] <= row["top100_share"] <= 1


def test_live_sources_without_keys_or_network_leave_status_rows_only(tmp_path) -> None:
    database = tmp_path / "onchain.duckdb"
    closed = "http://127.0.0.1:9"  # discard port: nothing listens, the connection is refused
    resources = _resources(database, "live") | {
        "whale_alert": WhaleAlertResource(),
        "etherscan": EtherscanResource(),
        "bitcoin_explorer": EsploraResource(base_url=closed, max_retries=0),
        "coin_list": CoinGeckoResource(base_url=closed, max_retries=0, timeout_s=2),
        "network_metrics": BlockchainChartsResource(base_url=closed, max_retries=0, timeout_s=2),
    }
    selection = [
        a
        for a in ASSETS
        if a.key.to_user_string()
        in {"coin_contracts", "whale_transfers", "exchange_flows", "network_activity"}
    ]
    result = dg.materialize(
        selection, resources=resources, partition_key="2024-01-02", run_config=UNIVERSE
    )
    assert result.success
    whales = _table(database, "whale_transfers")
    assert set(whales["row_kind"]) == {"status"}
    reasons = whales.set_index("status")["reason"].to_dict()
    assert (
        "CRYPTO_ASSETS_WHALE_ALERT_API_KEY" in reasons["no_key"] or "ETHERSCAN" in reasons["no_key"]
    )
    network = _table(database, "network_activity").set_index("source")["status"].to_dict()
    assert sorted(network.values()) == ["no_key", "unavailable"]  # Etherscan; blockchain.com
    contracts = _table(database, "coin_contracts")
    matches = contracts.loc[contracts["row_kind"] == "data", "match"].value_counts().to_dict()
    assert matches == {"native": 2, "no_coin_list": 2}
    checks = _checks(result)
    assert not checks["whale_transfers"] and not checks["network_activity"]
    assert not checks["coin_contracts"]
    flows = _table(database, "exchange_flows")
    assert set(flows["row_kind"]) == {"status"} and "no_key" in flows["reason"][0]


def test_defs_merge_with_the_built_resources(tmp_path) -> None:
    database = tmp_path / "onchain.duckdb"
    merged = dg.Definitions.merge(
        build_defs(PARTITIONS), dg.Definitions(resources=_resources(database))
    )
    keys = {k.to_user_string() for k in merged.resolve_asset_graph().get_all_asset_keys()}
    assert {"coin_contracts", "whale_transfers", "exchange_flows", "holder_concentration"} <= keys
    assert {"network_activity", "onchain_coverage"} <= keys


def test_coin_contracts_read_the_days_universe_from_exchange_markets(tmp_path) -> None:
    database = tmp_path / "onchain.duckdb"
    markets = pd.DataFrame(
        {
            "symbol": ["BTC/USD", "ETH/USDT", "LINK/USD", "DOGE/EUR"],
            "day": pd.Timestamp("2019-06-18", tz="UTC"),
            "in_universe": [True, True, True, False],
        }
    )
    with duckdb.connect(str(database)) as conn:
        conn.execute("create schema crypto")
        conn.register("markets_frame", markets)
        conn.execute("create table crypto.exchange_markets as select * from markets_frame")
    contracts = [a for a in ASSETS if a.key.to_user_string() == "coin_contracts"]
    result = dg.materialize(contracts, resources=_resources(database), partition_key="2019-06-18")
    table = _table(database, "coin_contracts")
    assert set(table.loc[table["row_kind"] == "data", "coin"]) == {"BTC", "ETH", "LINK"}
    metadata = result.asset_materializations_for_node("coin_contracts")[0].metadata
    assert metadata["coverage"].value == "2 of 3 universe coins have a known chain"
