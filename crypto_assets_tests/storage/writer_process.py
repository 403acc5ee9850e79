"""A writer run as its own process by the fault-injection tests, so that it can be killed or
given a file-size limit (the kernel's own "File too large", as on a full disk).

    python -m crypto_assets_tests.storage.writer_process MODE DATABASE DAY

Modes:
- ``disk-full``: limit this process's file size (RLIMIT_FSIZE) to 64 KiB (room for the log
  record of a delete, not for a day of rows), then replace the day
  with a revised copy of its rows; prints the error the user would read, exits 3.
- ``kill-between``: replace the day, with the process SIGKILLing itself after the delete and
  before the insert of the same transaction.
- ``loop``: replace the day over and over, generation g keeping the first ``rows_for(n, g)``
  stored rows with ``volume + g``; prints ``gen g`` after each commit (the test kills it at a
  random moment).
"""

from __future__ import annotations

import os
import resource
import signal
import sys

import duckdb
import pandas as pd

from crypto_assets.storage import tables
from crypto_assets.storage.tables import StorageWriteError, replace_partition
from crypto_assets_tests.storage.helpers import day_filter

LIMIT = 64 * 1024  # bytes: the WAL record of a delete fits, that of a day of candles does not


def rows_for(n: int, generation: int) -> int:
    """How many of the day's ``n`` rows generation ``generation`` writes (0: all of them)."""
    return n - (generation * 7) % (n // 2) if generation else n


def _day(database: str, day: str) -> pd.DataFrame:
    where, params = day_filter(day)
    with duckdb.connect(database) as conn:
        frame = conn.execute(
            f"select * from crypto.ohlcv_hourly where {where} order by symbol, date", params
        ).df()
    return frame


def main(mode: str, database: str, day: str) -> int:
    original = _day(database, day)
    where, params = day_filter(day)
    if mode == "disk-full":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG ("File too large") instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))
        try:
            replace_partition(
                database,
                "ohlcv_hourly",
                original.assign(close=original["close"] * 1.01),
                where,
                params,
            )
        except StorageWriteError as error:
            print(error, flush=True)
            return 3
        return 0
    if mode == "kill-between":

        def die(*args: object, **kwargs: object) -> int:
            os.kill(os.getpid(), signal.SIGKILL)
            return 0

        tables.insert_rows = die
        replace_partition(database, "ohlcv_hourly", original.head(10), where, params)
        return 0
    if mode == "loop":
        generation = 0
        while True:
            generation += 1
            revised = original.head(rows_for(len(original), generation))
            revised = revised.assign(volume=revised["volume"] + generation)
            replace_partition(database, "ohlcv_hourly", revised, where, params)
            print(f"gen {generation}", flush=True)
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
