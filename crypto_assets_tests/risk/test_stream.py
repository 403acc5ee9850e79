"""ccxt.pro's real Kraken WebSocket code against a local server replaying REAL data.

The recording is Kraken WebSocket v1; ccxt.pro speaks v2. The server re-envelopes each recorded
v1 book message as v2 (values untouched) and serves real Kraken hourly candles in v2's ohlc
shape (no WebSocket candle recording exists): see ws_replay_server's docstring."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from crypto_assets.market.schemas import OHLCV_COLUMNS, validation_failures
from crypto_assets.resources.market_stream import KrakenStream
from crypto_assets.risk.source import OrderBookSource
from crypto_assets_tests.replay_server import KrakenReplayServer
from crypto_assets_tests.resources.helpers import recorded_hourly
from crypto_assets_tests.ws_replay_server import KrakenWsReplayServer

NOW = pd.Timestamp("2022-12-01T12:30:00Z")  # the 12:00 candle is still forming


@pytest.fixture(scope="module")
def rest() -> Iterator[KrakenReplayServer]:
    with KrakenReplayServer(now=NOW) as server:
        yield server


def _stream(rest: KrakenReplayServer, ws: KrakenWsReplayServer, now, **kw) -> KrakenStream:
    config = {
        "api_url": rest.url,
        "ws_url": ws.url,
        "first_message_s": 10.0,
        "watch_s": 0.3,
        "settle_s": 1.0,
        "rate_limit_ms": 5,
        "frozen_clock": pd.Timestamp(now).isoformat(),
    } | kw
    return KrakenStream(**config)


def test_only_closed_candles_equal_to_the_recorded_ones(rest) -> None:
    with KrakenWsReplayServer(now=NOW, snapshot_candles=24) as ws:
        result = _stream(rest, ws, NOW).watch_closed_candles(["BTC/USD", "ETH/USD"], "1h")
        subscribed = [s["params"] for s in ws.subscriptions]
    assert {tuple(p["symbol"]) for p in subscribed} == {("BTC/USD",), ("ETH/USD",)}
    assert all(p["channel"] == "ohlc" and p["interval"] == 60 for p in subscribed)
    candles = result.candles
    assert result.failures.empty and list(candles.columns) == OHLCV_COLUMNS
    assert validation_failures(candles, "1h", now=NOW).empty  # the REST candles' schema
    assert candles["date"].max() == pd.Timestamp("2022-12-01T11:00Z")  # 12:00 was forming
    for symbol, pair in (("BTC/USD", "XBTUSD"), ("ETH/USD", "ETHUSD")):
        got = candles[candles.symbol == symbol].reset_index(drop=True)
        rec = recorded_hourly(pair)
        rec = rec[(rec.date >= got.date.min()) & (rec.date <= got.date.max())]
        assert len(got) == 23
        pd.testing.assert_frame_equal(got, rec.reset_index(drop=True), check_dtype=False)


def test_a_later_candle_closes_the_previous_one_within_the_grace(rest) -> None:
    now = pd.Timestamp("2022-12-01T13:00:02Z")  # 12:00 ended 2 s ago: inside the 5 s grace
    with KrakenWsReplayServer(now=NOW, snapshot_candles=3, ohlc_updates=1) as ws:
        candles = _stream(rest, ws, now).watch_closed_candles(["BTC/USD"], "1h").candles
    # the 13:00 update arrived, so 12:00 is final; 13:00 itself is forming and left out
    assert candles["date"].tolist() == [pd.Timestamp(f"2022-12-01T{h}:00Z") for h in (10, 11, 12)]
    with KrakenWsReplayServer(now=NOW, snapshot_candles=3) as ws:  # no later candle yet
        candles = _stream(rest, ws, now).watch_closed_candles(["BTC/USD"], "1h").candles
    assert candles["date"].max() == pd.Timestamp("2022-12-01T11:00Z")


def test_unknown_pair_and_bad_timeframe(rest) -> None:
    with KrakenWsReplayServer(now=NOW) as ws:  # XMR/USD is refused: no candle ever comes
        stream = _stream(rest, ws, NOW, first_message_s=3.0)
        result = stream.watch_closed_candles(["XMR/USD", "BTC/USD"], "1h")
    assert result.failures[["symbol", "error_type"]].values.tolist() == [["XMR/USD", "NoData"]]
    assert set(result.candles["symbol"]) == {"BTC/USD"}
    with pytest.raises(ValueError, match="timeframe"):
        KrakenStream().watch_closed_candles(["BTC/USD"], "5m")


def test_ccxt_pro_book_equals_the_checksum_verified_rebuild(rest, kraken_replay) -> None:
    with KrakenWsReplayServer(now=NOW) as ws:
        stream = _stream(rest, ws, NOW, first_message_s=3.0)  # ETH/USD: no book ever comes
        assert isinstance(stream, OrderBookSource)
        fetch = stream.fetch_order_books(["BTC/CHF", "XMR/USD", "ETH/USD"], depth=1000)
        depths = {s["params"]["symbol"][0]: s["params"].get("depth") for s in ws.subscriptions}
    assert depths == {"BTC/CHF": 1000, "XMR/USD": 1000, "ETH/USD": 1000}
    rows = fetch.symbols.set_index("symbol")
    assert rows.loc["ETH/USD", "status"] == "unavailable"  # listed, but no recorded book
    for symbol, pair in (("BTC/CHF", "XBT/CHF"), ("XMR/USD", "XMR/USD")):
        assert rows.loc[symbol, "status"] == "ok"
        bids, asks = kraken_replay.books[pair].levels()
        got = fetch.books[fetch.books["symbol"] == symbol]
        assert list(got[got.side == "bid"][["price", "amount"]].itertuples(index=False)) == bids
        assert list(got[got.side == "ask"][["price", "amount"]].itertuples(index=False)) == asks
    # as_of: the exchange time of the last update (the newest level time in it), not "now"
    assert rows.loc["BTC/CHF", "as_of"].floor("s") == pd.Timestamp("2021-04-17 16:49:23Z")
    with KrakenWsReplayServer(now=NOW) as ws:  # 50 is no Kraken depth: 100 subscribed, 50 kept
        fetch = _stream(rest, ws, NOW, settle_s=0.2).fetch_order_books(["BTC/CHF"], depth=50)
        assert ws.subscriptions[0]["params"]["depth"] == 100
    assert fetch.books.groupby("side").size().to_dict() == {"ask": 50, "bid": 50}


def test_live_hourly_asset_stores_only_the_closed_hour(rest, tmp_path) -> None:
    import dagster as dg
    import duckdb

    from crypto_assets.defs.live import live_ohlcv_asset
    from crypto_assets.resources.io_manager import AtomicDuckDBPandasIOManager
    from crypto_assets.resources.storage import DuckDBStore

    hours = dg.HourlyPartitionsDefinition(start_date="2022-11-01-00:00", timezone="UTC")
    live_ohlcv_hourly = live_ohlcv_asset(hours)  # the product's hours start in 2024

    db = str(tmp_path / "live.duckdb")
    config = {"ops": {"live_ohlcv_hourly": {"config": {"symbols": ["BTC/USD", "ETH/USD"]}}}}
    with KrakenWsReplayServer(now=NOW, snapshot_candles=3) as ws:
        resources = {
            "market_stream": _stream(rest, ws, NOW),
            "duckdb": DuckDBStore(database=db),
            "io_manager": AtomicDuckDBPandasIOManager(database=db, schema="crypto"),
        }
        for hour in ("2022-12-01-11:00", "2022-12-01-12:00"):  # closed, then still forming
            result = dg.materialize(
                [live_ohlcv_hourly], resources=resources, partition_key=hour, run_config=config
            )
            assert result.success
    with duckdb.connect(db, read_only=True) as conn:
        stored = conn.execute("select * from crypto.live_ohlcv_hourly order by symbol").df()
    assert stored["date"].dt.tz_convert("UTC").unique().tolist() == [
        pd.Timestamp("2022-12-01T11:00Z")
    ]
    btc = recorded_hourly("XBTUSD").set_index("date").loc[pd.Timestamp("2022-12-01T11:00Z")]
    assert stored.iloc[0]["close"] == btc["close"] and list(stored["symbol"]) == [
        "BTC/USD",
        "ETH/USD",
    ]
    meta = result.asset_materializations_for_node("live_ohlcv_hourly")[0].metadata
    assert meta["without_candle"].value == 2  # the 12:00 hour: nothing closed yet, nothing stored
