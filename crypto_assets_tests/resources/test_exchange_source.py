"""ExchangeResource: ccxt's real Kraken code path over HTTP against recorded payloads.

Only the network is replaced (a local replay server); ccxt parses real Kraken responses.
"""

from __future__ import annotations

import itertools
import json
import socket
import time

import pandas as pd
import pytest

from crypto_assets.market.schemas import OHLCV_COLUMNS
from crypto_assets.market.source import FetchResult, MarketSource, SourceUnavailable
from crypto_assets.resources.market_source import ExchangeResource
from crypto_assets_tests.replay_server import KRAKEN_API_DIR, KrakenReplayServer, load_json_gz
from crypto_assets_tests.resources.helpers import client, recorded_hourly

OHLC = "/0/public/OHLC"
NOW = pd.Timestamp("2022-12-01T12:30:00Z")  # inside the recorded BTC/ETH hourly history
START, END = pd.Timestamp("2022-11-28T00:00:00Z"), pd.Timestamp("2022-12-05T00:00:00Z")


@pytest.fixture
def server(kraken_server: KrakenReplayServer) -> KrakenReplayServer:
    kraken_server.now = NOW
    return kraken_server


def test_is_a_market_source(server: KrakenReplayServer) -> None:
    source = client(server)
    assert isinstance(source, MarketSource)
    assert source.describe() == f"kraken (api {server.url})"
    assert ExchangeResource().describe() == "kraken (live api)"


def test_hourly_candles_equal_recorded_and_forming_excluded(server: KrakenReplayServer) -> None:
    result = client(server).fetch_ohlcv(["BTC/USD", "ETH/USD"], "1h", START, END)
    assert isinstance(result, FetchResult) and result.failures.empty
    candles = result.candles
    assert list(candles.columns) == OHLCV_COLUMNS
    assert str(candles["date"].dtype) == "datetime64[ns, UTC]"
    # the server did send the 12:00 candle (still forming at 12:30): it must not come back
    served = json.loads(server.answer(OHLC, {"pair": ["XXBTZUSD"], "interval": ["60"]})[1])
    assert served["result"]["XXBTZUSD"][-1][0] == int(pd.Timestamp("2022-12-01T12:00Z").timestamp())
    assert candles["date"].max() == pd.Timestamp("2022-12-01T11:00Z")
    assert (candles["date"] + pd.Timedelta(hours=1) <= NOW).all()
    for symbol, pair in (("BTC/USD", "XBTUSD"), ("ETH/USD", "ETHUSD")):
        rec = recorded_hourly(pair)
        rec = rec[(rec.date >= START) & (rec.date + pd.Timedelta(hours=1) <= NOW)]
        got = candles[candles.symbol == symbol].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, rec.reset_index(drop=True), check_dtype=False)
    assert result.requests == 2 + 2  # Assets + AssetPairs, one OHLC call per pair
    assert result.as_of == NOW and result.source.startswith("kraken")


def test_incremental_fetch_requests_and_returns_only_newer(server: KrakenReplayServer) -> None:
    source = client(server)
    first = source.fetch_ohlcv(["BTC/USD"], "1h", START, END)
    last = first.candles["date"].max()
    server.now = NOW + pd.Timedelta(hours=3)
    later = client(server).fetch_ohlcv(
        ["BTC/USD"], "1h", START, END, since_by_symbol={"BTC/USD": last + pd.Timedelta(hours=1)}
    )
    assert later.candles["date"].min() > last
    assert later.candles["date"].tolist() == [
        pd.Timestamp(f"2022-12-01T{h}:00Z") for h in (12, 13, 14)
    ]
    query = [r.query for r in server.requests if r.path == OHLC][-1]
    since = int(query.split("since=")[1])  # ccxt asks Kraken for candles after `since`
    assert since == int(last.timestamp())
    # nothing newer complete: no request at all
    before = server.count(OHLC)
    idle = client(server).fetch_ohlcv(
        ["BTC/USD"], "1h", START, END, since_by_symbol={"BTC/USD": server.now}
    )
    assert idle.candles.empty and server.count(OHLC) == before


def test_recorded_4h_payload_through_ccxt(kraken_server: KrakenReplayServer) -> None:
    """At the default clock the replay is byte-for-byte the recorded 720-candle response."""
    recorded = load_json_gz(KRAKEN_API_DIR / "OHLC_XXBTZUSD_4h_2022-10-23_2023-02-19.json.gz")
    served = json.loads(kraken_server.answer(OHLC, {"pair": ["XBTUSD"], "interval": ["240"]})[1])
    assert served == recorded
    result = client(kraken_server).fetch_ohlcv(
        ["BTC/USD"],
        "4h",
        pd.Timestamp("2022-01-01", tz="UTC"),
        pd.Timestamp("2023-03-01", tz="UTC"),
    )
    rows = recorded["result"]["XXBTZUSD"][:-1]  # the last one is still forming
    assert len(result.candles) == 719
    assert result.candles["close"].tolist() == [float(r[4]) for r in rows]
    assert result.candles["volume"].tolist() == [float(r[6]) for r in rows]
    assert any("720 most recent" in note for note in result.notes)


