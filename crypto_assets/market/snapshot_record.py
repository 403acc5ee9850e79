"""Record a market snapshot from a live source, to replay later with ``SnapshotSource``.

Writes the snapshot layout (``ohlcv_1h.parquet`` / ``ohlcv_1d.parquet``, plus
``markets.parquet`` and ``SOURCE.json`` saying where and when it came from). The only impure
part is the source object passed in; files are written to a temporary name and renamed, so a
failed recording never leaves a half-written snapshot behind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from crypto_assets.horizons import TIMEFRAMES
from crypto_assets.market.schemas import OHLCV_COLUMNS
from crypto_assets.market.snapshot import SNAPSHOT_FILES
from crypto_assets.market.source import MarketSource
from crypto_assets.market.universe import DEFAULT_QUOTES, filter_universe

OWNED_FILES = (*SNAPSHOT_FILES.values(), "markets.parquet", "SOURCE.json")
KRAKEN_MAX_CANDLES = 720  # what one Kraken OHLC call can give: the default history depth


def _inside(out_dir: Path, name: str) -> Path:
    """``out_dir / name``, refusing any name that would land outside ``out_dir``."""
    target = (out_dir / name).resolve()
    if target.parent != out_dir:
        raise ValueError(f"refusing to write {name!r} outside {out_dir}")
    return target


def _write_atomic(target: Path, write: Any) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        write(tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch_candles(
    source: MarketSource,
    symbols: list[str],
    timeframes: Sequence[str],
    start: pd.Timestamp | None,
    stop: pd.Timestamp,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any], int]:
    """(candles per timeframe, report of windows/rows/failures, requests made)."""
    candles: dict[str, pd.DataFrame] = {}
    report: dict[str, Any] = {"timeframes": {}, "failures": []}
    requests = 0
    for tf in timeframes:
        first = (
            pd.Timestamp(start) if start is not None else stop - KRAKEN_MAX_CANDLES * TIMEFRAMES[tf]
        )
        result = source.fetch_ohlcv(symbols, tf, first, stop)
        requests += result.requests
        candles[tf] = result.candles[OHLCV_COLUMNS]
        report["timeframes"][tf] = {
            "start": first.isoformat(),
            "end": stop.isoformat(),
            "rows": len(result.candles),
            "symbols_with_candles": int(result.candles["symbol"].nunique()),
            "notes": result.notes,
        }
        report["failures"] += [
            {"timeframe": tf, **row} for row in result.failures.to_dict("records")
        ]
    return candles, report, requests


def record_snapshot(
    source: MarketSource,
    out_dir: Path | str,
    timeframes: Sequence[str] = ("1h", "1d"),
    quotes: Sequence[str] = DEFAULT_QUOTES,
    limit_symbols: int | None = None,
    *,
    symbols_allow: list[str] | None = None,
    overwrite: bool = False,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """Fetch the filtered universe's candles from ``source`` and write a snapshot directory.

    Default window per timeframe: the 720 candles before the fetch time (Kraken's API depth).
    Returns the summary also written to ``SOURCE.json``.
    """
    bad = [tf for tf in timeframes if tf not in SNAPSHOT_FILES]
    if bad or not timeframes:
        raise ValueError(
            f"timeframes must be among {sorted(SNAPSHOT_FILES)}, got {list(timeframes)}"
        )
    if limit_symbols is not None and limit_symbols < 1:
        raise ValueError("limit_symbols must be >= 1")
    out = checked_out_dir(out_dir, overwrite)

    markets = source.fetch_markets()
    universe = filter_universe(markets, list(quotes), symbols_allow=symbols_allow)
    symbols = universe["symbol"].tolist()[:limit_symbols]
    fetched_at = pd.Timestamp(markets["as_of"].iloc[0]) if len(markets) else None
    stop = pd.Timestamp(end) if end is not None else fetched_at
    if stop is None:
        raise ValueError("the source listed no markets and no end was given")

    candles, report, requests = fetch_candles(source, symbols, timeframes, start, stop)
    summary = {
        "exchange": source.describe(),
        "fetched_at": fetched_at.isoformat() if fetched_at is not None else None,
        "quotes": list(quotes),
        "symbols": symbols,
        "requests": requests,
        **report,
    }
    return write_snapshot(out, candles, markets, summary, overwrite)


def checked_out_dir(out_dir: Path | str, overwrite: bool) -> Path:
    """The resolved output folder, refused before any request is made when it is a file or
    (without ``overwrite``) not empty: a recording never writes over another one unasked."""
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty: pass overwrite=True to replace the snapshot")
    return out


def write_snapshot(
    out: Path,
    candles: dict[str, pd.DataFrame],
    markets: pd.DataFrame,
    summary: dict[str, Any],
    overwrite: bool,
) -> dict[str, Any]:
    """Write the candle files, ``markets.parquet`` and ``SOURCE.json`` (``summary`` plus the
    list of files), each atomically; with ``overwrite``, first remove the files an older
    recording left (only those). Returns the summary as written."""
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in OWNED_FILES:  # stale files of an older recording, never anything else
            _inside(out, name).unlink(missing_ok=True)
    files = []
    for tf, frame in candles.items():
        if frame.empty:
            continue  # a snapshot file must hold candles; the failures say why there are none
        target = _inside(out, SNAPSHOT_FILES[tf])
        _write_atomic(target, lambda p, f=frame: f.to_parquet(p, index=False))
        files.append(target.name)
    _write_atomic(_inside(out, "markets.parquet"), lambda p: markets.to_parquet(p, index=False))
    files.append("markets.parquet")
    summary = {**summary, "files": files}
    text = json.dumps(summary, indent=2, default=str)
    _write_atomic(_inside(out, "SOURCE.json"), lambda p: p.write_text(text, encoding="utf-8"))
    return summary
