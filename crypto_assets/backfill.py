"""Load Kraken's downloadable OHLCVT archive into the stored raw candle tables (deeper history
than the API's 720 candles): ``crypto-assets backfill --kraken-csv``. Parsing is
``crypto_assets.market.kraken_csv``; the write is ``crypto_assets.storage.load_batches``.

The rules, all from ``load_batches``: every file is parsed and row-checked first; a file that
cannot be used at all (unreadable, no rows, a bad name) means NOTHING is loaded and the report
names it; otherwise all files load in one transaction (a crash or a full disk rolls all of them
back). Rows that fail the candle checks are rejected with reasons; stored candles are never
overwritten (a differing stored candle is counted as a conflict and kept).

What the backfill does NOT do: it loads raw candles (``ohlcv_hourly`` / ``ohlcv_daily``) only.
They reach ``clean_ohlcv``, the features and the models with the next pipeline run over their
days (``crypto-assets run --days N``, whose candle assets keep every stored candle of their
window); ``BackfillResult.next_step`` says which command, and when the days lie before
``CRYPTO_ASSETS_HISTORY_START`` (where daily partitions begin), that it must move first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from crypto_assets.market.kraken_csv import KrakenCsvError, archive_files, read_kraken_csv
from crypto_assets.market.sanitation import row_problems
from crypto_assets.storage.batches import BatchReport, FileBatch, load_batches

RAW_TABLES = {"1h": "ohlcv_hourly", "1d": "ohlcv_daily"}


@dataclass
class BackfillResult:
    """The load report, and the span of candle days the loaded files cover."""

    report: BatchReport
    first_day: pd.Timestamp | None
    last_day: pd.Timestamp | None

    @property
    def warnings(self) -> int:
        """Rows rejected and stored candles that differ from the files (kept as stored)."""
        return sum(o.rejected + o.conflicts_kept_as_stored for o in self.report.files)

    def next_step(self, history_start: str, today: pd.Timestamp | None = None) -> str:
        """The command that carries the loaded candles into clean_ohlcv, features and models."""
        if not self.report.committed or self.first_day is None:
            return ""
        today = (today or pd.Timestamp.now(tz="UTC")).normalize()
        days = max(1, (today - self.first_day).days)
        step = (
            f"next: `crypto-assets run --days {days}` computes clean candles, features and "
            f"models over the loaded days ({self.first_day:%Y-%m-%d}..{self.last_day:%Y-%m-%d})"
        )
        if self.first_day < pd.Timestamp(history_start, tz="UTC"):
            step += (
                f"; they begin before CRYPTO_ASSETS_HISTORY_START={history_start}, where daily "
                f"partitions start: set it to {self.first_day:%Y-%m-%d} first"
            )
        return step


def file_batch(file: Path, symbol: str | None = None) -> FileBatch:
    """One archive file parsed and row-checked; a file that cannot be used carries its error."""
    try:
        candles, timeframe = read_kraken_csv(file, symbol)
    except KrakenCsvError as error:
        reason = str(error).removeprefix(f"{file}: ").removeprefix(f"{file.name}: ")
        return FileBatch(name=file.name, table="-", error=reason)
    problems = row_problems(candles, timeframe, pd.Timestamp.now(tz="UTC"))
    bad = problems != ""
    return FileBatch(
        name=file.name,
        table=RAW_TABLES[timeframe],
        rows=candles[~bad].reset_index(drop=True),
        rejected=int(bad.sum()),
        rejected_reasons=problems[bad].value_counts().head(5).to_dict(),
    )


def backfill_kraken_csv(
    path: Path, database: Path, symbol: str | None = None, profile: str | None = "live"
) -> BackfillResult:
    """Load archive files (one file, or a folder of them) into ``database``, all or nothing.

    Raises KrakenCsvError only when ``path`` holds no archive file at all (or ``symbol`` is
    given for several files); every problem of a single file is in the report instead."""
    files = archive_files(path)
    if symbol and len(files) > 1:
        raise KrakenCsvError("--symbol applies to a single file only")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    batches = [file_batch(file, symbol) for file in files]
    report = load_batches(database, batches, profile=profile)
    dates = [b.rows["date"] for b in batches if b.rows is not None and len(b.rows)]
    if not dates:
        return BackfillResult(report, None, None)
    every = pd.concat(dates)
    return BackfillResult(report, every.min().floor("D"), every.max().floor("D"))
