"""Live on-chain clients against a local server on 127.0.0.1 replaying real recorded payloads
(Whale Alert response, Etherscan holder export, blockchain.com BTC series), with paging, HTTP
errors, rate limits and truncated bodies; and the replay resources over the recorded files."""

import gzip
import json
import time

import pandas as pd
import pytest

from crypto_assets.onchain.source import OnchainUnavailable, attempt
from crypto_assets.onchain.transfers import TRANSFER_SCHEMA
from crypto_assets.resources.coingecko import CoinGeckoReplay, CoinGeckoResource
from crypto_assets.resources.esplora import EsploraReplay, EsploraResource
from crypto_assets.resources.etherscan import EtherscanReplay, EtherscanResource
from crypto_assets.resources.network_metrics import BlockchainChartsResource, RecordedNetworkMetrics
from crypto_assets.resources.whale_alert import WhaleAlertReplay, WhaleAlertResource
from crypto_assets_tests.onchain.replay import HOLDER_FILE, HOLDER_TOKEN, ONCHAIN_DIR, max_in_window
from crypto_assets_tests.onchain.test_contracts_features import COIN_LIST_FIXTURE
from crypto_assets_tests.onchain.test_transfers_flows import ESPLORA_FIXTURE, TOKENTX_FIXTURE

DAY = pd.Timestamp("2019-06-18", tz="UTC")
YESTERDAY = pd.Timestamp.now(tz="UTC").floor("D") - pd.Timedelta(days=1)  # a live holder list's day
NO_WATCH = pd.DataFrame(columns=["chain", "address"])


def _whale(server, **kwargs) -> WhaleAlertResource:
    options = {"api_key": "test-whale-key", "calls_per_second": 100.0, "backoff_s": 0.01}
    options |= {"page_size": 10} | kwargs
    return WhaleAlertResource(base_url=f"{server.url}/v1", **options)


def _etherscan(server, **kwargs) -> EtherscanResource:
    options = {"api_key": "test-etherscan", "calls_per_second": 100.0, "backoff_s": 0.01} | kwargs
    return EtherscanResource(base_url=f"{server.url}/v2/api", **options)


# ------------------------------------------------------------------------- Whale Alert
def test_whale_alert_pages_the_real_response_by_cursor(onchain_server, whale_frame) -> None:
    client = _whale(onchain_server)
    got = client.fetch_transfers(DAY, DAY + pd.Timedelta(days=1), 500_000, NO_WATCH)
    assert got.status.status == "ok" and got.requests == 3  # 10 + 10 + 4
    assert [int(_one) for _one in _cursors(onchain_server)] == [0, 10, 20]
    pd.testing.assert_frame_equal(
        got.frame.drop(columns=["source", "as_of"]),
        whale_frame.drop(columns=["source", "as_of"]),
    )
    assert "test-whale-key" not in got.source


def _cursors(server) -> list[str]:
    return [r.query.get("cursor", ["0"])[0] for r in server.requests]


def test_whale_alert_retries_429_and_truncated_bodies(onchain_server) -> None:
    onchain_server.inject("/v1/transactions", "http429")
    onchain_server.inject("/v1/transactions", "truncated")
    client = _whale(onchain_server, page_size=100)
    got = client.fetch_transfers(DAY, DAY + pd.Timedelta(days=1), 500_000, NO_WATCH)
    assert len(got.frame) == 24 and client.http.retries == 2
    assert [r.status for r in onchain_server.requests] == [429, 200, 200]


def test_whale_alert_without_or_with_a_wrong_key_reports_no_rows(onchain_server) -> None:
    schema = TRANSFER_SCHEMA
    no_key = WhaleAlertResource(base_url=f"{onchain_server.url}/v1")
    got = attempt("wa", lambda: no_key.fetch_transfers(DAY, DAY, 1, NO_WATCH), schema, DAY)
    assert (got.status.status, len(got.frame)) == ("no_key", 0)
    assert onchain_server.count() == 0  # no request without a key
    wrong = _whale(onchain_server, api_key="nope")
    got = attempt("wa", lambda: wrong.fetch_transfers(DAY, DAY, 1, NO_WATCH), schema, DAY)
    assert got.status.status == "error" and "invalid api_key" in got.status.reason
    assert "nope" not in got.status.reason and onchain_server.count() == 1  # refused: no retry


def test_whale_alert_gives_up_on_a_server_that_keeps_failing(onchain_server) -> None:
    onchain_server.inject("/v1/transactions", "http500", count=10)
    client = _whale(onchain_server, max_retries=2)
    with pytest.raises(OnchainUnavailable) as error:
        client.fetch_transfers(DAY, DAY + pd.Timedelta(days=1), 500_000, NO_WATCH)
    assert error.value.status == "unavailable" and "HTTP 500" in error.value.reason
    assert onchain_server.count() == 3


