"""A multi-file backfill loads all of its files or none, and says per file what happened.

Real Kraken hourly candles (../shared/data/market/kraken_btc_eth) written in the archive's own
CSV layout, parsed and row-checked by the product's Kraken CSV code, loaded by the storage
layer's one-transaction writer (what the restructured ``backfill --kraken-csv`` calls).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from crypto_assets.backfill import RAW_TABLES as TABLES
from crypto_assets.market.kraken_csv import KrakenCsvError, read_kraken_csv
from crypto_assets.market.sanitation import row_problems
from crypto_assets.storage import batches
from crypto_assets.storage.batches import FileBatch, load_batches
from crypto_assets_tests.fixtures import KRAKEN_BTC_ETH_DIR


def kraken_batch(file: Path) -> FileBatch:
    """One archive file parsed and row-checked: the recipe the backfill command follows."""
    try:
        candles, timeframe = read_kraken_csv(file)
    except KrakenCsvError as error:
        return FileBatch(name=file.name, table="-", error=str(error))
    problems = row_problems(candles, timeframe, pd.Timestamp.now(tz="UTC"))
    return FileBatch(
        name=file.name,
        table=TABLES[timeframe],
        rows=candles[problems == ""],
        rejected=int((problems != "").sum()),
        rejected_reasons=problems[problems != ""].value_counts().to_dict(),
    )


@pytest.fixture(scope="module")
def kraken_hourly() -> pd.DataFrame:
    return pd.read_parquet(KRAKEN_BTC_ETH_DIR / "ohlcv_1h.parquet")


def archive(folder: Path, kraken_hourly: pd.DataFrame, pair: str, rows: int) -> Path:
    """The last ``rows`` real candles of ``pair`` as Kraken's PAIR_60.csv (no header)."""
    folder.mkdir(parents=True, exist_ok=True)
    real = kraken_hourly[kraken_hourly["kraken_pair"] == pair].sort_values("time").tail(rows)
    file = folder / f"{pair}_60.csv"
    real[["time", "open", "high", "low", "close", "volume", "trades"]].to_csv(
        file, header=False, index=False
    )
    return file


def revise(file: Path, line: int, field: int, value: str) -> None:
    """Overwrite one field of one line of an archive file (a corruption or a revision)."""
    lines = file.read_text().splitlines()
    fields = lines[line].split(",")
    fields[field] = value
    lines[line] = ",".join(fields)
    file.write_text("\n".join(lines) + "\n")


def stored_counts(database: Path) -> dict[str, int]:
    with duckdb.connect(str(database), read_only=True) as conn:
        return dict(
            conn.execute("select symbol, count(*) from crypto.ohlcv_hourly group by 1").fetchall()
        )


def test_all_files_in_one_transaction_then_nothing_new(
    tmp_path: Path, kraken_hourly: pd.DataFrame
) -> None:
    database = tmp_path / "backfill.duckdb"
    files = [archive(tmp_path / "a", kraken_hourly, p, 200) for p in ("XBTUSD", "ETHUSD")]
    close = float(files[1].read_text().splitlines()[5].split(",")[4])
    revise(files[1], 5, 2, str(close / 2))  # high below close: a corrupt candle, rejected
    report = load_batches(database, [kraken_batch(f) for f in files])
    assert report.committed and report.message.startswith("loaded 399 new row(s) from 2 file(s)")
    assert stored_counts(database) == {"BTC/USD": 200, "ETH/USD": 199}
    eth = report.files[1]
    assert (eth.loaded, eth.rejected) == (199, 1)
    assert "1 rejected (high < max(open, close)" in eth.line()
    again = load_batches(database, [kraken_batch(f) for f in files])
    assert again.committed and [o.loaded for o in again.files] == [0, 0]
    assert [o.already_stored for o in again.files] == [200, 199]


def test_one_broken_file_loads_nothing_and_says_which(
    tmp_path: Path, kraken_hourly: pd.DataFrame
) -> None:
    database = tmp_path / "backfill.duckdb"
    first = archive(tmp_path / "first", kraken_hourly, "XBTUSD", 100)
    assert load_batches(database, [kraken_batch(first)]).committed
    files = [archive(tmp_path / "b", kraken_hourly, p, 300) for p in ("XBTUSD", "ETHUSD")]
    revise(files[1], 150, 0, "not-a-time")  # the ETH file cannot be read as a whole
    report = load_batches(database, [kraken_batch(f) for f in files])
    assert not report.committed
    assert report.message == (
        "nothing loaded: 1 of 2 file(s) could not be used (ETHUSD_60.csv); fix or remove them "
        "and run the backfill again"
    )
    lines = report.lines()
    assert lines[1] == "  XBTUSD_60.csv: NOT LOADED: valid, held back because ETHUSD_60.csv failed"
    assert "ETHUSD_60.csv: FAILED:" in lines[2] and "non-numeric time" in lines[2]
    assert stored_counts(database) == {"BTC/USD": 100}  # exactly what was there before


def test_a_crash_in_the_middle_rolls_back_the_files_before_it(
    tmp_path: Path, kraken_hourly: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "backfill.duckdb"
    first = archive(tmp_path / "first", kraken_hourly, "XBTUSD", 50)
    assert load_batches(database, [kraken_batch(first)]).committed
    files = [archive(tmp_path / "c", kraken_hourly, p, 150) for p in ("XBTUSD", "ETHUSD")]
    real_load_one = batches._load_one

    def full_disk_on_second(conn, schema, batch, key, values):  # type: ignore[no-untyped-def]
        if batch.name.startswith("ETH"):
            raise duckdb.IOException("IO Error: No space left on device")
        return real_load_one(conn, schema, batch, key, values)

    monkeypatch.setattr(batches, "_load_one", full_disk_on_second)
    report = load_batches(database, [kraken_batch(f) for f in files])
    assert not report.committed
    assert "nothing loaded from 2 file(s): the write was rolled back" in report.message
    assert "No space left on device" in report.message
    assert all(o.status == "not loaded" and o.loaded == 0 for o in report.files)
    assert stored_counts(database) == {"BTC/USD": 50}  # the first file's 100 new rows: gone


def test_a_differing_candle_is_kept_as_stored_and_counted(
    tmp_path: Path, kraken_hourly: pd.DataFrame
) -> None:
    database = tmp_path / "backfill.duckdb"
    file = archive(tmp_path / "d", kraken_hourly, "XBTUSD", 30)
    assert load_batches(database, [kraken_batch(file)]).committed
    with duckdb.connect(str(database), read_only=True) as conn:
        before = conn.execute("select * from crypto.ohlcv_hourly order by date").df()
    volume = float(file.read_text().splitlines()[-1].split(",")[5])
    revise(file, -1, 5, str(volume * 3))  # a revised volume for a candle already stored
    outcome = load_batches(database, [kraken_batch(file)]).files[0]
    assert (outcome.loaded, outcome.already_stored, outcome.conflicts_kept_as_stored) == (0, 29, 1)
    assert "1 differing from stored (kept as stored)" in outcome.line()
    with duckdb.connect(str(database), read_only=True) as conn:
        after = conn.execute("select * from crypto.ohlcv_hourly order by date").df()
    pd.testing.assert_frame_equal(before, after)
