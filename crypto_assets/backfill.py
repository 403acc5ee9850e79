"""Load Kraken's downloadable OHLCVT archive into the stored raw candle tables (deeper history
than the API's 720 candles). Parsing is ``crypto_assets.market.kraken_csv``; the SQL is
``crypto_assets.storage``; this module joins them for ``crypto-assets backfill``.

Rows that fail the candle checks are reported and not loaded; stored candles are never
overwritten (a differing stored candle is counted as a conflict and kept).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from crypto_assets import storage
from crypto_assets.market.kraken_csv import KrakenCsvError, archive_files, read_kraken_csv
from crypto_assets.market.sanitation import merge_new_candles, row_problems

RAW_TABLES = {"1h": "ohlcv_hourly", "1d": "ohlcv_daily"}


def _load_file(conn: duckdb.DuckDBPyConnection, file: Path, symbol: str | None) -> dict[str, Any]:
    candles, timeframe = read_kraken_csv(file, symbol)
    problems = row_problems(candles, timeframe, pd.Timestamp.now(tz="UTC"))
    bad = candles[problems != ""]
    good = candles[problems == ""]
    table = RAW_TABLES[timeframe]
    stored = (
        storage.read_table(conn, table, "symbol = ?", [good["symbol"].iloc[0]])
        if len(good)
        else pd.DataFrame()
    )
    _, conflicts = merge_new_candles(stored, good)
    loaded = storage.insert_new_rows(conn, table, good, key=["symbol", "date"])
    return {
        "file": file.name,
        "symbol": candles["symbol"].iloc[0],
        "timeframe": timeframe,
        "rows": len(candles),
        "loaded": loaded,
        "already_stored": len(good) - loaded - len(conflicts),
        "conflicts_kept_as_stored": len(conflicts),
        "rejected": len(bad),
        "rejected_reasons": problems[problems != ""].value_counts().head(5).to_dict(),
        "first": str(candles["date"].min()),
        "last": str(candles["date"].max()),
    }


def backfill_kraken_csv(path: Path, database: Path, symbol: str | None = None) -> dict[str, Any]:
    """Load archive files (one file, or a folder of them) into ``database``; a report per file."""
    files = archive_files(path)
    if symbol and len(files) > 1:
        raise KrakenCsvError("--symbol applies to a single file only")
    database = Path(database)
    database.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database)) as conn:
        return {
            "database": str(database),
            "files": [_load_file(conn, file, symbol) for file in files],
        }
