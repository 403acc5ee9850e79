"""The risk assets in a real Dagster run on a real DuckDB file: recorded books (replay), and
ccxt's Kraken REST path against the replay server (live form, frozen clock)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from crypto_assets.defs import risk as risk_domain
from crypto_assets.defs.partitions import Partitions
from crypto_assets.horizons import HORIZON_NAMES
from crypto_assets.ml.selection import TOP_COLUMNS
from crypto_assets.resources.io_manager import AtomicDuckDBPandasIOManager
from crypto_assets.resources.order_books import ExchangeOrderBooks
from crypto_assets.resources.risk_rules import RiskRulesResource
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.risk.assess import CHECKED_TOP_COLUMNS
from crypto_assets.risk.rules import RiskRules
from crypto_assets.settings import SettingsError, load_settings
from crypto_assets_tests.fixtures import BINANCE_DIR, isolated_settings

DAY = "2024-08-01"
TOP = ["SOL/USDT", "BTC/USDT", "DOGE/USDT", "ETH/USDT"]  # in expected-30d-return order
PARTITIONS = Partitions(
    daily=dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-09-01"),
    horizons=dg.StaticPartitionsDefinition(HORIZON_NAMES),
)
RISK_DEFS = risk_domain.build_defs(PARTITIONS)
order_books, risk_assessment = RISK_DEFS.assets


def _seed(db: Path, top: list[str]) -> None:
    """Real clean daily candles (binance_2024) and a top list for DAY, as the pipeline stores."""
    candles = pd.read_parquet(BINANCE_DIR / "ohlcv_1d.parquet")
    candles = candles[
        candles["symbol"].isin(["SOL/USDT", "BTC/USDT", "DOGE/USDT", "ETH/USDT", "SHIB/USDT"])
    ]
    candles = candles[["symbol", "date", "open", "high", "low", "close", "volume"]].assign(
        timeframe="1d"
    )
    n = len(top)
    frame = pd.DataFrame(
        {
            "day": pd.Timestamp(DAY, tz="UTC"),
            "symbol": top,
            **{
                f"expected_return_{h}": np.linspace(0.3, 0.1, n) for h in ("1h", "24h", "7d", "30d")
            },
            "confidence_30d": 0.9,
            "confidence_estimate_30d": 0.92,
            "as_of": pd.Timestamp("2024-08-02", tz="UTC"),
            "model_version_30d": "3",
            "explanation": "momentum",
        }
    )[TOP_COLUMNS]
    with duckdb.connect(str(db)) as conn:
        conn.execute("create schema if not exists crypto")
        conn.register("candles_frame", candles)
        conn.register("top_frame", frame)
        conn.execute("create table crypto.clean_ohlcv as select * from candles_frame")
        conn.execute("create table crypto.top_coins as select * from top_frame")


def _resources(db: Path, source, watch_list: list[str] | None = None, **rules) -> dict:
    return {
        "order_book_source": source,
        "risk_rules": RiskRulesResource(parameters=rules, watch_list=watch_list),
        "duckdb": DuckDBStore(database=str(db)),
        "io_manager": AtomicDuckDBPandasIOManager(database=str(db), schema="crypto"),
    }


def _table(db: Path, name: str) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(f"select * from crypto.{name}").df()


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_replayed_books_flow_to_the_checked_top_list(tmp_path, recorded_books) -> None:
    db = tmp_path / "risk.duckdb"
    _seed(db, TOP)
    result = dg.materialize(
        [order_books, risk_assessment],
        resources=_resources(db, recorded_books, watch_list=["XMR/USD", "NKN/USDT"]),
        partition_key=DAY,
    )
    assert result.success
    status = _table(db, "order_book_status").set_index("symbol")
    assert (
        status.loc["XMR/USD", "status"] == "replay" and status.loc["NKN/USDT", "status"] == "replay"
    )
    assert status.loc["BTC/USDT", "reason"] == "no recorded book for BTC/USDT"
    books = _table(db, "order_books")
    assert set(books["symbol"]) == {"XMR/USD", "NKN/USDT"} and (books["price"] > 0).all()
    assert books.groupby(["symbol", "side"]).size().max() == 100
    checked = _table(db, "risk_checked_top_coins")
    assert list(checked.columns) == CHECKED_TOP_COLUMNS
    assert list(checked["symbol"]) == TOP  # the top list's order, nobody dropped
    assert (
        checked["suggested_allocation"].sum() <= 1.0 and (checked["suggested_allocation"] > 0).all()
    )
    assert set(checked["risk_flags"]) == {"no order book"}
    metrics = _table(db, "risk_metrics").set_index("symbol")
    assert metrics.loc["XMR/USD", "role"] == "watch" and not metrics.loc["XMR/USD", "book_current"]
    assert metrics.loc["XMR/USD", "spread"] == pytest.approx((354.48 - 353.64) / 354.06)
    assert "2021-04-17" in metrics.loc["XMR/USD", "risk_flags"]  # says the book is old
    assert _checks(result) == {
        "books_from_source": False,  # WARN: the top coins have no recorded book
        "source_reachable": True,  # the recordings were read
        "every_top_coin_listed": True,
        "current_books": False,  # WARN
    }
    # run again: the partition is replaced, not appended
    dg.materialize(
        [order_books, risk_assessment],
        resources=_resources(db, recorded_books, watch_list=["XMR/USD", "NKN/USDT"]),
        partition_key=DAY,
    )
    assert len(_table(db, "risk_checked_top_coins")) == len(TOP)


def test_live_books_enforce_the_rules_and_backfills_keep_old_days(tmp_path, kraken_server) -> None:
    db = tmp_path / "risk.duckdb"
    _seed(db, ["BTC/USDT"])
    source = ExchangeOrderBooks(
        api_url=kraken_server.url,
        rate_limit_ms=5,
        backoff_base_s=0.01,
        max_retries=0,
        frozen_clock="2024-08-02T00:20:00Z",
    )
    resources = _resources(db, source, watch_list=["XMR/USD"], min_return_days=20)
    result = dg.materialize([order_books, risk_assessment], resources=resources, partition_key=DAY)
    assert result.success
    status = _table(db, "order_book_status").set_index("symbol")
    assert status.loc["XMR/USD", "status"] == "ok"
    assert status.loc["BTC/USDT", "status"] == "error"  # listed on Kraken, no recorded book: 404
    metrics = _table(db, "risk_metrics").set_index("symbol")
    assert metrics.loc["XMR/USD", "book_current"]  # read 20 min after the day ended
    assert metrics.loc["XMR/USD", "buy_slippage"] > 0
    assert (
        "would be held back: 0 daily returns < 20: cannot size"
        in metrics.loc["XMR/USD", "risk_flags"]
    )
    # a backfill of an old day never files today's book under it, and keeps what is stored
    old = "2024-07-01"
    with duckdb.connect(str(db)) as conn:
        conn.execute("update crypto.top_coins set day = ?", [pd.Timestamp(old, tz="UTC")])
    dg.materialize([order_books], resources=resources, partition_key=old)
    status = _table(db, "order_book_status")
    old_rows = status[status["day"] == pd.Timestamp(old, tz="UTC")].set_index("symbol")
    assert old_rows.loc["XMR/USD", "status"] == "unavailable"
    assert old_rows.loc["XMR/USD", "reason"].startswith("a live book shows only the present")
    books = _table(db, "order_books")
    assert set(books["day"].dt.strftime("%Y-%m-%d")) == {DAY}


def test_an_empty_day_is_a_valid_answer(tmp_path, recorded_books) -> None:
    db = tmp_path / "risk.duckdb"
    _seed(db, [])
    result = dg.materialize(
        [order_books, risk_assessment], resources=_resources(db, recorded_books), partition_key=DAY
    )
    assert result.success
    status = _table(db, "order_book_status")
    assert status["reason"].tolist() == [
        "no symbols requested: the top list is empty and the watch list too"
    ]
    assert _checks(result)["every_top_coin_listed"]


def test_defs_merge_with_resources_and_sensor_follows_top_coins(tmp_path, recorded_books) -> None:
    db = tmp_path / "risk.duckdb"
    merged = dg.Definitions.merge(
        RISK_DEFS, dg.Definitions(resources=_resources(db, recorded_books))
    )
    dg.Definitions.validate_loadable(merged)
    assert merged.resolve_job_def("risk_job").partitions_def is not None
    instance = dg.DagsterInstance.ephemeral()

    @dg.asset(partitions_def=order_books.partitions_def, name="top_coins")
    def top_coins_stub() -> None:  # stands in for the real top list: only its event matters
        return None

    dg.materialize([top_coins_stub], instance=instance, partition_key=DAY)
    context = dg.build_sensor_context(instance=instance, definitions=merged)
    (sensor,) = RISK_DEFS.sensors
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    requests = list(sensor(context) or [])
    assert [r.partition_key for r in requests] == [DAY]


def test_settings_resource_and_rules_agree(tmp_path) -> None:
    fields = set(RiskRules.__dataclass_fields__)
    assert (
        set(RiskRulesResource.from_settings(isolated_settings(tmp_path)).parameters or {}) == fields
    )
    assert {f"risk_{f}" for f in fields} <= set(type(isolated_settings(tmp_path)).model_fields)
    settings = isolated_settings(tmp_path, risk_ticket_usd=1_000, risk_watch_list="xmr/usd,OMG/USD")
    resource = RiskRulesResource.from_settings(settings)
    assert resource.rules().ticket_usd == 1_000
    assert resource.watch_list == ["XMR/USD", "OMG/USD"]
    assert RiskRulesResource().rules() == RiskRules()  # the settings' defaults are the rules'
    assert RiskRulesResource.from_settings(isolated_settings(tmp_path)).rules() == RiskRules()
    with pytest.raises(SettingsError, match="CRYPTO_ASSETS_RISK_MAX_SLIPPAGE=2"):
        load_settings(_env_file=None, risk_max_slippage=2)
    with pytest.raises(SettingsError, match="CRYPTO_ASSETS_RISK_MIN_RETURN_DAYS=40"):
        load_settings(_env_file=None, risk_min_return_days=40)
    with pytest.raises(SettingsError, match="CRYPTO_ASSETS_RISK_WATCH_LIST"):
        load_settings(_env_file=None, risk_watch_list="BTC-USD")
