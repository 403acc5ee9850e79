"""Replacing a partition is one transaction: a failure at any point keeps the stored rows.

Real DuckDB files and real Binance candles; faults injected at the storage layer (between the
delete and the insert), by the kernel (file-size limit), and by SIGKILL of a writer process.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from crypto_assets.storage import tables
from crypto_assets.storage.tables import StorageWriteError, replace_partition, table_columns
from crypto_assets_tests.storage.helpers import (
    DAYS,
    day_filter,
    run_writer,
    same_rows,
    start_writer,
    stored,
)
from crypto_assets_tests.storage.writer_process import rows_for


def test_replace_swaps_exactly_one_day(stored_days: Path, day_candles: dict) -> None:
    revised = day_candles[DAYS[1]].head(100).assign(close=lambda f: f["close"] * 2)
    where, params = day_filter(DAYS[1])
    result = replace_partition(stored_days, "ohlcv_hourly", revised, where, params)
    assert result.deleted == len(day_candles[DAYS[1]]) and result.inserted == 100
    assert same_rows(stored(stored_days, DAYS[1]), revised)
    for other in (DAYS[0], DAYS[2]):
        assert same_rows(stored(stored_days, other), day_candles[other])


def test_crash_between_delete_and_insert_keeps_the_old_rows(
    stored_days: Path, day_candles: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real_delete = tables.delete_rows

    def delete_then_note(*args: object) -> int:
        seen.append(real_delete(*args))
        return seen[-1]

    def no_space(*args: object) -> int:
        raise duckdb.IOException('IO Error: Could not write file "store.duckdb": No space left')

    monkeypatch.setattr(tables, "delete_rows", delete_then_note)
    monkeypatch.setattr(tables, "insert_rows", no_space)
    where, params = day_filter(DAYS[0])
    with pytest.raises(StorageWriteError) as raised:
        replace_partition(stored_days, "ohlcv_hourly", day_candles[DAYS[0]].head(5), where, params)
    assert seen == [len(day_candles[DAYS[0]])]  # the delete did run inside the transaction
    message = str(raised.value)
    assert "rolled back, the stored rows are unchanged" in message
    assert "No space left" in message and "\n" not in message
    assert same_rows(stored(stored_days, DAYS[0]), day_candles[DAYS[0]])


def test_write_that_hits_the_file_size_limit_keeps_the_old_rows(
    stored_days: Path, day_candles: dict
) -> None:
    done = run_writer("disk-full", str(stored_days), DAYS[2])
    assert done.returncode == 3, done.stderr
    assert "File too large" in done.stdout
    assert "rolled back, the stored rows are unchanged" in done.stdout
    assert same_rows(stored(stored_days, DAYS[2]), day_candles[DAYS[2]])


def test_writer_killed_between_delete_and_insert(stored_days: Path, day_candles: dict) -> None:
    done = run_writer("kill-between", str(stored_days), DAYS[1])
    assert done.returncode == -signal.SIGKILL
    assert same_rows(stored(stored_days, DAYS[1]), day_candles[DAYS[1]])


def test_writer_killed_at_random_moments_leaves_a_whole_generation(
    stored_days: Path, day_candles: dict
) -> None:
    original = day_candles[DAYS[1]]
    rng = random.Random(9)
    for _ in range(3):
        writer = start_writer("loop", str(stored_days), DAYS[1])
        assert writer.stdout is not None
        for _ in range(rng.randint(3, 12)):  # let some generations commit first
            assert writer.stdout.readline().startswith("gen"), writer.stderr
        time.sleep(rng.uniform(0, 0.02))
        writer.send_signal(signal.SIGKILL)
        writer.communicate()
        day = stored(stored_days, DAYS[1])  # the database opens and replays its log
        merged = day.merge(original, on=["symbol", "date"], suffixes=("", "_orig"))
        generations = np.unique(np.round(merged["volume"] - merged["volume_orig"]))
        assert len(merged) == len(day) and len(generations) == 1
        assert len(day) == rows_for(len(original), int(generations[0]))
        for other in (DAYS[0], DAYS[2]):
            assert same_rows(stored(stored_days, other), day_candles[other])


def test_empty_frame_clears_its_slice_only(stored_days: Path, day_candles: dict) -> None:
    where, params = day_filter(DAYS[0])
    result = replace_partition(
        stored_days, "ohlcv_hourly", day_candles[DAYS[0]].head(0), where, params
    )
    assert result.deleted == len(day_candles[DAYS[0]]) and result.inserted == 0
    assert stored(stored_days, DAYS[0]).empty
    assert same_rows(stored(stored_days, DAYS[1]), day_candles[DAYS[1]])


def test_first_write_pins_column_types(tmp_path: Path, day_candles: dict) -> None:
    database = tmp_path / "typed.duckdb"
    frame = (
        day_candles[DAYS[0]]
        .head(3)
        .assign(
            note=[None, None, None],  # object column with no value yet: text, never NULL-typed
            regime=pd.Categorical(["bull", "bull", "bear"]),  # never an ENUM of today's values
        )
    )
    where, params = day_filter(DAYS[0])
    replace_partition(database, "features", frame, where, params)
    with duckdb.connect(str(database)) as conn:
        types = table_columns(conn, "crypto", "features")
    assert types["note"] == "VARCHAR" and types["regime"] == "VARCHAR"
    assert types["date"] == "TIMESTAMP WITH TIME ZONE" and types["close"] == "DOUBLE"
    later = day_candles[DAYS[1]].head(2).assign(note=["halving", None], regime=["chop", "bull"])
    where, params = day_filter(DAYS[1])
    replace_partition(database, "features", later, where, params)  # a new category, text: fine
    assert sorted(stored(database, DAYS[1], "features")["regime"]) == ["bull", "chop"]


def test_empty_untyped_result_creates_nothing_and_typed_one_creates_the_table(
    tmp_path: Path, day_candles: dict
) -> None:
    database = tmp_path / "empty.duckdb"
    where, params = day_filter(DAYS[0])
    untyped = pd.DataFrame(columns=["symbol", "date", "close"])  # object columns: unknown types
    assert not replace_partition(database, "top_coins", untyped, where, params).created
    typed = day_candles[DAYS[0]].head(0).astype({"symbol": "string"})
    assert replace_partition(database, "top_coins", typed, where, params).created
    with duckdb.connect(str(database)) as conn:
        types = table_columns(conn, "crypto", "top_coins")
    assert types["symbol"] == "VARCHAR" and types["date"] == "TIMESTAMP WITH TIME ZONE"


def test_columns_by_name_and_new_columns_added(stored_days: Path, day_candles: dict) -> None:
    frame = day_candles[DAYS[2]].head(4)
    reordered = frame[list(reversed(frame.columns))].assign(trades=[1.0, 2.0, 3.0, 4.0])
    where, params = day_filter(DAYS[2])
    replace_partition(stored_days, "ohlcv_hourly", reordered, where, params)
    day = stored(stored_days, DAYS[2])
    assert same_rows(day.drop(columns="trades"), frame)
    assert list(day["trades"]) == [1.0, 2.0, 3.0, 4.0]
    assert stored(stored_days, DAYS[0])["trades"].isna().all()  # older rows: no value, kept


def test_type_clash_is_rolled_back_and_named(stored_days: Path, day_candles: dict) -> None:
    bad = day_candles[DAYS[0]].head(3).astype({"close": "object"})
    bad.loc[1, "close"] = "n/a"
    where, params = day_filter(DAYS[0])
    with pytest.raises(StorageWriteError, match=r"crypto\.ohlcv_hourly where .*rolled back"):
        replace_partition(stored_days, "ohlcv_hourly", bad, where, params)
    assert same_rows(stored(stored_days, DAYS[0]), day_candles[DAYS[0]])


def test_whole_table_replace_follows_the_frame(tmp_path: Path, day_candles: dict) -> None:
    database = tmp_path / "whole.duckdb"
    replace_partition(database, "universe", day_candles[DAYS[0]].head(5))
    smaller = day_candles[DAYS[1]][["symbol", "close"]].head(2)
    result = replace_partition(database, "universe", smaller)
    assert (result.deleted, result.inserted, result.created) == (5, 2, False)
    with duckdb.connect(str(database)) as conn:
        assert list(table_columns(conn, "crypto", "universe")) == ["symbol", "close"]
