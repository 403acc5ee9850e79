"""Kraken's downloadable OHLCVT archive: deeper history than the API's 720 candles.

Files are named ``<ALTNAME>_<minutes>.csv`` (e.g. ``XBTUSD_60.csv``) with rows
``time,open,high,low,close,volume,trades`` and no header. Rows that fail the candle checks are
reported and not loaded; stored candles are never overwritten.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from crypto_assets.market.sanitation import merge_new_candles, row_problems
from crypto_assets.market.schemas import to_canonical

INTERVALS = {60: "1h", 1440: "1d"}
KRAKEN_CODES = {"XBT": "BTC", "XDG": "DOGE"}
QUOTES = ("USDT", "USDC", "USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD", "XBT", "ETH")
TABLES = {"1h": "ohlcv_hourly", "1d": "ohlcv_daily"}
_NAME = re.compile(r"^(?P<pair>[A-Z0-9]+)_(?P<minutes>\d+)\.csv(\.gz)?$")


class KrakenCsvError(ValueError):
    """A file or path that cannot be loaded, with the reason."""


def parse_file_name(path: Path) -> tuple[str, str]:
    """(symbol, timeframe) from a Kraken archive file name, e.g. XBTUSD_60.csv -> BTC/USD, 1h."""
    match = _NAME.match(path.name)
    if not match:
        raise KrakenCsvError(f"{path.name}: not a Kraken OHLCVT file name (PAIR_MINUTES.csv)")
    minutes = int(match["minutes"])
    if minutes not in INTERVALS:
        raise KrakenCsvError(f"{path.name}: interval {minutes} min not used (only 60, 1440)")
    pair = match["pair"]
    quote = next((q for q in QUOTES if pair.endswith(q) and len(pair) > len(q)), None)
    if quote is None:
        raise KrakenCsvError(f"{path.name}: cannot split pair {pair} into base/quote")
    base = pair[: -len(quote)]
    return f"{KRAKEN_CODES.get(base, base)}/{KRAKEN_CODES.get(quote, quote)}", INTERVALS[minutes]


def read_kraken_csv(path: Path, symbol: str | None = None) -> tuple[pd.DataFrame, str]:
    """Canonical candles and timeframe from one archive file."""
    parsed_symbol, timeframe = parse_file_name(path)
    try:
        raw = pd.read_csv(
            path,
            header=None,
            names=["time", "open", "high", "low", "close", "volume", "trades"],
        )
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise KrakenCsvError(f"{path}: unreadable CSV ({exc})") from exc
    if raw.empty:
        raise KrakenCsvError(f"{path}: no rows")
    times = pd.to_numeric(raw["time"], errors="coerce")
    if times.isna().any():
        raise KrakenCsvError(f"{path}: {int(times.isna().sum())} row(s) with a non-numeric time")
    frame = raw.assign(
        symbol=symbol or parsed_symbol,
        date=pd.to_datetime(times.astype("int64"), unit="s", utc=True),
    )
    return to_canonical(frame), timeframe


def _safe_files(path: Path) -> list[Path]:
    root = Path(path).expanduser().resolve()
    if root.is_file():
        return [root]
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.is_file() and _NAME.match(p.name))
        if not files:
            raise KrakenCsvError(f"{root}: no PAIR_MINUTES.csv files with 60 or 1440 min")
        return files
    raise KrakenCsvError(f"{root}: no such file or directory")


def backfill_from_kraken_csv(
    path: Path, settings: Any, symbol: str | None = None
) -> dict[str, Any]:
    """Load archive files into the stored raw candle tables; returns a report per file."""
    import duckdb

    from crypto_assets.defs.storage import SCHEMA

    files = _safe_files(path)
    if symbol and len(files) > 1:
        raise KrakenCsvError("--symbol applies to a single file only")
    database = settings.resolved_duckdb_path
    database.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"database": str(database), "files": []}
    with duckdb.connect(str(database)) as conn:
        conn.execute(f"create schema if not exists {SCHEMA}")
        for file in files:
            candles, timeframe = read_kraken_csv(file, symbol)
            problems = row_problems(candles, timeframe, pd.Timestamp.now(tz="UTC"))
            bad = candles[problems != ""]
            good = candles[problems == ""]
            table = f'{SCHEMA}."{TABLES[timeframe]}"'
            exists = conn.execute(
                "select count(*) from information_schema.tables "
                "where table_schema=? and table_name=?",
                [SCHEMA, TABLES[timeframe]],
            ).fetchone()[0]
            stored = (
                conn.execute(
                    f"select * from {table} where symbol = ?", [good["symbol"].iloc[0]]
                ).df()
                if exists and len(good)
                else pd.DataFrame()
            )
            _, conflicts = merge_new_candles(stored, good)
            if stored.empty:
                new_rows = good
            else:
                known = pd.MultiIndex.from_frame(to_canonical(stored)[["symbol", "date"]])
                new_rows = good[~pd.MultiIndex.from_frame(good[["symbol", "date"]]).isin(known)]
            if not exists:
                conn.execute(f"create table {table} as select * from new_rows")
            elif len(new_rows):
                conn.execute(f"insert into {table} by name select * from new_rows")
            report["files"].append(
                {
                    "file": file.name,
                    "symbol": candles["symbol"].iloc[0],
                    "timeframe": timeframe,
                    "rows": len(candles),
                    "loaded": len(new_rows),
                    "already_stored": len(good) - len(new_rows) - len(conflicts),
                    "conflicts_kept_as_stored": len(conflicts),
                    "rejected": len(bad),
                    "rejected_reasons": problems[problems != ""].value_counts().head(5).to_dict(),
                    "first": str(candles["date"].min()),
                    "last": str(candles["date"].max()),
                }
            )
    return report
