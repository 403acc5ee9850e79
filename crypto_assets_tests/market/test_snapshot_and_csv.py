"""Snapshot directories and the Kraken OHLCVT archive backfill, on real recorded candles."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from crypto_assets.backfill import backfill_kraken_csv
from crypto_assets.market.kraken_csv import KrakenCsvError, parse_file_name
from crypto_assets.market.snapshot import (
    SnapshotError,
    read_snapshot,
    snapshot_day_range,
    snapshot_days,
)
from crypto_assets.settings import Settings
from crypto_assets_tests.fixtures import BINANCE_DIR, KRAKEN_BTC_ETH_DIR


def test_binance_snapshot_reads_all_coins() -> None:
    frames = read_snapshot(BINANCE_DIR)
    assert set(frames) == {"1h", "1d"}
    assert frames["1h"]["symbol"].nunique() == 136
    assert str(frames["1h"]["date"].dtype) == "datetime64[ns, UTC]"
    first, last = snapshot_days(frames, pd.Timestamp("2024-01-01", tz="UTC"))
    assert (str(first.date()), str(last.date())) == ("2024-01-01", "2024-09-05")
    # the same from the time column alone (what sizes the demo's partitions at load time)
    assert snapshot_day_range(BINANCE_DIR, "2024-03-01") == (
        pd.Timestamp("2024-03-01", tz="UTC"),
        last,
    )


def test_snapshot_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="does not exist"):
        read_snapshot(tmp_path / "nope")
    with pytest.raises(SnapshotError, match="has neither"):
        read_snapshot(tmp_path)
    (tmp_path / "ohlcv_1h.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(SnapshotError, match="not a readable parquet"):
        read_snapshot(tmp_path)
    pd.DataFrame(
        {"symbol": ["BTC/USD"], "date": [pd.Timestamp("2024-01-01", tz="UTC")]}
    ).to_parquet(tmp_path / "ohlcv_1h.parquet")
    with pytest.raises(SnapshotError, match="lacks columns"):
        read_snapshot(tmp_path)


def _kraken_archive(tmp_path: Path, rows: int = 48, name: str = "XBTUSD_60.csv") -> Path:
    """Real Kraken hourly BTC candles written in the archive's own CSV layout."""
    real = pd.read_parquet(KRAKEN_BTC_ETH_DIR / "ohlcv_1h.parquet")
    btc = real[real["kraken_pair"].str.contains("XBT")].sort_values("time").tail(rows)
    file = tmp_path / name
    btc[["time", "open", "high", "low", "close", "volume", "trades"]].to_csv(
        file, header=False, index=False
    )
    return file


def test_file_names() -> None:
    assert parse_file_name(Path("XBTUSD_60.csv")) == ("BTC/USD", "1h")
    assert parse_file_name(Path("ETHUSDT_1440.csv")) == ("ETH/USDT", "1d")
    with pytest.raises(KrakenCsvError, match="interval 5"):
        parse_file_name(Path("XBTUSD_5.csv"))
    with pytest.raises(KrakenCsvError, match="not a Kraken OHLCVT file name"):
        parse_file_name(Path("../../etc/passwd"))


def test_backfill_loads_once_and_rejects_corrupt_rows(
    project_env: Settings, tmp_path: Path
) -> None:
    file = _kraken_archive(tmp_path)
    database = project_env.resolved_duckdb_path
    first = backfill_kraken_csv(file, database)
    assert first["files"][0]["loaded"] == 48 and first["files"][0]["symbol"] == "BTC/USD"
    again = backfill_kraken_csv(file, database)
    assert again["files"][0]["loaded"] == 0 and again["files"][0]["already_stored"] == 48
    # a corrupt row (negative close) in a later archive is rejected, the good rows still load
    (tmp_path / "later").mkdir()
    more = _kraken_archive(tmp_path / "later", rows=60)
    lines = more.read_text().splitlines()
    fields = lines[0].split(",")
    fields[4] = "-1"
    lines[0] = ",".join(fields)
    more.write_text("\n".join(lines) + "\n")
    report = backfill_kraken_csv(more, database)["files"][0]
    assert report["rejected"] == 1
    assert any("price <= 0" in reason for reason in report["rejected_reasons"])
    assert report["loaded"] == 11  # 60 rows - 48 already stored - 1 rejected
    with duckdb.connect(str(database), read_only=True) as conn:
        count, low = conn.execute("select count(*), min(close) from crypto.ohlcv_hourly").fetchone()
    assert count == 59 and low > 0


def test_backfill_bad_paths(project_env: Settings, tmp_path: Path) -> None:
    database = project_env.resolved_duckdb_path
    with pytest.raises(KrakenCsvError, match="no such file"):
        backfill_kraken_csv(tmp_path / "missing.csv", database)
    with pytest.raises(KrakenCsvError, match="no PAIR_MINUTES"):
        backfill_kraken_csv(tmp_path, database)
    garbage = tmp_path / "XBTUSD_60.csv"
    garbage.write_text("time,open\nnot-a-time,1\n")
    with pytest.raises(KrakenCsvError, match="non-numeric time"):
        backfill_kraken_csv(garbage, database)