# --------------------------------------------------------------------------- Etherscan
def test_etherscan_holder_list_pages_the_real_export(onchain_server) -> None:
    client = _etherscan(onchain_server, holder_page_size=100)
    got = client.fetch_holders("ethereum", HOLDER_TOKEN, YESTERDAY)
    assert got.requests == 4 and not got.notes  # 100 + 100 + 100 + 38: complete
    export = pd.read_csv(HOLDER_FILE)
    assert got.frame["address"].tolist() == export["HolderAddress"].tolist()
    assert got.frame["balance"].sum() == pytest.approx(export["Balance"].sum())
    pages = [r.query["page"][0] for r in onchain_server.requests]
    assert pages == ["1", "2", "3", "4"]
    assert {r.query["chainid"][0] for r in onchain_server.requests} == {"1"}


def test_etherscan_live_holder_list_of_a_past_day_is_refused(onchain_server) -> None:
    client = _etherscan(onchain_server)
    with pytest.raises(OnchainUnavailable, match="as of now"):
        client.fetch_holders("ethereum", HOLDER_TOKEN, DAY)
    assert onchain_server.count() == 0


def test_etherscan_holder_page_cap_is_reported(onchain_server) -> None:
    client = _etherscan(onchain_server, holder_page_size=100, holder_max_pages=2)
    got = client.fetch_holders("ethereum", HOLDER_TOKEN, YESTERDAY)
    assert len(got.frame) == 200 and got.notes == [f"{HOLDER_TOKEN}: cut at 200 holders (page cap)"]


def test_etherscan_rate_limit_answer_and_http_errors_are_retried(onchain_server) -> None:
    onchain_server.inject("/v2/api", "etherscan_ratelimit", count=2)
    onchain_server.inject("/v2/api", "http429")
    onchain_server.inject("/v2/api", "truncated")
    client = _etherscan(onchain_server, holder_page_size=1000)
    got = client.fetch_holders("ethereum", HOLDER_TOKEN, YESTERDAY)
    assert len(got.frame) == 338 and client.http.retries == 4


def test_etherscan_key_problems_are_status_rows(onchain_server) -> None:
    no_key = EtherscanResource(base_url=f"{onchain_server.url}/v2/api")
    got = attempt(
        "es",
        lambda: no_key.fetch_holders("ethereum", HOLDER_TOKEN, YESTERDAY),
        TRANSFER_SCHEMA,
        DAY,
    )
    assert got.status.status == "no_key" and "CRYPTO_ASSETS_ETHERSCAN_API_KEY" in got.status.reason
    wrong = _etherscan(onchain_server, api_key="wrong-key")
    got = attempt(
        "es", lambda: wrong.fetch_holders("ethereum", HOLDER_TOKEN, YESTERDAY), TRANSFER_SCHEMA, DAY
    )
    assert got.status.status == "error" and "Invalid API Key" in got.status.reason
    assert "wrong-key" not in got.status.reason


def test_etherscan_client_stays_under_the_server_enforced_limit(onchain_server) -> None:
    onchain_server.etherscan_limit = 3
    client = _etherscan(onchain_server, calls_per_second=3.0, holder_page_size=50)
    started = time.monotonic()
    got = client.fetch_holders("ethereum", HOLDER_TOKEN, YESTERDAY)  # 7 pages
    elapsed = time.monotonic() - started
    assert len(got.frame) == 338
    # what the client controls: never more than 3 request starts in any sliding second
    assert max_in_window(client.http.request_times) <= 3
    assert elapsed >= 2.0  # 7 calls at 3 per second need two full waits
    # what the server saw: on a loaded machine a late arrival can still squeeze a window;
    # such a refusal is retried, never lost
    assert client.http.retries == onchain_server.violations <= 1


def test_etherscan_too_fast_client_is_slowed_by_the_servers_answer(onchain_server) -> None:
    onchain_server.etherscan_limit = 3
    client = _etherscan(onchain_server, calls_per_second=50.0, holder_page_size=50, backoff_s=0.3)
    got = client.fetch_holders("ethereum", HOLDER_TOKEN, YESTERDAY)
    assert len(got.frame) == 338  # complete despite the refusals
    assert onchain_server.violations > 0 and client.http.retries == onchain_server.violations


