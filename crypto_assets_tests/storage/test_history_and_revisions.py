"""Earlier history arrives, holes are filled, revisions of stored candles are kept and reported,
and history the source cannot give is reported: the real ``ohlcv_hourly`` asset in the real
``market_job``, fetching through ccxt's real Kraken code from the local replay of real recorded
Kraken hourly candles (BTC/USD, ETH/USD, complete hours in 2022-11..2023-01; the server's clock
set to 2023-01-06 20:30 UTC, so its API serves hourly candles from 2022-12-07 21:00 on, the 720
most recent).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from crypto_assets.backfill import backfill_kraken_csv
from crypto_assets.definitions import build_definitions
from crypto_assets.runner import run_job
from crypto_assets.settings import Settings
from crypto_assets_tests.fixtures import isolated_settings
from crypto_assets_tests.replay_server import KrakenReplayServer
from crypto_assets_tests.resources.helpers import client, recorded_hourly

COINS = ["BTC/USD", "ETH/USD"]
UNIVERSE = {"ops": {"exchange_markets": {"config": {"symbols_allow": COINS}}}}
NOW = pd.Timestamp("2023-01-06T20:30Z")
REACH = pd.Timestamp("2022-12-07T21:00Z")  # 20:00 (forming at 20:30) and 719 hours before it


@pytest.fixture
def market(tmp_path: Path, kraken_server: KrakenReplayServer) -> dict:
    kraken_server.now = NOW
    settings = isolated_settings(tmp_path, history_start="2022-11-01")
    defs = build_definitions(settings, resources={"market_source": client(kraken_server)})
    return {"settings": settings, "defs": defs, "instance": dg.DagsterInstance.ephemeral()}


def fetch(market: dict, first: str, last: str) -> dg.ExecuteInProcessResult:
    """One market_job run of the raw hourly candles over days first..last (what `run` does)."""
    return run_job(
        market["defs"],
        "market_job",
        market["instance"],
        profile="live",
        day_range=(first, last),
        run_config=UNIVERSE,
        assets=["exchange_markets", "ohlcv_hourly"],
    )


def stored(settings: Settings) -> pd.DataFrame:
    with duckdb.connect(str(settings.resolved_duckdb_path), read_only=True) as conn:
        frame = conn.execute("select * from crypto.ohlcv_hourly order by symbol, date").df()
    return frame.assign(date=pd.to_datetime(frame["date"], utc=True))


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def real(first: str, last_exclusive: str) -> pd.DataFrame:
    """The recorded real candles of both coins with open time in [first, last_exclusive)."""
    frames = [recorded_hourly(p) for p in ("XBTUSD", "ETHUSD")]
    frame = pd.concat(frames).assign(symbol=lambda f: f["symbol"].str.replace("XBT", "BTC"))
    window = (frame["date"] >= pd.Timestamp(first, tz="UTC")) & (
        frame["date"] < pd.Timestamp(last_exclusive, tz="UTC")
    )
    return frame[window & frame["symbol"].isin(COINS)].sort_values(["symbol", "date"])


def test_a_longer_window_loads_the_earlier_history(market: dict) -> None:
    fetch(market, "2023-01-02", "2023-01-05")
    first = stored(market["settings"])
    assert first["date"].min() == pd.Timestamp("2023-01-02", tz="UTC")
    result = fetch(market, "2022-12-28", "2023-01-05")  # a longer --days after a first run
    now = stored(market["settings"])
    assert now["date"].min() == pd.Timestamp("2022-12-28", tz="UTC")
    expected = real("2022-12-28", "2023-01-06")
    assert set(now["symbol"]) == set(COINS)
    assert len(now) == len(expected)
    assert now["date"].tolist() == expected["date"].tolist()
    columns = ["open", "high", "low", "close", "volume"]  # Kraken's decimal strings, parsed
    assert np.allclose(now[columns].to_numpy(), expected[columns].to_numpy(), rtol=1e-9, atol=5e-9)
    assert checks(result)["no_revisions"].passed and checks(result)["history_complete"].passed


def test_holes_are_filled_and_revisions_kept_and_reported(market: dict) -> None:
    fetch(market, "2022-12-28", "2023-01-05")
    database = str(market["settings"].resolved_duckdb_path)
    before = stored(market["settings"])
    hole = ("2022-12-30 05:00:00+00", "2022-12-30 08:00:00+00")  # 3 candles, mid-history
    revised = pd.Timestamp("2023-01-02T10:00Z")
    with duckdb.connect(database) as conn:
        conn.execute(
            "delete from crypto.ohlcv_hourly where symbol = 'ETH/USD' and date >= ? and date < ?",
            list(hole),
        )
        conn.execute(  # a stored value that differs from the source's (kept, reported)
            "update crypto.ohlcv_hourly set close = close * 1.5 where date = ?",
            [revised.to_pydatetime()],
        )
        kept = conn.execute(
            "select symbol, close from crypto.ohlcv_hourly where date = ? order by symbol",
            [revised.to_pydatetime()],
        ).fetchall()
    result = fetch(market, "2022-12-28", "2023-01-05")
    after = stored(market["settings"])
    assert len(after) == len(before)  # the hole was filled from the source
    assert after.loc[after["date"] == revised, ["symbol", "close"]].values.tolist() == [
        list(row) for row in kept
    ]  # nothing written over a stored candle
    check = checks(result)["no_revisions"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith(
        "2 stored 1h candle(s) of 2 coin(s) differ from what the source now gives; kept as stored"
    )
    assert "BTC/USD 2023-01-02 10:00 close" in check.description
    assert "ETH/USD 2023-01-02 10:00 close" in check.description
    meta = result.asset_materializations_for_node("ohlcv_hourly")[0].metadata
    assert meta["conflicts_kept_as_stored"].value == 2 and meta["new_rows"].value == 3


def test_history_older_than_the_source_serves_is_reported(market: dict) -> None:
    result = fetch(market, "2022-12-01", "2022-12-10")
    candles = stored(market["settings"])
    assert candles["date"].min() == REACH  # all the source could give, nothing invented
    assert len(candles) == len(real(str(REACH), "2022-12-11"))
    check = checks(result)["history_complete"]
    missing = (REACH - pd.Timestamp("2022-12-01", tz="UTC")) // pd.Timedelta(hours=1)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description == (
        f"2 coin(s) lack {2 * missing} 1h candle(s) from 2022-12-01 00:00 to 2022-12-07 20:00 "
        "UTC: older than the source serves (it serves 1h candles from 2022-12-07 21:00 UTC on); "
        "`crypto-assets backfill --kraken-csv` loads older history"
    )
    meta = result.asset_materializations_for_node("ohlcv_hourly")[0].metadata
    assert meta["missing_candles"].value == 2 * missing
    assert meta["available_from"].value == str(REACH)


def test_backfilled_history_reaches_clean_candles_with_the_next_run(
    market: dict, tmp_path: Path
) -> None:
    """Kraken's CSV archive (here the same real candles, in its layout) loads history older
    than the API serves; the following run over those days (what `backfill` tells the user to
    run) carries it into clean_ohlcv, and says what it still lacks (ETH: not backfilled)."""
    btc = real("2022-11-20", "2022-12-01")
    btc = btc[btc["symbol"] == "BTC/USD"]
    archive = tmp_path / "archive"
    archive.mkdir()
    btc.assign(time=btc["date"].astype("int64") // 10**9, trades=1)[
        ["time", "open", "high", "low", "close", "volume", "trades"]
    ].to_csv(archive / "XBTUSD_60.csv", header=False, index=False)
    settings = market["settings"]
    loaded = backfill_kraken_csv(archive, settings.resolved_duckdb_path)
    assert loaded.report.committed and loaded.report.files[0].loaded == len(btc)
    assert loaded.next_step("2022-11-01", pd.Timestamp("2022-12-01", tz="UTC")).startswith(
        "next: `crypto-assets run --days 11` computes clean candles, features and models over "
        "the loaded days (2022-11-20..2022-11-30)"
    )
    result = fetch_and_clean(market, "2022-11-25", "2022-11-29")
    with duckdb.connect(str(settings.resolved_duckdb_path), read_only=True) as conn:
        clean = conn.execute(
            "select symbol, count(*) from crypto.clean_ohlcv where timeframe = '1h' group by 1"
        ).fetchall()
    assert clean == [("BTC/USD", 5 * 24)]  # the backfilled days, now fit for modelling
    history = checks(result)["history_complete"]
    assert history.description.startswith(  # ETH/USD: not in the archive, beyond the API
        "1 coin(s) lack 120 1h candle(s) from 2022-11-25 00:00 to 2022-11-29 23:00 UTC: older "
        "than the source serves"
    )


def fetch_and_clean(market: dict, first: str, last: str) -> dg.ExecuteInProcessResult:
    return run_job(
        market["defs"],
        "market_job",
        market["instance"],
        profile="live",
        day_range=(first, last),
        run_config=UNIVERSE,
        assets=["exchange_markets", "ohlcv_hourly", "clean_ohlcv", "data_quality"],
    )


def test_pairs_that_fail_are_reported_and_their_candles_kept(
    market: dict, kraken_server: KrakenReplayServer
) -> None:
    fetch(market, "2023-01-02", "2023-01-04")
    before = stored(market["settings"])
    kraken_server.inject("/0/public/OHLC", "http500", count=50)  # Kraken down for candles
    config = {"ops": {"exchange_markets": {"config": {"symbols_allow": [*COINS, "SOL/USD"]}}}}
    result = run_job(
        market["defs"],
        "market_job",
        market["instance"],
        profile="live",
        day_range=("2023-01-02", "2023-01-04"),
        run_config=config,
        assets=["exchange_markets", "ohlcv_hourly"],
    )
    pd.testing.assert_frame_equal(stored(market["settings"]), before)  # nothing lost
    check = checks(result)["every_symbol_fetched"]
    assert not check.passed
    assert check.description.startswith("3 of 3 pair(s) failed to fetch: BTC/USD (")
    assert "their stored candles are kept, the next run asks again" in check.description
    assert not checks(result)["source_status"].passed
