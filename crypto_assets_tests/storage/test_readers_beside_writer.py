"""Readers beside a writer: readers open only the published copy, so they never fail on the
writer's lock, never make a run fail, and never see a half-written day.

The central test runs a REAL pipeline (the market assets on real Binance candles through
``build_definitions``) while two reader processes read the published copy in a loop and a third
process publishes at random moments of the run (the worst case for a daemon's sensor).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from crypto_assets.definitions import build_definitions
from crypto_assets.defs.storage import publish_read_copy
from crypto_assets.runner import run_job
from crypto_assets.settings import PROJECT_ROOT, load_settings
from crypto_assets.storage.connection import DatabaseBusy, connect
from crypto_assets.storage.publish import (
    NothingPublished,
    open_published,
    publication_info,
    publish,
    published_path,
    read_published,
)
from crypto_assets.storage.tables import replace_partition
from crypto_assets_tests.fixtures import cut_snapshot
from crypto_assets_tests.storage.helpers import DAYS, day_filter, same_rows
from crypto_assets_tests.storage.reader_process import counts

HOLD_LOCK = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def _side(mode: str, database: Path, out: Path, stop: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "crypto_assets_tests.storage.reader_process", mode),
            *(str(database), str(out), str(stop)),
        ],
        cwd=PROJECT_ROOT,
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_a_writer_waits_a_bounded_time_and_names_who_holds_the_lock(stored_days: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(stored_days), "1.5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(DatabaseBusy) as busy:
        connect(stored_days, wait_s=0.3)
    assert f"(PID {holder.pid})" in str(busy.value) and "stayed locked for 0.3 s" in str(busy.value)
    started = time.monotonic()
    with connect(stored_days, wait_s=30) as conn:  # the holder lets go after 1.5 s: we get in
        assert conn.execute("select count(*) from crypto.ohlcv_hourly").fetchone()[0] > 0
    assert time.monotonic() - started < 10
    holder.wait(timeout=10)


def test_nothing_published_yet_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(NothingPublished, match=r"no published results at .* yet: they appear"):
        read_published(tmp_path / "crypto_assets.duckdb", "top_coins")
    assert published_path(tmp_path / "x.duckdb") == tmp_path / "x.published.duckdb"


def test_a_reader_keeps_its_copy_while_a_newer_one_is_published(
    stored_days: Path, day_candles: dict
) -> None:
    first = publish(stored_days, run_id="run-1")
    assert first.tables["crypto.ohlcv_hourly"] == sum(len(f) for f in day_candles.values())
    reader = open_published(stored_days)
    where, params = day_filter(DAYS[0])
    replace_partition(stored_days, "ohlcv_hourly", day_candles[DAYS[0]].head(3), where, params)
    publish(stored_days, run_id="run-2")
    old = reader.execute(f"select * from crypto.ohlcv_hourly where {where}", params).df()
    assert same_rows(old, day_candles[DAYS[0]])  # the open copy did not change under it
    reader.close()
    assert len(read_published(stored_days, "ohlcv_hourly", where, params)) == 3
    info = publication_info(stored_days)
    assert info.run_id == "run-2" and info.published_at >= first.published_at
    assert read_published(stored_days, "no_such_table").empty
    leftovers = [p.name for p in stored_days.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no temporary copy left behind


def _market_defs(project_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    snapshot = cut_snapshot(
        tmp_path / "snap", ["BTC/USDT", "ETH/USDT", "SOL/USDT"], "2024-05-01", "2024-06-06"
    )
    monkeypatch.setenv("CRYPTO_ASSETS_SOURCE", "snapshot")
    monkeypatch.setenv("CRYPTO_ASSETS_SNAPSHOT_DIR", str(snapshot))
    settings = load_settings()
    return build_definitions(settings), settings.resolved_duckdb_path


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_readers_in_a_loop_during_a_real_run(
    project_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    defs, database = _market_defs(project_env, monkeypatch, tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    days = ["2024-06-01", "2024-06-02"]
    run_job(defs, "market_job", instance, profile="live", partition_key=days[0])
    publish(database)
    stop = tmp_path / "stop"
    sides = {
        name: _side(mode, database, tmp_path / f"{name}.jsonl", stop)
        for name, mode in (("r1", "reader"), ("r2", "reader"), ("pub", "publisher"))
    }
    try:
        time.sleep(0.5)  # let the side processes start reading and publishing
        # a new day, then the stored days again (a replace: what a non-atomic write would tear)
        runs = [
            run_job(defs, "market_job", instance, profile="live", partition_key=day)
            for day in (days[1], days[0], days[1])
        ]
        time.sleep(0.3)
    finally:
        stop.touch()
        for process in sides.values():
            process.wait(timeout=60)
    assert all(run.success for run in runs)  # zero run failures (failures raise, too)
    publish(database)  # as the CLI does at the end of a run
    final = counts(str(database))["counts"]
    assert {key.split("|")[1] for key in final} >= set(days)
    publications = _records(tmp_path / "pub.jsonl")
    assert not [r for r in publications if "error" in r]
    for reader in ("r1", "r2"):
        records = _records(tmp_path / f"{reader}.jsonl")
        assert not [r["error"] for r in records if "error" in r]  # zero reader failures
        assert len(records) >= 10 and len({r["published_at"] for r in records}) >= 3, records
        seen: dict[str, int] = {}
        for record in sorted(records, key=lambda r: r["published_at"]):
            for key, rows in record["counts"].items():
                assert rows == final[key], f"{reader} saw {key} half-written: {rows}"
            assert set(seen) <= set(record["counts"]), "a published day disappeared"
            seen.update(record["counts"])


def test_the_sensor_publishes_after_a_real_run(
    project_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    defs, database = _market_defs(project_env, monkeypatch, tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    result = run_job(defs, "market_job", instance, profile="live", partition_key="2024-06-02")

    def context(duckdb: DuckDBResource) -> dg.RunStatusSensorContext:
        return dg.build_run_status_sensor_context(
            sensor_name="publish_read_copy",
            dagster_event=result.get_run_success_event(),
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
            resources={"duckdb": duckdb},
        )

    skipped = publish_read_copy(context(DuckDBResource(database=str(tmp_path / "none.duckdb"))))
    assert isinstance(skipped, dg.SkipReason) and "nothing to publish yet" in str(skipped)
    assert publish_read_copy(context(defs.resources["duckdb"])) is None
    info = publication_info(database)
    assert info.run_id == result.run_id
    with duckdb.connect(str(database), read_only=True) as conn:
        stored_rows = conn.execute("select count(*) from crypto.ohlcv_hourly").fetchone()[0]
    assert info.tables["crypto.ohlcv_hourly"] == stored_rows == 3 * 24
