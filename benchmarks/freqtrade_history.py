"""A snapshot folder from freqtrade's recorded daily candles: years of real history, offline.

freqtrade's ``download-data`` stores an exchange's candles as ``<BASE>_<QUOTE>-1d.json`` (rows of
``[open time in ms, open, high, low, close, volume]``), and many public repositories commit
those files. This turns one or more such folders into a snapshot folder the product reads
(``ohlcv_1d.parquet``: symbol, date, open, high, low, close, volume) plus a ``SOURCE.md`` naming
where every candle came from. Where two folders hold the same candle they must agree exactly
(else it stops and says where); each file's last candle is dropped, as it may be the unfinished
day of the download. The output is for measurements only: it is written outside the repository
and never copied into it (such files carry no licence).

    git clone https://github.com/djienne/3EMA_SRSI_ATR /tmp/a
    git clone https://github.com/danielarroyave28/principia-bot /tmp/b
    .venv/bin/python benchmarks/freqtrade_history.py --out /tmp/hist/binance_2017_2023 \\
        /tmp/a/user_data/data/binance /tmp/b/user_data/data/binance
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd

NAME = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)-1d\.json$")
COLUMNS = ["symbol", "date", "open", "high", "low", "close", "volume"]


def read_folder(folder: Path, quote: str) -> pd.DataFrame:
    """Every ``<BASE>_<quote>-1d.json`` of a folder, its last candle dropped."""
    frames = []
    for path in sorted(folder.glob(f"*_{quote}-1d.json")):
        match = NAME.match(path.name)
        if not match:
            continue
        rows = json.loads(path.read_text())
        if len(rows) < 2:
            continue
        frame = pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close", "volume"])
        frame = frame.iloc[:-1]
        frame["symbol"] = f"{match['base']}/{match['quote']}"
        frame["date"] = pd.to_datetime(frame["ts"], unit="ms", utc=True)
        frame["source"] = str(folder)
        frames.append(frame.drop(columns="ts"))
    if not frames:
        raise SystemExit(f"{folder}: no *_{quote}-1d.json files")
    return pd.concat(frames, ignore_index=True)


def merge(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    """One candle per (symbol, date), and how many were held by more than one source; stops
    if two sources disagree on one."""
    both = pd.concat(frames, ignore_index=True)
    values = ["open", "high", "low", "close", "volume"]
    candle = both.groupby(["symbol", "date"])
    spread = candle[values].agg(lambda s: s.max() - s.min())
    bad = spread[(spread > 0).any(axis=1)]
    if len(bad):
        raise SystemExit(f"sources disagree on {len(bad)} candle(s), e.g.\n{bad.head()}")
    shared = int((candle.size() > 1).sum())
    return both.drop_duplicates(["symbol", "date"]).sort_values(["symbol", "date"]), shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quote", default="USDT")
    args = parser.parse_args()
    frames = [read_folder(folder, args.quote) for folder in args.folders]
    candles, shared = merge(frames)
    args.out.mkdir(parents=True, exist_ok=True)
    candles[COLUMNS].to_parquet(args.out / "ohlcv_1d.parquet", index=False)
    lines = ["Daily candles recorded by freqtrade's download-data, from:", ""]
    for source, part in candles.groupby("source"):
        lines.append(
            f"- {source}: {part['symbol'].nunique()} pairs, {len(part):,} candles kept, "
            f"{part['date'].min():%Y-%m-%d}..{part['date'].max():%Y-%m-%d}"
        )
    lines += ["", f"{shared:,} candles held by more than one source, identical in all of them."]
    (args.out / "SOURCE.md").write_text("\n".join(lines) + "\n")
    print(
        f"{args.out}: {candles['symbol'].nunique()} pairs, {len(candles):,} candles, "
        f"{candles['date'].min():%Y-%m-%d}..{candles['date'].max():%Y-%m-%d}"
    )


if __name__ == "__main__":
    main()
