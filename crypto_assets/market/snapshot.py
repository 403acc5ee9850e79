"""Snapshot directories: real recorded candles in one documented layout, read in place.

Layout (see ../shared/data/README.md): ``ohlcv_1h.parquet`` and/or ``ohlcv_1d.parquet`` with
columns symbol, date (open time, UTC), open, high, low, close, volume; extra columns ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from crypto_assets.frames import utc
from crypto_assets.horizons import TIMEFRAMES
from crypto_assets.market.schemas import to_canonical

SNAPSHOT_FILES = {"1h": "ohlcv_1h.parquet", "1d": "ohlcv_1d.parquet"}


class SnapshotError(ValueError):
    """A snapshot directory that cannot be used, with a message a user can act on."""


def resolve_snapshot_dir(snapshot_dir: Path | str) -> Path:
    """The directory, resolved, after checking it exists and holds at least one candle file."""
    path = Path(snapshot_dir).expanduser().resolve()
    if not path.is_dir():
        raise SnapshotError(f"snapshot directory {path} does not exist or is not a directory")
    if not any((path / name).is_file() for name in SNAPSHOT_FILES.values()):
        raise SnapshotError(
            f"snapshot directory {path} has neither {' nor '.join(SNAPSHOT_FILES.values())}"
        )
    return path


def snapshot_source_name(snapshot_dir: Path | str) -> str:
    """Where a snapshot's candles came from: the exchange its ``SOURCE.json`` names (as
    ``snapshot record`` / ``snapshot bootstrap`` write it), else the folder's name."""
    path = Path(snapshot_dir)
    try:
        described = json.loads((path / "SOURCE.json").read_text(encoding="utf-8"))
        name = described.get("exchange") or described.get("source")
    except (OSError, ValueError, AttributeError):
        name = None
    return str(name or path.name)


def read_snapshot(snapshot_dir: Path | str) -> dict[str, pd.DataFrame]:
    """Canonical candle frames by timeframe ("1h", "1d") for the files the snapshot has."""
    path = resolve_snapshot_dir(snapshot_dir)
    frames: dict[str, pd.DataFrame] = {}
    for timeframe, name in SNAPSHOT_FILES.items():
        file = path / name
        if not file.is_file():
            continue
        try:
            raw = pd.read_parquet(file)
        except Exception as exc:  # pyarrow raises several types for a broken file
            raise SnapshotError(f"{file} is not a readable parquet file: {exc}") from exc
        try:
            frames[timeframe] = to_canonical(raw)
        except ValueError as exc:
            raise SnapshotError(f"{file}: {exc}") from exc
    return frames


def snapshot_days(
    frames: dict[str, pd.DataFrame], history_start: pd.Timestamp | str | None = None
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last UTC day worth materializing: the last day is one that at least 95 % of
    the snapshot's coins cover completely (files recorded at different hours end unevenly);
    the first is the snapshot's first day, or ``history_start`` if that is later."""
    timeframe = "1h" if "1h" in frames else "1d"
    frame = frames[timeframe]
    last_open = frame.groupby("symbol")["date"].max()
    complete_through = (last_open + TIMEFRAMES[timeframe]).dt.floor("D") - pd.Timedelta(days=1)
    last = complete_through.quantile(0.05, interpolation="lower")
    first = frame["date"].min().floor("D")
    if history_start is not None:
        first = max(first, utc(history_start))
    return pd.Timestamp(first), pd.Timestamp(last)


def snapshot_day_range(
    snapshot_dir: Path | str, history_start: pd.Timestamp | str | None = None
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``snapshot_days`` reading only the symbol and time columns (fast enough to size the
    partitions of a code location at load time)."""
    path = resolve_snapshot_dir(snapshot_dir)
    timeframe = "1h" if (path / SNAPSHOT_FILES["1h"]).is_file() else "1d"
    try:
        frame = pd.read_parquet(path / SNAPSHOT_FILES[timeframe], columns=["symbol", "date"])
    except Exception as exc:  # pyarrow raises several types for a broken file or column
        raise SnapshotError(f"{path / SNAPSHOT_FILES[timeframe]}: {exc}") from exc
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    return snapshot_days({timeframe: frame}, history_start)
