"""Order-book sources: the recorded replay, and ccxt's real Kraken REST code path (``Depth``)
against the local replay server. No Kraken REST Depth response was ever recorded: the server
builds Depth from the REAL WebSocket book recording's state (see replay_server's docstring)."""

from __future__ import annotations

import socket

import pandas as pd
import pytest

from crypto_assets.resources.order_books import (
    ExchangeOrderBooks,
    RecordedOrderBooks,
    order_book_source_for,
)
from crypto_assets.risk.source import (
    BOOK_COLUMNS,
    SYMBOL_STATUS_COLUMNS,
    OrderBookSource,
    OrderBookUnavailable,
)
from crypto_assets_tests.fixtures import isolated_settings
from crypto_assets_tests.replay_server import KrakenReplayServer

DEPTH = "/0/public/Depth"
NOW = "2024-08-02T00:30:00Z"


def _client(server: KrakenReplayServer, **overrides) -> ExchangeOrderBooks:
    config = {
        "api_url": server.url,
        "rate_limit_ms": 5,
        "backoff_base_s": 0.01,
        "max_retries": 2,
        "timeout_ms": 5000,
        "frozen_clock": NOW,
    } | overrides
    return ExchangeOrderBooks(**config)


def test_recorded_books(recorded_books: RecordedOrderBooks) -> None:
    assert isinstance(recorded_books, OrderBookSource)
    assert "NKN/USDT" in recorded_books.recorded_symbols()
    fetch = recorded_books.fetch_order_books(["BTC/CHF", "NKN/USDT", "BTC/USDT"], depth=50)
    assert fetch.status == "replay" and list(fetch.books.columns) == BOOK_COLUMNS
    assert list(fetch.symbols.columns) == SYMBOL_STATUS_COLUMNS
    rows = fetch.symbols.set_index("symbol")
    assert rows.loc["BTC/CHF", "checksums_verified"] == 289
    assert rows.loc["BTC/CHF", "as_of"] == pd.Timestamp(1618678163.366488, unit="s", tz="UTC")
    assert rows.loc["NKN/USDT", "exchange"] == "binance" and rows.loc["NKN/USDT", "rows"] == 100
    assert rows.loc["BTC/USDT", "status"] == "unavailable"
    assert rows.loc["BTC/USDT", "reason"] == "no recorded book for BTC/USDT"
    assert fetch.books.groupby(["symbol", "side"]).size().max() == 50
    status = fetch.source_status()
    assert status.status == "replay" and status.rows == len(fetch.books)
    assert status.reason == "BTC/USDT: no recorded book for BTC/USDT"  # the symbol that failed


def test_recordings_missing_is_one_line(tmp_path) -> None:
    with pytest.raises(OrderBookUnavailable, match="order-book recordings not found"):
        RecordedOrderBooks(recordings_dir=str(tmp_path)).fetch_order_books(["BTC/CHF"])


def test_ccxt_kraken_depth_equals_the_rebuilt_book(kraken_server, kraken_replay) -> None:
    source = _client(kraken_server)
    assert isinstance(source, OrderBookSource)
    fetch = source.fetch_order_books(["BTC/CHF", "XMR/USD", "ADA/BTC"], depth=100)
    assert fetch.status == "ok" and (fetch.symbols["status"] == "ok").all()
    assert fetch.requests == 2 + 3  # Assets + AssetPairs, one Depth per pair
    assert fetch.books["as_of"].eq(pd.Timestamp(NOW)).all()  # Depth carries no book time
    for symbol, pair in (("BTC/CHF", "XBT/CHF"), ("XMR/USD", "XMR/USD"), ("ADA/BTC", "ADA/XBT")):
        bids, asks = kraken_replay.books[pair].levels(100)
        got = fetch.books[fetch.books["symbol"] == symbol]
        assert list(got[got.side == "bid"][["price", "amount"]].itertuples(index=False)) == bids
        assert list(got[got.side == "ask"][["price", "amount"]].itertuples(index=False)) == asks
    queries = [r.query for r in kraken_server.requests if r.path == DEPTH]
    assert "pair=XBTCHF&count=100" in queries


def test_kraken_depth_is_capped_at_500(kraken_server) -> None:
    fetch = _client(kraken_server).fetch_order_books(["XMR/USD"], depth=1000)
    assert [r.query for r in kraken_server.requests if r.path == DEPTH] == [
        "pair=XXMRZUSD&count=500"
    ]
    assert fetch.books.groupby("side").size().to_dict() == {"ask": 426, "bid": 500}


def test_failures_are_rows_not_crashes(kraken_server) -> None:
    fetch = _client(kraken_server).fetch_order_books(["XMR/USD", "FOO/USD", "ETH/USD"])
    rows = fetch.symbols.set_index("symbol")
    assert rows.loc["XMR/USD", "status"] == "ok"
    assert (
        rows.loc["FOO/USD", "status"] == "unavailable"
        and "BadSymbol" in rows.loc["FOO/USD", "reason"]
    )
    # ETH/USD is listed but was never recorded: HTTP 404, retried, then an error row
    assert rows.loc["ETH/USD", "status"] == "error" and "404" in rows.loc["ETH/USD", "reason"]
    assert kraken_server.count(DEPTH) == 1 + 3  # XMR once, ETH 1 + 2 retries


def test_transient_faults_are_retried(kraken_server) -> None:
    source = _client(kraken_server)  # markets load once, then stay cached in the resource
    for done, fault in enumerate(["http500", "ratelimit", "http429", "truncated"], start=1):
        kraken_server.inject(DEPTH, fault, count=1)
        fetch = source.fetch_order_books(["XMR/USD"])
        assert fetch.symbols.iloc[0]["status"] == "ok" and len(fetch.books) == 200, fault
        assert kraken_server.count(DEPTH) == 2 * done


def test_no_network_raises_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = ExchangeOrderBooks(api_url=f"http://127.0.0.1:{port}", max_retries=0, timeout_ms=500)
    with pytest.raises(OrderBookUnavailable, match="cannot be reached"):
        source.fetch_order_books(["XMR/USD"])


def test_source_chosen_by_settings(tmp_path) -> None:
    def settings(**overrides):
        return isolated_settings(tmp_path, **overrides)

    replay = order_book_source_for(settings(source="snapshot", risk_orderbook_dir=tmp_path))
    assert isinstance(replay, RecordedOrderBooks) and replay.recordings_dir == str(tmp_path)
    assert isinstance(order_book_source_for(settings(source="live")), ExchangeOrderBooks)
    stream = order_book_source_for(settings(source="live", risk_book_transport="websocket"))
    assert type(stream).__name__ == "KrakenStream"