def _tokentx_handler(rows_total: int):
    """Doc-shaped tokentx fixture rows (the documented field names; values only exercise the
    paging): one transfer per block, ``page``/``offset`` and ``startblock`` honoured, at most
    10,000 rows per query window as Etherscan documents."""

    def handler(path, query):
        start = int(query["startblock"][0])
        page, offset = int(query["page"][0]), int(query["offset"][0])
        if page * offset > 10_000:
            return 200, {"status": "0", "message": "NOTOK", "result": "Result window is too large"}
        blocks = [b for b in range(100, 100 + rows_total) if b >= start]
        chunk = blocks[(page - 1) * offset : page * offset]
        rows = [
            TOKENTX_FIXTURE[0]
            | {"blockNumber": str(b), "hash": f"0x{b:064x}", "timeStamp": str(1560816000 + b)}
            for b in chunk
        ]
        return 200, {"status": "1" if rows else "0", "message": "OK", "result": rows}

    return handler


def test_etherscan_transfers_page_and_move_the_block_window(onchain_server) -> None:
    onchain_server.etherscan_action("tokentx", _tokentx_handler(12_500))
    # doc-shaped fixture for the block lookup: the block of a time is its offset in seconds
    onchain_server.etherscan_action(
        "getblocknobytime",
        lambda p, q: (
            200,
            {"status": "1", "message": "OK", "result": str(int(q["timestamp"][0]) - 1560816000)},
        ),
    )
    client = _etherscan(onchain_server, page_size=2_500, chain_ids=[1])
    watch = pd.DataFrame({"chain": ["ethereum"], "address": ["0x" + "4" * 40]})
    got = client.fetch_transfers(DAY, DAY + pd.Timedelta(days=1), 0, watch)
    tokentx = [r for r in onchain_server.requests if r.query.get("action") == ["tokentx"]]
    windows = sorted({int(r.query["startblock"][0]) for r in tokentx})
    assert windows == [0, 10_099]  # the second window starts at the last block seen
    assert len(got.frame) == 12_500  # duplicates of the shared block removed
    assert got.frame["time"].is_monotonic_increasing


def test_etherscan_daily_stats_are_eth_network_metrics(onchain_server) -> None:
    fields = {
        "dailytx": "transactionCount",
        "dailynewaddress": "newAddressCount",
        "dailytxnfee": "transactionFee_Eth",
        "dailyavghashrate": "networkHashRate",
        "dailyavgnetdifficulty": "networkDifficulty",
    }
    for action, field in fields.items():  # doc-shaped fixtures of the API Pro daily stats
        onchain_server.etherscan_action(
            action,
            lambda p, q, f=field: (
                200,
                {
                    "status": "1",
                    "message": "OK",
                    "result": [{"UTCDate": "2019-02-01", "unixTimeStamp": "1548979200", f: "5"}],
                },
            ),
        )
    client = _etherscan(onchain_server)
    got = client.fetch_network_metrics(
        ["ETH"], pd.Timestamp("2019-02-01", tz="UTC"), pd.Timestamp("2019-02-02", tz="UTC")
    )
    row = got.frame.iloc[0]
    assert (row["coin"], row["tx_count"], row["fees_native"]) == ("ETH", 5.0, 5.0)
    assert onchain_server.requests[0].query["startdate"] == ["2019-02-01"]
    assert onchain_server.requests[0].query["enddate"] == ["2019-02-01"]


def test_etherscan_refusal_of_a_pro_endpoint_is_reported(onchain_server) -> None:
    refusal = "Sorry, it looks like you are trying to access an API Pro endpoint."
    onchain_server.etherscan_action(
        "dailytx", lambda p, q: (200, {"status": "0", "message": "NOTOK", "result": refusal})
    )
    client = _etherscan(onchain_server)
    with pytest.raises(OnchainUnavailable) as error:
        client.fetch_network_metrics(["ETH"], DAY, DAY + pd.Timedelta(days=1))
    assert error.value.status == "error" and "API Pro" in error.value.reason


# ------------------------------------------------- Esplora, CoinGecko, blockchain.com
def test_esplora_follows_watched_addresses_by_txid_pages(onchain_server) -> None:
    first = ESPLORA_FIXTURE[:1] * 25  # doc-shaped fixture pages (Esplora's documented tx JSON)
    first = [dict(t, txid=f"{i:064x}") for i, t in enumerate(first)]
    older = [dict(ESPLORA_FIXTURE[1], txid="f" * 64, status={"confirmed": True, "block_time": 1})]
    onchain_server.route("/api/address/bc1qexchange/txs/chain/", lambda p, q: (200, older))
    onchain_server.route("/api/address/bc1qexchange/txs", lambda p, q: (200, first))
    client = EsploraResource(base_url=f"{onchain_server.url}/api", calls_per_second=100.0)
    watch = pd.DataFrame({"chain": ["bitcoin"], "address": ["bc1qexchange"]})
    start = pd.Timestamp("2024-01-02", tz="UTC")
    got = client.fetch_transfers(start, start + pd.Timedelta(days=1), 0, watch)
    assert got.requests == 2  # the second page reached back before the window
    assert onchain_server.requests[1].path.endswith(f"/txs/chain/{24:064x}")
    assert len(got.frame) == 25  # the 1970 transfer is outside the window
    nothing = client.fetch_transfers(start, start, 0, NO_WATCH)
    assert nothing.status.status == "ok" and "label file" in nothing.status.reason


