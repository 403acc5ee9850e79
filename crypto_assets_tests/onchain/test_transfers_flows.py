"""Whale classification and exchange flows on the REAL recorded Whale Alert response; the
Etherscan and Esplora parsers on doc-shaped fixtures (no such payload is recorded)."""

import numpy as np
import pandas as pd
import pytest

from crypto_assets.onchain.flows import exchange_flows
from crypto_assets.onchain.transfers import (
    classify_whales,
    daily_closes_from_candles,
    map_token_coins,
    parse_esplora_txs,
    parse_etherscan_tokentx,
    parse_whale_alert,
    price_transfers,
)

AS_OF = pd.Timestamp("2024-01-02", tz="UTC")


def test_real_whale_alert_response_parses_completely(whale_frame) -> None:
    assert len(whale_frame) == 24
    assert whale_frame["coin"].value_counts().to_dict() == {"BTC": 20, "ETH": 3, "LINK": 1}
    assert whale_frame["time"].min() == pd.Timestamp("2019-06-18 05:49:53", tz="UTC")
    assert whale_frame["amount_usd"].min() >= 500_000  # the recorded query's min_value
    eth = whale_frame[whale_frame["chain"] == "ethereum"]
    assert eth["from_address"].str.startswith("0x").all()  # prefix added for label matching


def test_whale_alert_error_body_is_an_error() -> None:
    with pytest.raises(ValueError, match="invalid api_key"):
        parse_whale_alert({"result": "error", "message": "invalid api_key"}, "x", AS_OF)


def test_whales_are_labelled_with_direction_and_label_source(whale_frame, label_book) -> None:
    whales, counts = classify_whales(whale_frame, label_book, 1_000_000)
    assert counts == {"fetched": 24, "whales": 10, "below_threshold": 14, "unpriced": 0}
    by_hash = whales.set_index("tx_hash")
    # Binance -> Binance 2 on Ethereum: both ends from the Etherscan labels, same owner
    internal = by_hash.loc["2084eca97be1468bfd9f937ad6921ecc6dd083fffe5c612247360e13918400c0"]
    assert internal["direction"] == "exchange_internal"
    assert internal["from_label_source"].startswith("etherscan exchange accounts")
    # unknown -> bitfinex (Whale Alert's own owner label): coins moved onto an exchange
    deposit = whales[whales["to_label"] == "bitfinex"].iloc[0]
    assert deposit["direction"] == "to_exchange"
    assert deposit["to_label_source"] == "whale_alert test"
    # binance -> sygnia.io ("other"): a withdrawal, read as accumulation
    withdrawal = whales[whales["to_label"] == "sygnia.io"].iloc[0]
    assert withdrawal["direction"] == "from_exchange"
    # Whale Alert called the sender of this ETH deposit unknown; the label book knows it is a
    # Huobi wallet too, so it is an internal move, not sell pressure
    huobi = whales[whales["to_label"] == "Huobi 16"].iloc[0]
    assert (huobi["from_label"], huobi["direction"]) == ("Huobi 19", "exchange_internal")


def test_exchange_flows_sum_the_directions(whale_frame, label_book) -> None:
    whales, _ = classify_whales(whale_frame, label_book, 500_000)
    flows = exchange_flows(whales).set_index("coin")
    btc = whales[whales["coin"] == "BTC"]
    inflow = btc.loc[btc["direction"] == "to_exchange", "amount_usd"].sum()
    outflow = btc.loc[btc["direction"] == "from_exchange", "amount_usd"].sum()
    assert flows.loc["BTC", "inflow_usd"] == pytest.approx(inflow)
    assert flows.loc["BTC", "outflow_usd"] == pytest.approx(outflow)
    assert flows.loc["BTC", "netflow_usd"] == pytest.approx(inflow - outflow)
    assert outflow > 0 and inflow > 0
    assert flows.loc["ETH", "inflow_usd"] == 0  # both ETH exchange moves were internal
    assert flows.loc["ETH", "internal_usd"] > 0
    assert "LINK" not in flows.index  # the LINK transfer touched no exchange


