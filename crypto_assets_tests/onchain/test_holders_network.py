"""Holder concentration on the REAL recorded holder export; network metrics and features on the
REAL recorded BTC / ETH daily files."""

import numpy as np
import pandas as pd
import pytest

from crypto_assets.onchain.holders import (
    concentration,
    concentration_row,
    gini,
    parse_etherscan_holders,
    parse_holder_export,
)
from crypto_assets.onchain.network import (
    BTC_FILE,
    ETH_FILE,
    network_features,
    parse_blockchain_chart,
    parse_btc_daily,
    parse_eth_daily,
    parse_etherscan_daily,
)
from crypto_assets_tests.onchain.replay import HOLDER_FILE, HOLDER_TOKEN, ONCHAIN_DIR

DAY = pd.Timestamp("2022-04-21", tz="UTC")


@pytest.fixture(scope="module")
def holders() -> pd.DataFrame:
    return parse_holder_export(HOLDER_FILE, "ethereum", HOLDER_TOKEN.upper(), "export", DAY)


def test_holder_export_concentration(holders, label_book) -> None:
    assert len(holders) == 338 and holders["contract"].iloc[0] == HOLDER_TOKEN
    figures = concentration(holders, label_book)
    ordered = np.sort(holders["balance"].to_numpy())[::-1]
    assert figures["top10_share"] == pytest.approx(ordered[:10].sum() / ordered.sum())
    assert figures["hhi"] == pytest.approx(((ordered / ordered.sum()) ** 2).sum())
    assert 0.8 < figures["gini"] < 0.95  # one holder has ~17.7M of ~24M tokens
    assert figures["exchange_share"] == 0.0  # no holder is a labelled exchange wallet


def test_gini_bounds() -> None:
    assert gini(np.array([5.0, 5.0, 5.0])) == pytest.approx(0.0)
    assert gini(np.array([0.0, 0.0, 10.0])) == pytest.approx(0.0)  # zeros are not holders
    assert gini(np.array([1.0, 99.0])) == pytest.approx(0.49)


def test_concentration_change_against_the_previous_snapshot(holders) -> None:
    first = concentration_row(holders, None, True, None)
    assert first["top10_share_change"].isna().all()
    # a later list where the largest holder sold half to a new address
    later = holders.copy()
    top = later["balance"].idxmax()
    later.loc[top, "balance"] /= 2
    extra = later.loc[[top]].assign(address="0x" + "1" * 40)
    later = pd.concat([later, extra], ignore_index=True).assign(as_of=DAY + pd.Timedelta(days=1))
    second = concentration_row(later, None, True, first)
    assert second["previous_as_of"].iloc[0] == DAY
    assert second["hhi_change"].iloc[0] < 0
    assert second["hhi_change"].iloc[0] == pytest.approx(
        second["hhi"].iloc[0] - first["hhi"].iloc[0]
    )


def test_holder_export_with_a_bad_balance_is_refused(tmp_path) -> None:
    bad = tmp_path / "holders.csv"
    bad.write_text('"HolderAddress","Balance"\n"0x' + "2" * 40 + '","many"\n')
    with pytest.raises(ValueError, match="unreadable balances"):
        parse_holder_export(bad, "ethereum", HOLDER_TOKEN, "x", DAY)


def test_api_holder_rows_scale_by_decimals() -> None:
    # Doc-shaped parsing fixture: Etherscan's documented tokenholderlist example rows.
    rows = [
        {
            "TokenHolderAddress": "0xa5b7d615c99f011a22f16f5809890ca6900200a3",
            "TokenHolderQuantity": "2",
        },
        {
            "TokenHolderAddress": "0x0412a1d25fbdcabc536603198330021ccb13240b",
            "TokenHolderQuantity": "3385700",
        },
    ]
    frame = parse_etherscan_holders(rows, "ethereum", HOLDER_TOKEN, "x", DAY, decimals=2)
    assert frame["balance"].tolist() == [0.02, 33857.0]


@pytest.fixture(scope="module")
def metrics() -> pd.DataFrame:
    as_of = pd.Timestamp("2018-02-21", tz="UTC")
    return pd.concat(
        [
            parse_btc_daily(ONCHAIN_DIR / BTC_FILE, "kaggle", as_of),
            parse_eth_daily(ONCHAIN_DIR / ETH_FILE, "kaggle", as_of),
        ],
        ignore_index=True,
    )


def test_recorded_network_metrics(metrics) -> None:
    btc, eth = metrics[metrics["coin"] == "BTC"], metrics[metrics["coin"] == "ETH"]
    assert len(btc) == 2920 and len(eth) == 934
    assert btc["metric_day"].min() == pd.Timestamp("2010-02-23", tz="UTC")
    assert eth["metric_day"].max() == pd.Timestamp("2018-02-20", tz="UTC")
    last = eth.set_index("metric_day").loc[pd.Timestamp("2018-02-20", tz="UTC")]
    assert last["tx_count"] == 886897
    assert 500 < last["fees_native"] < 2000  # gas used x gas price in ETH, no int overflow
    assert (eth["fees_native"].dropna() >= 0).all()


def test_network_features_use_only_the_past(metrics) -> None:
    full = network_features(metrics)
    cut_day = pd.Timestamp("2017-06-30", tz="UTC")
    cut = network_features(metrics[metrics["metric_day"] <= cut_day])
    key = ["coin", "metric_day"]
    both = full.merge(cut, on=key, suffixes=("", "_cut"))
    both = both[both["metric_day"] <= cut_day]
    for column in ("net_tx_logchg_7d", "net_tx_logchg_30d", "net_hash_rate_logchg_30d"):
        np.testing.assert_allclose(both[column], both[f"{column}_cut"], equal_nan=True)
    assert (full["known_at"] == full["metric_day"] + pd.Timedelta(days=1)).all()
    day = full[(full["coin"] == "BTC") & (full["metric_day"] == cut_day)].iloc[0]
    btc = metrics[metrics["coin"] == "BTC"].set_index("metric_day")["tx_count"]
    recent = btc.loc[cut_day - pd.Timedelta(days=6) : cut_day].mean()
    before = btc.loc[cut_day - pd.Timedelta(days=13) : cut_day - pd.Timedelta(days=7)].mean()
    assert day["net_tx_logchg_7d"] == pytest.approx(np.log(recent / before))


def test_live_metric_parsers() -> None:
    # Doc-shaped parsing fixtures (blockchain.com charts and Etherscan daily stats answers).
    chart = {"status": "ok", "values": [{"x": 1514764800, "y": 3.0}, {"x": 1514851200, "y": 4.0}]}
    series = parse_blockchain_chart(chart, "tx_count")
    assert series.index[0] == pd.Timestamp("2018-01-01", tz="UTC") and series.iloc[1] == 4.0
    with pytest.raises(ValueError):
        parse_blockchain_chart({"status": "error"}, "tx_count")
    daily = parse_etherscan_daily(
        [{"UTCDate": "2019-02-01", "unixTimeStamp": "1548979200", "transactionCount": 498856}],
        "dailytx",
    )
    assert daily.name == "tx_count" and daily.iloc[0] == 498856
    with pytest.raises(ValueError, match="transactionCount"):
        parse_etherscan_daily([{"UTCDate": "2019-02-01", "unixTimeStamp": "1548979200"}], "dailytx")
