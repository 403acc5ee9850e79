"""benchmarks/freqtrade_history.py: freqtrade's candle files become a snapshot, or a clear stop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from crypto_assets.market.snapshot import read_snapshot

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "freqtrade_history.py"
DAY = 86_400_000


def _write(folder: Path, name: str, rows: list[list[float]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(rows))


def _run(*args: object) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def test_folders_merge_into_a_snapshot_without_the_unfinished_day(tmp_path: Path) -> None:
    t0 = 1_600_000_000_000 // DAY * DAY
    day = [[t0 + i * DAY, 10 + i, 11 + i, 9 + i, 10.5 + i, 100.0 + i] for i in range(4)]
    _write(tmp_path / "a", "BTC_USDT-1d.json", day[:3])
    _write(tmp_path / "b", "BTC_USDT-1d.json", day)  # agrees on the two days both keep
    _write(tmp_path / "b", "ETH_USDT-1d.json", day[:2])
    _write(tmp_path / "b", "ETH_BTC-1d.json", day)  # another quote: not read
    out = tmp_path / "snap"
    done = _run("--out", out, tmp_path / "a", tmp_path / "b")
    assert done.returncode == 0, done.stderr
    candles = read_snapshot(out)["1d"]
    assert sorted(candles["symbol"].unique()) == ["BTC/USDT", "ETH/USDT"]
    btc = candles[candles["symbol"] == "BTC/USDT"]
    assert len(btc) == 3  # b's last (possibly unfinished) day dropped
    assert btc["date"].max() == pd.Timestamp(t0 + 2 * DAY, unit="ms", tz="UTC")
    assert len(candles[candles["symbol"] == "ETH/USDT"]) == 1
    assert "2 candles held by more than one source, identical" in (out / "SOURCE.md").read_text()


def test_sources_that_disagree_stop_and_write_nothing(tmp_path: Path) -> None:
    t0 = 1_600_000_000_000 // DAY * DAY
    day = [[t0 + i * DAY, 10.0, 11.0, 9.0, 10.5, 100.0] for i in range(3)]
    _write(tmp_path / "a", "BTC_USDT-1d.json", day)
    other = [row[:] for row in day]
    other[0][4] = 10.6
    _write(tmp_path / "b", "BTC_USDT-1d.json", other)
    done = _run("--out", tmp_path / "snap", tmp_path / "a", tmp_path / "b")
    assert done.returncode != 0 and "disagree on 1 candle(s)" in done.stderr
    assert not (tmp_path / "snap").exists()
