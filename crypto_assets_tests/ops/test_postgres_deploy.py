"""The Postgres deployment for real: a PostgreSQL server started on 127.0.0.1 (Debian's
``postgresql`` package; .ci/run installs it), a Dagster instance loaded from
deploy/dagster.postgres.yaml, the market assets materialized on a cut of a real snapshot, and
the run, its events and its check executions read back from Postgres; the failed-check alert
sensor works on that storage too. Skipped only when the PostgreSQL binaries are absent."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from crypto_assets.definitions import build_definitions
from crypto_assets.defs.ops.alerting import asset_check_alerts
from crypto_assets.resources.alerts import AlertChannels
from crypto_assets.runner import materialize_range
from crypto_assets.settings import PROJECT_ROOT, get_settings
from crypto_assets_tests.fixtures import cut_snapshot
from crypto_assets_tests.ops.servers import RecordingHttpServer, free_port

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
PASSWORD = "dagster-test-pw"

pytestmark = pytest.mark.skipif(
    PG_BIN is None or not (PG_BIN / "initdb").exists(),
    reason="PostgreSQL server binaries absent (Debian package `postgresql`; .ci/run installs it)",
)


def _as_postgres(args: list[str]) -> list[str]:
    """initdb refuses to run as root: as root, run the server tools as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    folder = Path(tempfile.mkdtemp(prefix="crypto-assets-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, pwfile = folder / "data", folder / "pw"
    pwfile.write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres", "postgres")
    port = str(free_port())
    subprocess.run(
        _as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "dagster",
                "-A",
                "scram-sha-256",
                f"--pwfile={pwfile}",
                "-N",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-w",
                "-l",
                str(folder / "server.log"),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        import psycopg2

        admin = psycopg2.connect(
            host="127.0.0.1", port=port, user="dagster", password=PASSWORD, dbname="postgres"
        )
        admin.autocommit = True  # CREATE DATABASE cannot run in a transaction
        admin.cursor().execute("create database dagster")
        admin.close()
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": port,
            "DAGSTER_PG_USERNAME": "dagster",
            "DAGSTER_PG_PASSWORD": PASSWORD,
            "DAGSTER_PG_DB": "dagster",
        }
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _query(env: dict[str, str], sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg2

    with psycopg2.connect(
        host=env["DAGSTER_PG_HOST"],
        port=env["DAGSTER_PG_PORT"],
        user=env["DAGSTER_PG_USERNAME"],
        password=env["DAGSTER_PG_PASSWORD"],
        dbname=env["DAGSTER_PG_DB"],
    ) as conn:
        cursor = conn.cursor()
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_market_run_on_a_postgres_instance(
    postgres: dict[str, str], project_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key, value in postgres.items():
        monkeypatch.setenv(key, value)
    home = project_env / "dagster_home"
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    snapshot = cut_snapshot(tmp_path / "snap", ["BTC/USDT", "ETH/USDT"], "2024-06-01", "2024-06-06")
    hourly = pd.read_parquet(snapshot / "ohlcv_1h.parquet")
    row = hourly.index[hourly["symbol"] == "ETH/USDT"][30]
    hourly.loc[row, "high"] = hourly.loc[row, "low"] / 2  # one corrupt real candle: a failed check
    hourly.to_parquet(snapshot / "ohlcv_1h.parquet")
    monkeypatch.setenv("CRYPTO_ASSETS_SOURCE", "snapshot")
    monkeypatch.setenv("CRYPTO_ASSETS_SNAPSHOT_DIR", str(snapshot))
    get_settings.cache_clear()
    defs = build_definitions(get_settings())

    with RecordingHttpServer() as webhook, dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_monitoring_enabled
        channels = AlertChannels(webhook_url=webhook.apprise_url, state_path=str(tmp_path / "a.db"))
        sensor_defs = dg.Definitions.merge(
            defs, dg.Definitions(sensors=[asset_check_alerts], resources={"alerts": channels})
        )

        def tick(cursor):
            context = dg.build_sensor_context(
                instance=instance,
                cursor=cursor,
                definitions=sensor_defs,
                resources={"alerts": channels},
            )
            return asset_check_alerts(context), context.cursor

        _, cursor = tick(None)
        result = materialize_range(defs, "group:market", "2024-06-01", "2024-06-04", instance)
        skip, _ = tick(cursor)

    run_rows = _query(postgres, "select status from runs where run_id = %s", (result.run_id,))
    assert run_rows == [("SUCCESS",)]
    events = dict(
        _query(
            postgres,
            "select dagster_event_type, count(*) from event_logs where run_id = %s "
            "and dagster_event_type is not null group by 1",
            (result.run_id,),
        )
    )
    # universe, hourly, daily, clean, data_quality: one materialization per day each
    assert events["ASSET_MATERIALIZATION"] == 5 * 4
    # Dagster stores run events under their legacy (pipeline) names
    assert events["PIPELINE_SUCCESS"] == 1 and events["ASSET_CHECK_EVALUATION"] >= 4
    failed = _query(
        postgres,
        "select asset_key, check_name from asset_check_executions "
        "where run_id = %s and execution_status = 'FAILED'",
        (result.run_id,),
    )
    assert ('["ohlcv_hourly"]', "ohlcv_schema") in failed
    assert skip.skip_message.startswith("1 alert(s): 1 sent")
    assert webhook.requests[0]["body"]["title"].startswith(
        "[crypto_assets] ERROR: check ohlcv_schema failed on ohlcv_hourly"
    )
