"""Cost of the storage guarantees: atomic partition replaces and the published read copy.

Run from the repository root:

    .venv/bin/python benchmarks/storage.py [--repeats 5] [--scale 1]

It loads the real Binance hourly candles (../shared/data/market/binance_2024, 136 coins,
755,566 rows) into a real DuckDB file, one daily partition per day, and then times, in the
same run:

* replacing one day (about 3,200 rows) and one month (about 97,000 rows) of that table, the
  way dagster-duckdb-pandas does it (reference: a DELETE and an INSERT, each autocommitted)
  and the way ``crypto_assets.storage`` does it (the same DELETE and INSERT in one
  transaction, types pinned, insert by column name);
* publishing the read copy (checkpoint, copy, manifest, rename) against a bare file copy of
  the same database (reference);
* a reader opening the published copy and counting candles per coin.

``--scale N`` stores the same real candles N times under new symbols ("BTC/USDT#2"), to see
how publishing grows with the database: a scale test, not more market data. Times are the
median of ``--repeats`` runs. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto_assets.settings import DEFAULT_SNAPSHOT_DIR
from crypto_assets.storage.connection import connect, transaction
from crypto_assets.storage.publish import open_published, publish
from crypto_assets.storage.tables import replace_rows

WHERE = "date >= ? and date < ?"


def _median(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _window(start: str, end: str) -> list:
    return [
        pd.Timestamp(start, tz="UTC").to_pydatetime(),
        pd.Timestamp(end, tz="UTC").to_pydatetime(),
    ]


def _stock_replace(database: Path, frame: pd.DataFrame, params: list) -> None:
    """What dagster-duckdb-pandas does: two autocommitted statements."""
    with duckdb.connect(str(database)) as conn:
        conn.execute(f"delete from crypto.ohlcv_hourly where {WHERE}", params)
        conn.execute("insert into crypto.ohlcv_hourly select * from frame")


def _atomic_replace(database: Path, frame: pd.DataFrame, params: list) -> None:
    conn = connect(database)
    try:
        with transaction(conn):
            replace_rows(conn, "crypto", "ohlcv_hourly", frame, WHERE, params)
    finally:
        conn.close()


def _load(database: Path, candles: pd.DataFrame) -> None:
    conn = connect(database)
    try:
        for month, part in candles.groupby(candles["date"].dt.strftime("%Y-%m")):
            start = pd.Timestamp(month + "-01", tz="UTC")
            with transaction(conn):
                replace_rows(
                    conn,
                    "crypto",
                    "ohlcv_hourly",
                    part,
                    WHERE,
                    [start.to_pydatetime(), (start + pd.offsets.MonthBegin(1)).to_pydatetime()],
                )
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scale", type=int, default=1)
    args = parser.parse_args()
    columns = ["symbol", "date", "open", "high", "low", "close", "volume"]
    real = pd.read_parquet(DEFAULT_SNAPSHOT_DIR / "ohlcv_1h.parquet", columns=columns)
    candles = pd.concat(
        [real.assign(symbol=real["symbol"] + (f"#{k}" if k else "")) for k in range(args.scale)],
        ignore_index=True,
    )
    day = candles[(candles["date"] >= "2024-06-01") & (candles["date"] < "2024-06-02")]
    month = candles[(candles["date"] >= "2024-06-01") & (candles["date"] < "2024-07-01")]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.duckdb"
        _load(database, candles)
        for name, frame, params in (
            ("replace 1 day", day, _window("2024-06-01", "2024-06-02")),
            ("replace 1 month", month, _window("2024-06-01", "2024-07-01")),
        ):
            stock = _median(lambda f=frame, p=params: _stock_replace(database, f, p), args.repeats)
            atomic = _median(
                lambda f=frame, p=params: _atomic_replace(database, f, p), args.repeats
            )
            rows.append((name, f"{len(frame):,}", "DELETE + INSERT, autocommitted", stock, atomic))
        size_mb = database.stat().st_size / 1e6
        copy = _median(lambda: shutil.copyfile(database, Path(folder) / "plain.copy"), args.repeats)
        published = _median(lambda: publish(database), args.repeats)
        rows.append(("publish read copy", f"{size_mb:.0f} MB", "plain file copy", copy, published))

        def read() -> None:
            with open_published(database) as conn:
                conn.execute(
                    "select symbol, count(*) from crypto.ohlcv_hourly group by 1"
                ).fetchall()

        reader = _median(read, args.repeats)
    print(f"{platform.machine()}, scale {args.scale}: {len(candles):,} stored candles\n")
    print("| operation | size | reference | reference s | crypto_assets.storage s | ratio |")
    print("|---|---|---|---|---|---|")
    for name, size, reference, ref_s, ours in rows:
        print(f"| {name} | {size} | {reference} | {ref_s:.3f} | {ours:.3f} | {ours / ref_s:.2f} |")
    label = "reader: open published copy + count per coin"
    print(f"| {label} | {size_mb:.0f} MB | - | - | {reader:.3f} | - |")


if __name__ == "__main__":
    main()