def test_prices_come_from_the_previous_day_only() -> None:
    transfers = parse_esplora_txs([], "x", "s", AS_OF).iloc[0:0]
    transfers = pd.concat(
        [
            transfers,
            pd.DataFrame(
                {
                    "time": [pd.Timestamp("2024-01-02 10:00", tz="UTC")] * 2,
                    "coin": ["BTC", "FAKE"],
                    "amount": [2.0, 5.0],
                    "amount_usd": [np.nan, np.nan],
                }
            ),
        ]
    )
    closes = pd.DataFrame(
        {
            "coin": ["BTC", "BTC", "FAKE"],
            "day": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-02"], utc=True),
            "close": [100.0, 999.0, 7.0],
        }
    )
    priced = price_transfers(transfers, closes)
    # BTC: the close of 2024-01-01 (public at the transfer), never the same day's close
    assert priced["amount_usd"].tolist()[0] == 200.0
    assert np.isnan(priced["amount_usd"].tolist()[1])  # no prior close: unpriced, not guessed
    assert priced["usd_basis"].tolist()[0] == "prior_close"


def test_daily_closes_keep_usd_quotes_only() -> None:
    candles = pd.DataFrame(
        {
            "symbol": ["BTC/USD", "BTC/USDT", "BTC/EUR"],
            "date": pd.to_datetime(["2024-01-01"] * 3, utc=True),
            "close": [100.0, 102.0, 90.0],
        }
    )
    closes = daily_closes_from_candles(candles)
    assert closes["close"].tolist() == [101.0]


# Doc-shaped parsing fixture: the field names of Etherscan's documented account/tokentx answer.
# No real tokentx payload is recorded in ../shared/data; values here only exercise the parser.
TOKENTX_FIXTURE = [
    {
        "blockNumber": "4730207",
        "timeStamp": "1513240363",
        "hash": "0xe8c208398bd5ae8e4c237658580db56a2a94dfa0ca382c99b776fa6e7d31d5b4",
        "from": "0x642ae78fafbb8032da552d619ad43f1d81e4dd7c",
        "contractAddress": "0x9f8f72aa9304c8b593d555f12ef6589cc3a579a2",
        "to": "0x4e83362442b8d1bec281594cea3050c8eb01311c",
        "value": "5901522149285533025181",
        "tokenName": "Maker",
        "tokenSymbol": "MKR",
        "tokenDecimal": "18",
        "logIndex": "7",
    }
]


def test_etherscan_tokentx_parser_and_spoof_protection() -> None:
    rows = TOKENTX_FIXTURE + TOKENTX_FIXTURE  # the same transfer seen from two wallets
    frame = parse_etherscan_tokentx(rows, "ethereum", "etherscan test", AS_OF)
    assert len(frame) == 1
    assert frame["amount"].iloc[0] == pytest.approx(5901.522149285533)
    assert frame["time"].iloc[0] == pd.Timestamp(1513240363, unit="s", tz="UTC")
    # unmapped contract: the token's self-declared symbol is not trusted for a price
    mapped, priceable = map_token_coins(frame, {})
    assert not priceable.iloc[0]
    lookup = {("ethereum", "0x9f8f72aa9304c8b593d555f12ef6589cc3a579a2"): "MKR"}
    mapped, priceable = map_token_coins(frame, lookup)
    assert priceable.iloc[0] and mapped["coin"].iloc[0] == "MKR"


# Doc-shaped parsing fixture: Esplora's documented transaction JSON (txid, status, vin[].prevout,
# vout[]). No real Esplora / mempool.space response is recorded here.
ESPLORA_FIXTURE = [
    {
        "txid": "aa" * 32,
        "status": {"confirmed": True, "block_time": 1704189600},
        "vin": [{"prevout": {"scriptpubkey_address": "bc1qexchange", "value": 150_000_000}}],
        "vout": [
            {"scriptpubkey_address": "bc1qcustomer", "value": 120_000_000},
            {"scriptpubkey_address": "bc1qexchange", "value": 29_990_000},
        ],
    },
    {
        "txid": "bb" * 32,
        "status": {"confirmed": True, "block_time": 1704193200},
        "vin": [{"prevout": {"scriptpubkey_address": "bc1qdepositor", "value": 50_000_000}}],
        "vout": [{"scriptpubkey_address": "bc1qexchange", "value": 49_990_000}],
    },
    {"txid": "cc" * 32, "status": {"confirmed": False}, "vin": [], "vout": []},
]


def test_esplora_parser_reads_direction_from_the_watched_address() -> None:
    frame = parse_esplora_txs(ESPLORA_FIXTURE, "bc1qexchange", "esplora test", AS_OF)
    assert len(frame) == 2  # the unconfirmed transaction is left out
    out, into = frame.iloc[0], frame.iloc[1]
    assert (out["from_address"], out["to_address"]) == ("bc1qexchange", "bc1qcustomer")
    assert out["amount"] == pytest.approx(1.2001)  # net change of the watched address
    assert (into["from_address"], into["to_address"]) == ("bc1qdepositor", "bc1qexchange")
    assert into["amount"] == pytest.approx(0.4999)
