"""Processes beside a running pipeline, for the readers-beside-a-writer test.

    python -m crypto_assets_tests.storage.reader_process reader DATABASE OUT STOP
    python -m crypto_assets_tests.storage.reader_process publisher DATABASE OUT STOP

``reader`` opens the published copy over and over, as ``status`` or a dashboard would, and
writes one JSON line per read: the copy's publication time and the row count of every
(table, day[, timeframe]) it holds, or the error it met. ``publisher`` publishes over and over
(a daemon sensor firing at any moment of a run, the worst case). Both stop when STOP exists.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from crypto_assets.storage.publish import MANIFEST_SCHEMA, open_published, publish
from crypto_assets.storage.tables import table_exists

# table -> the SQL of its partition day (and timeframe where one table holds two)
DAY_OF = {
    "kraken_markets": "day",
    "ohlcv_hourly": "date",
    "ohlcv_daily": "date",
    "clean_ohlcv": "date",
    "data_quality": "day",
}


def counts(database: str) -> dict:
    """Row counts per table and UTC day (and timeframe) in one published copy."""
    out: dict[str, int] = {}
    with open_published(database) as conn:
        published_at = conn.execute(
            f"select published_at::varchar from {MANIFEST_SCHEMA}.manifest"
        ).fetchone()[0]
        for table, column in DAY_OF.items():
            if not table_exists(conn, "crypto", table):
                continue
            timeframe = "timeframe" if table in ("clean_ohlcv", "data_quality") else "''"
            rows = conn.execute(
                f"select strftime(timezone('UTC', {column}), '%Y-%m-%d'), {timeframe}, count(*) "
                f"from crypto.{table} group by all"
            ).fetchall()
            out.update({f"{table}|{day}|{tf}": n for day, tf, n in rows})
    return {"published_at": published_at, "counts": out}


def main(mode: str, database: str, out: str, stop: str) -> int:
    with open(out, "w") as sink:
        while not Path(stop).exists():
            try:
                if mode == "reader":
                    record = counts(database)
                else:
                    record = {"seconds": publish(database, wait_s=30).seconds}
            except Exception as error:  # every failure is recorded: the test expects none
                record = {"error": f"{type(error).__name__}: {error}"}
            sink.write(json.dumps(record) + "\n")
            sink.flush()
            time.sleep(0.02 if mode == "reader" else 0.3)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