def test_unknown_symbols_become_failure_rows(server: KrakenReplayServer) -> None:
    result = client(server).fetch_ohlcv(["NOPE/USD", "BTC/USD", "DOGE/USD"], "1h", START, END)
    failures = result.failures.set_index("symbol")
    assert failures.loc["NOPE/USD", "error_type"] == "BadSymbol"  # not listed: no request
    assert failures.loc["DOGE/USD", "error_type"] == "ExchangeError"
    assert "EQuery:Unknown asset pair" in failures.loc["DOGE/USD", "message"]
    assert set(result.candles["symbol"]) == {"BTC/USD"}
    with pytest.raises(ValueError, match="no timeframe"):
        client(server).fetch_ohlcv(["BTC/USD"], "7m", START, END)


@pytest.mark.parametrize("kind", ["http500", "ratelimit", "http429"])
def test_transient_errors_are_retried_with_backoff(server: KrakenReplayServer, kind: str) -> None:
    server.inject(OHLC, kind, count=2)
    started = time.perf_counter()
    result = client(server, backoff_base_s=0.05).fetch_ohlcv(["BTC/USD"], "1h", START, END)
    elapsed = time.perf_counter() - started
    assert result.failures.empty and len(result.candles) == 84  # 3.5 days
    assert server.count(OHLC) == 3
    assert elapsed >= 0.05 + 0.10  # two exponential backoff sleeps


def test_timeout_is_retried_then_reported(server: KrakenReplayServer) -> None:
    server.inject(OHLC, "delay", count=1, delay_s=0.8)
    ok = client(server, timeout_ms=200).fetch_ohlcv(["BTC/USD"], "1h", START, END)
    assert ok.failures.empty and not ok.candles.empty
    server.inject(OHLC, "delay", count=2, delay_s=0.8)
    bad = client(server, timeout_ms=200, max_retries=1).fetch_ohlcv(["BTC/USD"], "1h", START, END)
    assert bad.failures["error_type"].tolist() == ["RequestTimeout"]
    assert bad.candles.empty


def test_truncated_json_gives_clear_failure_not_empty_success(server: KrakenReplayServer) -> None:
    server.inject(OHLC, "truncated", count=1)
    recovered = client(server).fetch_ohlcv(["BTC/USD"], "1h", START, END)
    assert recovered.failures.empty and not recovered.candles.empty
    server.inject(OHLC, "truncated", count=10)
    result = client(server, max_retries=2).fetch_ohlcv(["BTC/USD", "ETH/USD"], "1h", START, END)
    assert sorted(result.failures["symbol"]) == ["BTC/USD", "ETH/USD"]
    row = result.failures.iloc[0]
    assert row.error_type == "BadResponse"
    assert "truncated or invalid JSON" in row.message and "\n" not in row.message


def test_truncated_market_list_is_unavailable(server: KrakenReplayServer) -> None:
    server.inject("/0/public/AssetPairs", "truncated", count=10)
    with pytest.raises(SourceUnavailable, match=r"could not be loaded .*BadResponse"):
        client(server, max_retries=1).fetch_markets()


def test_network_down_is_one_clear_line() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = ExchangeResource(
        api_url=f"http://127.0.0.1:{port}", max_retries=1, backoff_base_s=0.01, rate_limit_ms=5
    )
    with pytest.raises(SourceUnavailable) as caught:
        source.fetch_markets()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Kraken cannot be reached (") and "make demo" in message
    with pytest.raises(SourceUnavailable):
        source.fetch_ohlcv(["BTC/USD"], "1h", START, END)


def test_concurrency_is_bounded_and_markets_are_reused(server: KrakenReplayServer) -> None:
    source = client(server, max_concurrency=2, rate_limit_ms=1)
    source.fetch_markets()
    loads = server.count("/0/public/AssetPairs")
    server.inject(OHLC, "delay", count=6, delay_s=0.3)
    symbols = ["BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD", "DOT/USD", "LINK/USD"]
    result = source.fetch_ohlcv(symbols, "1h", START, END)
    assert server.max_in_flight == 2
    assert result.requests == 6  # markets came from the earlier fetch_markets
    assert server.count("/0/public/AssetPairs") == loads


def test_rate_limit_spaces_requests(server: KrakenReplayServer) -> None:
    symbols = ["BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD", "DOT/USD", "LINK/USD"]
    client(server, rate_limit_ms=100, max_concurrency=6).fetch_ohlcv(symbols, "1h", START, END)
    times = [r.t for r in server.requests if r.path == OHLC]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 5 and min(gaps) >= 0.09  # ccxt: 100 ms x OHLC cost 1.2


def test_callable_from_a_running_event_loop(server: KrakenReplayServer) -> None:
    import asyncio

    async def inside() -> FetchResult:
        return client(server).fetch_ohlcv(["BTC/USD"], "1h", START, END)

    assert not asyncio.run(inside()).candles.empty
