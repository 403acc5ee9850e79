"""Kraken's downloadable OHLCVT archive: deeper history than the API's 720 candles.

Files are named ``<ALTNAME>_<minutes>.csv`` (e.g. ``XBTUSD_60.csv``) with rows
``time,open,high,low,close,volume,trades`` and no header. Parsing only: loading into storage is
``crypto_assets.backfill`` (rows that fail the candle checks are reported and not loaded;
stored candles are never overwritten).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from crypto_assets.market.schemas import to_canonical

INTERVALS = {60: "1h", 1440: "1d"}
KRAKEN_CODES = {"XBT": "BTC", "XDG": "DOGE"}
QUOTES = ("USDT", "USDC", "USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD", "XBT", "ETH")
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


def archive_files(path: Path) -> list[Path]:
    """The archive files at ``path`` (one file, or the matching files of a folder)."""
    root = Path(path).expanduser().resolve()
    if root.is_file():
        return [root]
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.is_file() and _NAME.match(p.name))
        if not files:
            raise KrakenCsvError(f"{root}: no PAIR_MINUTES.csv files with 60 or 1440 min")
        return files
    raise KrakenCsvError(f"{root}: no such file or directory")
