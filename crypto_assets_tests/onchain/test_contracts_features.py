"""Coin <-> contract mapping (doc-shaped CoinGecko fixture: no real coin list is recorded), the
as-of join (real network metrics onto real Kraken BTC/ETH candles) and the coverage report."""

import numpy as np
import pandas as pd
import pytest

from crypto_assets.horizons import TIMEFRAMES
from crypto_assets.onchain.contracts import (
    base_coins,
    contract_lookup,
    map_universe,
    parse_coin_list,
)
from crypto_assets.onchain.features import (
    ONCHAIN_COLUMNS,
    asof_join_onchain,
    coverage_summary,
    onchain_coverage,
    onchain_feature_coverage,
)
from crypto_assets.onchain.network import (
    BTC_FILE,
    ETH_FILE,
    network_features,
    parse_btc_daily,
    parse_eth_daily,
)
from crypto_assets_tests.fixtures import KRAKEN_BTC_ETH_DIR
from crypto_assets_tests.onchain.replay import ONCHAIN_DIR

AS_OF = pd.Timestamp("2024-01-02", tz="UTC")
# Doc-shaped parsing fixture: the two entries of CoinGecko's documented /coins/list?
# include_platform=true example, plus one made-up entry sharing a symbol, to exercise the
# ambiguity rule. No real coin list payload is recorded in ../shared/data.
COIN_LIST_FIXTURE = [
    {
        "id": "0chain",
        "symbol": "zcn",
        "name": "Zus",
        "platforms": {
            "ethereum": "0xb9ef770b6a5e12e45983c5d80545258aa38f3b78",
            "polygon-pos": "0x8bb30e0e67b11b978a5040144c410e1ccddcba30",
        },
    },
    {"id": "01coin", "symbol": "zoc", "name": "01coin", "platforms": {}},
    {"id": "another-zoc", "symbol": "zoc", "name": "Another", "platforms": {"ethereum": ""}},
]


def test_coin_list_maps_unique_symbols_and_refuses_ambiguous_ones() -> None:
    coin_list = parse_coin_list(COIN_LIST_FIXTURE, "coingecko test", AS_OF)
    assert set(coin_list["chain"].dropna()) == {"ethereum", "polygon"}
    contracts = map_universe(["ZCN", "ZOC", "BTC", "NOPE"], coin_list, source="cg", as_of=AS_OF)
    by_coin = contracts.groupby("coin")["match"].first().to_dict()
    assert by_coin == {"BTC": "native", "NOPE": "not_listed", "ZCN": "unique", "ZOC": "ambiguous"}
    zoc = contracts[contracts["coin"] == "ZOC"].iloc[0]
    assert zoc["candidates"] == 2 and pd.isna(zoc["contract"])
    lookup = contract_lookup(contracts)
    assert lookup[("polygon", "0x8bb30e0e67b11b978a5040144c410e1ccddcba30")] == "ZCN"
    chosen = map_universe(["ZOC"], coin_list, overrides={"zoc": "01coin"}, source="cg")
    assert chosen["match"].tolist() == ["override"]


def test_without_a_coin_list_only_native_coins_are_placed() -> None:
    contracts = map_universe(["BTC", "ETH", "LINK"], None, source="none")
    assert contracts.set_index("coin")["match"].to_dict() == {
        "BTC": "native",
        "ETH": "native",
        "LINK": "no_coin_list",
    }
    assert base_coins(["LINK/USD", "BTC/USDT", "BTC/USD"]) == ["BTC", "LINK"]
    with pytest.raises(ValueError):
        parse_coin_list({"error": "rate limited"}, "x", AS_OF)


@pytest.fixture(scope="module")
def network() -> pd.DataFrame:
    as_of = pd.Timestamp("2018-02-21", tz="UTC")
    metrics = pd.concat(
        [
            parse_btc_daily(ONCHAIN_DIR / BTC_FILE, "kaggle", as_of),
            parse_eth_daily(ONCHAIN_DIR / ETH_FILE, "kaggle", as_of),
        ]
    )
    return network_features(metrics)


