"""The verdict store (its own SQLite file, durable, validated on write) and the
``user_verdicts`` asset and sensor that carry it into ``crypto.user_verdicts`` (the columns the
feedback loop's ``crypto_assets.feedback.verdicts`` validates where it reads them)."""

from __future__ import annotations

import sqlite3

import dagster as dg
import duckdb
import pandas as pd
import pytest

from crypto_assets.dashboard.verdicts import (
    MAX_NOTE_CHARS,
    VERDICT_COLUMNS,
    VerdictError,
    VerdictStore,
    make_verdict,
)
from crypto_assets.defs import verdicts as verdicts_domain
from crypto_assets.resources.io_manager import AtomicDuckDBPandasIOManager
from crypto_assets.resources.verdict_store import VerdictStoreResource
from crypto_assets_tests.fixtures import isolated_settings

GOOD = {"day": "2024-07-19", "symbol": "ETH/USDT", "horizon": "30d", "model_version": "1"}
NOW = pd.Timestamp("2026-11-24 10:00", tz="UTC")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("day", "2024-13-40", "not a calendar date"),
        ("day", "19.07.2024", "YYYY-MM-DD"),
        ("symbol", "eth/usdt", "market symbol"),
        ("symbol", "ETH/USDT'; drop table verdicts;--", "market symbol"),
        ("horizon", "2d", "horizon must be one of 1h, 24h, 7d, 30d"),
        ("model_version", "", "model_version"),
        ("verdict", "maybe", "'good' or 'bad'"),
        ("note", "x" * (MAX_NOTE_CHARS + 1), "at most 1000"),
        ("author", "a" * 81, "at most 80"),
        ("note", "line\x00break", "control characters"),
    ],
)
def test_bad_verdicts_are_refused(field: str, value: str, message: str) -> None:
    fields = {**GOOD, "verdict": "good", field: value}
    with pytest.raises(VerdictError, match=message):
        make_verdict(**fields)


def test_store_is_durable_and_append_only(tmp_path) -> None:
    path = tmp_path / "data" / "feedback.sqlite3"
    first = VerdictStore(path)
    first.add(make_verdict(**GOOD, verdict="good", note="clean breakout", now=NOW))
    first.add(make_verdict(**GOOD, verdict=" BAD ", author="ana", now=NOW))
    again = VerdictStore(path)  # a new reader (a restarted dashboard) sees both
    frame = again.read()
    assert list(frame.columns) == VERDICT_COLUMNS and again.count() == 2
    assert frame["verdict"].tolist() == ["good", "bad"]
    assert frame["author"].tolist() == ["anonymous", "ana"]
    assert frame.loc[0, "day"] == pd.Timestamp("2024-07-19", tz="UTC")
    assert frame.loc[0, "created_at"] == NOW
    with sqlite3.connect(path) as conn:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
        with pytest.raises(sqlite3.IntegrityError):  # the file itself refuses a third value
            conn.execute("update verdicts set verdict = 'meh'")
    assert again.for_symbol("BTC/USDT").empty
    assert VerdictStore(tmp_path / "none.sqlite3").read().empty  # no file: nothing, no crash


def _defs(tmp_path):
    settings = isolated_settings(tmp_path)
    db = str(tmp_path / "pipeline.duckdb")
    domain = verdicts_domain.build_defs(None)
    resources = {
        "verdict_store": VerdictStoreResource.from_settings(settings),
        "io_manager": AtomicDuckDBPandasIOManager(database=db, schema="crypto"),
    }
    return settings, db, dg.Definitions.merge(domain, dg.Definitions(resources=resources))


def test_user_verdicts_asset_copies_the_store(tmp_path) -> None:
    settings, db, defs = _defs(tmp_path)
    store = VerdictStore(settings.resolved_feedback_path)
    store.add(make_verdict(**GOOD, verdict="good", note="clean breakout", now=NOW))
    store.add(make_verdict(**{**GOOD, "symbol": "BTC/USDT"}, verdict="bad", now=NOW))
    result = defs.resolve_job_def("verdicts_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    with duckdb.connect(db, read_only=True) as conn:
        table = conn.execute("select * from crypto.user_verdicts order by symbol").df()
    assert list(table.columns) == VERDICT_COLUMNS  # the feedback loop's columns
    assert table["symbol"].tolist() == ["BTC/USDT", "ETH/USDT"]
    assert table["verdict"].tolist() == ["bad", "good"]
    assert table.loc[1, "note"] == "clean breakout"
    (materialization,) = result.asset_materializations_for_node("user_verdicts")
    assert materialization.metadata["good"].value == 1
    assert materialization.metadata["bad"].value == 1


def test_empty_store_makes_an_empty_typed_table(tmp_path) -> None:
    _, db, defs = _defs(tmp_path)
    result = defs.resolve_job_def("verdicts_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    with duckdb.connect(db, read_only=True) as conn:
        described = {
            row[0]: row[1] for row in conn.execute("describe crypto.user_verdicts").fetchall()
        }
        rows = conn.execute("select count(*) from crypto.user_verdicts").fetchone()[0]
    assert rows == 0 and list(described) == VERDICT_COLUMNS  # the loop's reader finds its table
    assert described["day"] == described["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert described["verdict"] == "VARCHAR"


def test_sensor_runs_the_job_when_new_verdicts_arrive(tmp_path) -> None:
    settings, _, defs = _defs(tmp_path)
    (sensor,) = defs.sensors
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    resource = VerdictStoreResource.from_settings(settings)
    context = dg.build_sensor_context(resources={"verdict_store": resource})
    assert isinstance(sensor(context), dg.SkipReason)  # no file yet, nothing stored
    VerdictStore(settings.resolved_feedback_path).add(make_verdict(**GOOD, verdict="good"))
    result = sensor(dg.build_sensor_context(resources={"verdict_store": resource}))
    assert [r.run_key for r in result.run_requests] == ["verdicts-1"] and result.cursor == "1"
    again = dg.build_sensor_context(cursor="1", resources={"verdict_store": resource})
    assert isinstance(sensor(again), dg.SkipReason)
