"""`crypto-assets doctor`: real probes (TA-Lib, torch, DuckDB, MLflow store, Dagster instance,
the Kraken replay server on 127.0.0.1 as the exchange) and a clear verdict with exit code, on a
fresh clone's state (nothing created yet) as well as on a broken one."""

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import ccxt
import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from crypto_assets.cli import app
from crypto_assets.health import dagster_check, health_report
from crypto_assets.ops.doctor import Report, check_duckdb, check_mlflow
from crypto_assets.settings import Settings
from crypto_assets_tests.fixtures import isolated_settings
from crypto_assets_tests.ops.servers import free_port


def _exchange(url: str) -> ccxt.Exchange:
    exchange = ccxt.kraken({"timeout": 3000})
    exchange.urls["api"] = {"public": url, "private": url}
    return exchange


def _by_name(report: Report) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.detail) for c in report.checks}


def test_fresh_install_is_ready(tmp_path: Path, kraken_replay: str) -> None:
    """A fresh clone: no data folder, no MLflow store, no Dagster instance yet."""
    settings = isolated_settings(tmp_path)
    (tmp_path / "dagster_home").rmdir()
    report = health_report(settings, exchange=_exchange(kraken_replay))
    checks = _by_name(report)
    assert checks["imports"][0] == "ok", checks["imports"]
    assert checks["ta-lib"][0] == "ok" and checks["torch"][0] == "ok"
    assert checks["source"][0] == "ok" and "kraken answers" in checks["source"][1]
    assert checks["duckdb"] == (
        "info",
        f"{tmp_path / 'data'} writable; no database yet (created by a run)",
    )
    assert checks["mlflow"][0] == "info" and "created by the first run" in checks["mlflow"][1]
    assert checks["dagster"][0] == "info"
    assert checks["alerts"][0] == "info", checks["alerts"]
    assert checks["disk"][0] == "ok", checks["disk"]
    assert checks["key:cryptopanic_api_key"][0] == "info"  # an optional key: its source is off
    assert not list((tmp_path / "data").iterdir())  # the probe cleaned up after itself
    assert (report.verdict, report.exit_code) == ("READY", 0)


def test_unreachable_source_is_a_warning(project_env: Settings) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    report = health_report(project_env, exchange=_exchange(closed))
    status, detail = _by_name(report)["source"]
    assert status == "warn" and detail.startswith("kraken unreachable: NetworkError")
    assert (report.verdict, report.exit_code) == ("READY WITH WARNINGS", 3)


def test_bad_setting_is_not_ready(project_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_CPU_OVERLOAD_PERCENT", "150")
    result = CliRunner().invoke(app, ["doctor", "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["verdict"] == "NOT READY"
    settings = next(c for c in report["checks"] if c["name"] == "settings")
    assert settings["detail"] == (
        "CRYPTO_ASSETS_CPU_OVERLOAD_PERCENT=150: not allowed; expected a percentage in (0, 100]"
    )


def test_database_held_by_a_writer_is_reported(project_env: Settings) -> None:
    settings = project_env
    database = settings.resolved_duckdb_path
    database.parent.mkdir(parents=True)
    with duckdb.connect(str(database)) as conn:
        conn.execute("create schema crypto; create table crypto.t as select 1 x")
    assert check_duckdb(settings).status == "ok"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(database)!r}); "
            "print('held', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        check = check_duckdb(settings)
    finally:
        holder.kill()
        holder.wait()
    assert check.status == "warn" and "locked by a writer" in check.detail


def test_instance_without_daemon_warns(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        dg.materialize([dg.asset(lambda: 1, name="one")], instance=instance)
    check = dagster_check(tmp_path)
    assert check.status == "warn" and "1 runs" in check.detail
    assert "daemon is not running" in check.detail


def test_doctor_table_and_exit_code(project_env: Settings) -> None:
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code in (0, 3), result.output  # offline here: the exchange may not answer
    assert "crypto_assets doctor" in result.output
    assert "verdict: READY" in result.output
    assert time.perf_counter() - started < 60


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: object) -> None:
        return


def test_mlflow_tracking_server_probe(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        up = Settings(mlflow_tracking_uri=f"http://127.0.0.1:{server.server_address[1]}")
        assert check_mlflow(up).status == "ok"
    finally:
        server.shutdown()
        server.server_close()
    down = Settings(mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}")
    check = check_mlflow(down, timeout_s=1)
    assert check.status == "fail" and "unreachable: ConnectionError" in check.detail
    broken = tmp_path / "mlflow.db"
    broken.write_bytes(b"not a database at all, just bytes" * 10)
    assert check_mlflow(Settings(mlflow_tracking_uri=f"sqlite:///{broken}")).status == "fail"