@pytest.fixture(scope="module")
def kraken_rows() -> pd.DataFrame:
    """Real Kraken BTC/ETH hourly candles of two weeks in 2017, as a feature frame's keys."""
    candles = pd.read_parquet(KRAKEN_BTC_ETH_DIR / "ohlcv_1h.parquet")
    window = (candles["date"] >= "2017-03-01") & (candles["date"] < "2017-03-15")
    frame = candles.loc[window, ["symbol", "date", "close"]].reset_index(drop=True)
    return frame.assign(timeframe="1h")


def test_network_features_join_only_after_the_day_ended(network, kraken_rows) -> None:
    joined = asof_join_onchain(kraken_rows, TIMEFRAMES, network=network)
    assert set(ONCHAIN_COLUMNS) <= set(joined.columns)
    btc = joined[joined["symbol"].str.startswith("BTC")]
    # the candle 2017-03-05 22:00 closes at 23:00: day 03-05 is not over, 03-04 is the newest
    row = btc[btc["date"] == pd.Timestamp("2017-03-05 22:00", tz="UTC")].iloc[0]
    expected = network[
        (network["coin"] == "BTC") & (network["metric_day"] == pd.Timestamp("2017-03-04", tz="UTC"))
    ]["net_tx_logchg_7d"].iloc[0]
    assert row["net_tx_logchg_7d"] == pytest.approx(expected)
    # the 23:00 candle closes at midnight: day 03-05 has just become public
    row = btc[btc["date"] == pd.Timestamp("2017-03-05 23:00", tz="UTC")].iloc[0]
    expected = network[
        (network["coin"] == "BTC") & (network["metric_day"] == pd.Timestamp("2017-03-05", tz="UTC"))
    ]["net_tx_logchg_7d"].iloc[0]
    assert row["net_tx_logchg_7d"] == pytest.approx(expected)
    # every row, ETH included, carries BTC's network as regime features
    eth = joined[joined["symbol"].str.startswith("ETH")]
    assert eth["regime_btc_tx_logchg_7d"].notna().all()
    assert not np.allclose(eth["net_tx_logchg_7d"], eth["regime_btc_tx_logchg_7d"])


def test_stale_metrics_are_not_carried_forward(network) -> None:
    rows = pd.DataFrame(
        {
            "symbol": ["BTC/USD"],
            "date": [pd.Timestamp("2018-03-10", tz="UTC")],  # the recording ends 2018-02-20
            "timeframe": ["1d"],
        }
    )
    joined = asof_join_onchain(rows, TIMEFRAMES, network=network)
    assert joined["net_tx_logchg_7d"].isna().all()


