"""Helpers of the storage fault-injection suite: day filters, reading stored rows back, and
running a writer in a separate process (to kill it, or to limit its file size)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

from crypto_assets.settings import PROJECT_ROOT

DAYS = ("2024-06-01", "2024-06-02", "2024-06-03")


def day_filter(day: str) -> tuple[str, list]:
    start = pd.Timestamp(day, tz="UTC")
    return "date >= ? and date < ?", [
        start.to_pydatetime(),
        (start + pd.Timedelta(days=1)).to_pydatetime(),
    ]


def stored(database: Path, day: str, table: str = "ohlcv_hourly") -> pd.DataFrame:
    """The stored rows of one day, sorted, read with a fresh read-only connection."""
    where, params = day_filter(day)
    with duckdb.connect(str(database), read_only=True) as conn:
        frame = conn.execute(
            f"select * from crypto.{table} where {where} order by symbol, date", params
        ).df()
    return frame.reset_index(drop=True)


def same_rows(left: pd.DataFrame, right: pd.DataFrame) -> bool:
    """Equal content regardless of order and of the datetime unit DuckDB hands back."""
    key = ["symbol", "date"]
    a = left.assign(date=pd.to_datetime(left["date"], utc=True).astype("datetime64[ns, UTC]"))
    b = right.assign(date=pd.to_datetime(right["date"], utc=True).astype("datetime64[ns, UTC]"))
    a = a.sort_values(key).reset_index(drop=True)[sorted(a.columns)]
    b = b.sort_values(key).reset_index(drop=True)[sorted(b.columns)]
    return a.equals(b)


def run_writer(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m crypto_assets_tests.storage.writer_process ARGS`` with this checkout first."""
    return subprocess.run(
        [sys.executable, "-m", "crypto_assets_tests.storage.writer_process", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=PROJECT_ROOT,
    )


def start_writer(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "crypto_assets_tests.storage.writer_process", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=PROJECT_ROOT,
    )