def test_coingecko_coin_list_live_and_broken(onchain_server) -> None:
    onchain_server.route("/api/v3/coins/list", lambda p, q: (200, COIN_LIST_FIXTURE))
    client = CoinGeckoResource(base_url=f"{onchain_server.url}/api/v3", calls_per_second=100.0)
    got = client.fetch_coin_list()
    assert set(got.frame["coingecko_id"]) == {"0chain", "01coin", "another-zoc"}
    assert onchain_server.requests[0].query["include_platform"] == ["true"]
    onchain_server.route("/api/v3/coins/list", lambda p, q: (200, {"status": {"error_code": 429}}))
    with pytest.raises(OnchainUnavailable, match="JSON array"):
        client.fetch_coin_list()


def test_blockchain_charts_serve_the_recorded_btc_series(onchain_server) -> None:
    client = BlockchainChartsResource(base_url=onchain_server.url, calls_per_second=100.0)
    start, end = pd.Timestamp("2017-03-01", tz="UTC"), pd.Timestamp("2017-03-08", tz="UTC")
    got = client.fetch_network_metrics(["BTC"], start, end)
    replay = RecordedNetworkMetrics(data_dir=str(ONCHAIN_DIR)).fetch_network_metrics(
        ["BTC"], start, end
    )
    assert len(got.frame) == 7 and got.requests == 5
    columns = ["metric_day", "tx_count", "active_addresses", "fees_native", "hash_rate"]
    pd.testing.assert_frame_equal(got.frame[columns], replay.frame[columns])


# ------------------------------------------------------------------------------ replays
def test_replays_answer_for_their_recording_and_say_so_otherwise(tmp_path) -> None:
    data_dir = str(ONCHAIN_DIR)
    whales = WhaleAlertReplay(data_dir=data_dir)
    got = whales.fetch_transfers(DAY, DAY + pd.Timedelta(days=1), 1_000_000, NO_WATCH)
    assert (got.status.status, len(got.frame)) == ("replay", 24)
    later = whales.fetch_transfers(
        DAY + pd.Timedelta(days=1), DAY + pd.Timedelta(days=2), 0, NO_WATCH
    )
    assert len(later.frame) == 0 and "2019-06-18 05:49..05:55" in later.status.reason
    holders = EtherscanReplay(data_dir=data_dir)
    day = pd.Timestamp("2022-04-21", tz="UTC")
    assert len(holders.fetch_holders("ethereum", HOLDER_TOKEN, day).frame) == 338
    assert holders.fetch_holders("ethereum", HOLDER_TOKEN, DAY).status.reason.endswith("only")
    with pytest.raises(OnchainUnavailable, match="no Etherscan transfer list"):
        holders.fetch_transfers(DAY, DAY, 0, NO_WATCH)
    with pytest.raises(OnchainUnavailable, match="no Esplora"):
        EsploraReplay().fetch_transfers(DAY, DAY, 0, NO_WATCH)
    with pytest.raises(OnchainUnavailable, match="no recorded CoinGecko"):
        CoinGeckoReplay().fetch_coin_list()
    recorded = tmp_path / "coins_list.json.gz"
    with gzip.open(recorded, "wt") as handle:
        json.dump(COIN_LIST_FIXTURE, handle)
    coins = CoinGeckoReplay(
        coin_list_file=str(recorded), recorded_at="2024-01-02"
    ).fetch_coin_list()
    assert coins.status.status == "replay" and coins.as_of == pd.Timestamp("2024-01-02", tz="UTC")
    network = RecordedNetworkMetrics(data_dir=data_dir)
    empty = network.fetch_network_metrics(
        ["BTC", "ETH"], pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-02", tz="UTC")
    )
    assert len(empty.frame) == 0
    assert (
        empty.status.reason
        == "the recording covers BTC 2010-02-23..2018-02-20; ETH 2015-07-30..2018-02-20"
    )


def test_an_unreadable_answer_is_an_error_status_not_a_crash(onchain_server) -> None:
    # a success envelope whose transaction lacks every documented field (made up for the test)
    broken = {"result": "success", "count": 1, "transactions": [{"blockchain": "bitcoin"}]}
    onchain_server.route("/v1/transactions", lambda p, q: (200, broken))
    client = _whale(onchain_server)
    got = attempt(
        "wa",
        lambda: client.fetch_transfers(DAY, DAY + pd.Timedelta(days=1), 0, NO_WATCH),
        TRANSFER_SCHEMA,
        DAY,
    )
    assert got.status.status == "error" and "unreadable answer" in got.status.reason
    assert len(got.frame) == 0