def test_whale_flow_and_holder_features(whale_frame, label_book) -> None:
    from crypto_assets.onchain.flows import exchange_flows
    from crypto_assets.onchain.transfers import classify_whales

    whales, _ = classify_whales(whale_frame, label_book, 500_000)
    flows = exchange_flows(whales)
    rows = pd.DataFrame(
        {
            "symbol": ["BTC/USD", "BTC/USD", "BTC/USD", "ETH/USD", "LINK/USD"],
            "date": pd.to_datetime(
                [
                    "2019-06-18 04:00",
                    "2019-06-18 05:00",
                    "2019-06-19 00:00",
                    "2019-06-18 05:00",
                    "2019-06-18 05:00",
                ],
                utc=True,
            ),
            "timeframe": ["1h"] * 5,
        }
    )
    holders = pd.DataFrame(
        {
            "coin": ["LINK"],
            "as_of": [pd.Timestamp("2019-06-18 05:30", tz="UTC")],
            "top10_share": [0.5],
            "gini": [0.9],
            "hhi": [0.1],
            "top10_share_change": [0.01],
        }
    )
    joined = asof_join_onchain(rows, TIMEFRAMES, whales=whales, flows=flows, holders=holders)
    btc = whales[whales["coin"] == "BTC"]
    to_exchange = btc.loc[btc["direction"] == "to_exchange", "amount_usd"].sum()
    # 04:00 candle closes at 05:00, before the first transfer (05:49): nothing yet
    assert joined.loc[0, "whale_count_24h"] == 0
    # 05:00 candle closes at 06:00: all of the recorded BTC transfers are public
    assert joined.loc[1, "whale_count_24h"] == len(btc)
    assert joined.loc[1, "whale_to_exchange_usd_24h"] == pytest.approx(to_exchange)
    # the day's flow is public once 2019-06-18 ended; the hourly rows of that day have none
    assert np.isnan(joined.loc[1, "exchange_netflow_usd_1d"])
    net = flows.set_index("coin").loc["BTC", "netflow_usd"]
    assert joined.loc[2, "exchange_netflow_usd_1d"] == pytest.approx(net)
    assert joined.loc[2, "whale_count_24h"] == len(btc)  # still inside the 24 h window
    assert joined.loc[4, "holder_gini"] == 0.9
    assert joined.loc[3, "holder_gini"] != joined.loc[3, "holder_gini"]  # ETH: no holder data


def test_coverage_report_names_coins_without_data(network, whale_frame) -> None:
    coverage = onchain_coverage(
        ["BTC", "ETH", "LINK", "SOL"],
        map_universe(["BTC", "ETH", "LINK", "SOL"], None, source="none"),
        network=network,
        whales=whale_frame,
    )
    by_coin = coverage.set_index("coin")
    assert by_coin.loc["BTC", "network_days"] == 2920  # one feature row per recorded day
    assert by_coin.loc["LINK", "whale_transfers"] == 1
    assert not by_coin.loc["SOL", "has_onchain"]
    assert coverage_summary(coverage).startswith("3 of 4 universe coins have on-chain data")


def test_times_read_back_from_duckdb_in_microseconds_join_the_same(whale_frame, label_book):
    """DuckDB hands stored times back as datetime64[us]: the as-of join must give the same
    values as with nanoseconds (mixed resolutions put every fact outside every window)."""
    from crypto_assets.onchain.transfers import classify_whales

    whales, _ = classify_whales(whale_frame, label_book, 500_000)
    rows = pd.DataFrame(
        {
            "symbol": ["BTC/USD", "BTC/USD"],
            "date": pd.to_datetime(["2019-06-18 05:00", "2019-06-19 00:00"], utc=True),
            "timeframe": ["1h", "1d"],
        }
    )
    stored = whales.assign(time=whales["time"].astype("datetime64[us, UTC]"))
    expected = asof_join_onchain(rows, TIMEFRAMES, whales=whales)
    got = asof_join_onchain(rows, TIMEFRAMES, whales=stored)
    assert got["whale_count_24h"].tolist() == expected["whale_count_24h"].tolist()
    assert got["whale_count_24h"].iloc[0] > 0


def test_feature_coverage_names_coins_with_and_without(network) -> None:
    rows = pd.DataFrame(
        {
            "symbol": ["BTC/USD", "SOL/USD"],
            "date": pd.to_datetime(["2017-06-30", "2017-06-30"], utc=True),
            "timeframe": ["1d", "1d"],
        }
    )
    joined = asof_join_onchain(rows, TIMEFRAMES, network=network)
    coverage = onchain_feature_coverage(joined)
    assert coverage["onchain_coins"] == "1 of 2 coins: BTC/USD"
    assert coverage["onchain_coins_without"] == "SOL/USD"
    assert coverage["rows_with_onchain"] == 1 and coverage["rows_with_onchain_regime"] == 2
    assert onchain_feature_coverage(rows.iloc[0:0])["rows_with_onchain"] == 0
