"""The Postgres deployment for real: a PostgreSQL server started on 127.0.0.1 by the test and
stopped after it (Debian's ``postgresql`` package; .ci/run installs it), a Dagster instance
loaded from deploy/dagster.postgres.yaml, the daily pipeline's real jobs (market, features,
models with a tiny config, predictions) run on it over a cut of a real snapshot, and the runs,
their events and check executions read back from Postgres; the failed-check alert sensor works
on that storage too. (The runs execute in this process, as ``crypto-assets run`` does; the
queued coordinator of the yaml schedules runs launched from the UI or the daemon.) Skipped only
when the PostgreSQL binaries are absent."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from pydantic import SecretStr

from crypto_assets.definitions import build_definitions
from crypto_assets.defs.ops.alerting import asset_check_alerts
from crypto_assets.runner import run_pipeline
from crypto_assets.settings import PROJECT_ROOT
from crypto_assets_tests.fixtures import cut_snapshot, isolated_settings
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


def _cut_with_a_corrupt_candle(folder: Path) -> Path:
    """Three coins, two months of real candles; one hourly candle made impossible (high below
    low), so a schema check fails and the alert sensor has something to say."""
    snapshot = cut_snapshot(
        folder, ["BTC/USDT", "ETH/USDT", "SOL/USDT"], "2024-04-01", "2024-06-01"
    )
    hourly = pd.read_parquet(snapshot / "ohlcv_1h.parquet")
    row = hourly.index[hourly["symbol"] == "ETH/USDT"][-30]
    hourly.loc[row, "high"] = hourly.loc[row, "low"] / 2
    hourly.to_parquet(snapshot / "ohlcv_1h.parquet")
    return snapshot


def test_daily_job_on_a_postgres_instance(
    postgres: dict[str, str],
    webhook: RecordingHttpServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for key, value in postgres.items():  # the yaml names the connection by variable
        monkeypatch.setenv(key, value)
    settings = isolated_settings(
        tmp_path,
        profile="demo",
        source="snapshot",
        snapshot_dir=_cut_with_a_corrupt_candle(tmp_path / "snap"),
        model_n_estimators=20,  # the real trainer, few trees
        model_max_ece=1.0,  # a month of 3 coins shows no skill either: models fail their checks
        alert_webhook_url=SecretStr(webhook.apprise_url),
    )
    home = settings.dagster_home
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    defs = build_definitions(settings)  # the alert sensors and their resource come with it
    messages: list[str] = []

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_monitoring_enabled

        def tick(cursor: str | None) -> tuple[dg.SkipReason, str | None]:
            context = dg.build_sensor_context(
                instance=instance,
                cursor=cursor,
                definitions=defs,
                resources={"alerts": defs.resources["alerts"]},
            )
            return asset_check_alerts(context), context.cursor

        _, cursor = tick(None)
        steps = run_pipeline(
            settings,
            pd.Timestamp("2024-05-01", tz="UTC"),
            pd.Timestamp("2024-05-31", tz="UTC"),
            progress=messages.append,
            instance=instance,
            skip_jobs=("sentiment_job",),
        )
        skip, _ = tick(cursor)

    jobs = [step.job for step, _ in steps]
    assert jobs[0] == "market_job" and jobs[-1] == "risk_job"  # the whole graph, in order
    assert jobs.index("features_job") < jobs.index("retrain_job") < jobs.index("predictions_job")
    assert jobs.count("retrain_job") == 4  # one run per horizon
    runs = _query(postgres, "select pipeline_name, status from runs order by create_timestamp")
    assert [r[0] for r in runs] == jobs and {r[1] for r in runs} == {"SUCCESS"}
    materialized = dict(
        _query(
            postgres,
            "select asset_key, count(*) from event_logs "
            "where dagster_event_type = 'ASSET_MATERIALIZATION' group by 1",
        )
    )
    for asset in ("clean_ohlcv", "technical_features", "models", "predictions", "top_coins"):
        assert materialized.get(f'["{asset}"]', 0) >= 1, asset
    assert materialized['["clean_ohlcv"]'] == 31  # one per day of the range, in one run
    failed = _query(
        postgres,
        "select asset_key, check_name from asset_check_executions "
        "where execution_status = 'FAILED'",
    )
    assert ('["ohlcv_hourly"]', "ohlcv_schema") in failed
    # one alert per failed check; repeats of one (a check of each horizon's model) held back
    titles = [request["body"]["title"] for request in webhook.requests]
    assert "ERROR: check ohlcv_schema failed on ohlcv_hourly: 1 raw candle(s) break" in "".join(
        titles
    )
    assert len(titles) == len(set(titles))
    found = int(skip.skip_message.split(" ")[0])
    assert skip.skip_message.startswith(f"{found} alert(s): {len(titles)} sent, ")
