"""record_snapshot: record from the (replayed) exchange, read back with SnapshotSource."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from crypto_assets.market.snapshot_record import _inside, record_snapshot
from crypto_assets.resources.market_source import SnapshotSource
from crypto_assets_tests.replay_server import KrakenReplayServer
from crypto_assets_tests.resources.helpers import client

NOW = pd.Timestamp("2022-12-01T12:30:00Z")


def test_round_trip_replay_to_snapshot(kraken_server: KrakenReplayServer, tmp_path: Path) -> None:
    kraken_server.now = NOW
    source = client(kraken_server)
    out = tmp_path / "snap"
    summary = record_snapshot(
        source, out, timeframes=("1h", "1d"), quotes=["USD"], symbols_allow=["BTC/USD", "ETH/USD"]
    )
    assert summary["symbols"] == ["BTC/USD", "ETH/USD"]
    assert summary["files"] == ["ohlcv_1h.parquet", "markets.parquet"]
    # no daily candles were recorded by the replay: the failures say so
    assert {f["timeframe"] for f in summary["failures"]} == {"1d"}
    on_disk = json.loads((out / "SOURCE.json").read_text())
    assert on_disk["fetched_at"] == NOW.isoformat() and on_disk["exchange"].startswith("kraken")
    assert len(pd.read_parquet(out / "markets.parquet")) == 1434

    start = NOW - pd.Timedelta(hours=720)
    live = source.fetch_ohlcv(["BTC/USD", "ETH/USD"], "1h", start, NOW).candles
    replayed = SnapshotSource(snapshot_dir=str(out)).fetch_ohlcv(
        ["BTC/USD", "ETH/USD"], "1h", start, NOW
    )
    assert len(live) > 1000
    pd.testing.assert_frame_equal(replayed.candles, live)
    markets = SnapshotSource(snapshot_dir=str(out)).fetch_markets()
    assert markets["symbol"].tolist() == ["BTC/USD", "ETH/USD"] and markets["active"].all()

    with pytest.raises(FileExistsError, match="not empty"):
        record_snapshot(source, out, timeframes=("1h",), symbols_allow=["BTC/USD"])
    again = record_snapshot(
        source, out, timeframes=("1h",), quotes=["USD"], symbols_allow=["BTC/USD"], overwrite=True
    )
    assert again["symbols"] == ["BTC/USD"]
    assert set(pd.read_parquet(out / "ohlcv_1h.parquet")["symbol"]) == {"BTC/USD"}


def test_bad_arguments_and_paths(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        record_snapshot(None, tmp_path / "file")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeframes"):
        record_snapshot(None, tmp_path / "a", timeframes=("4h",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):
        _inside(tmp_path.resolve(), "../escape.parquet")
