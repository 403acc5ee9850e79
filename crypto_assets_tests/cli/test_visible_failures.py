"""Nothing hidden behind exit 0: what went wrong inside a run that completed is one line each in
the summary of ``demo`` (exit 3), and a run that failed says its cause in a line or two and
where the full log is (exit 1), as a user reads it on a real console.

The snapshot is real Binance candles with three planted faults: a corrupt candle (SOL), a
symbol that is not BASE/QUOTE (XRP's renamed "XRP /USDT"), and three hours missing (DOGE).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from typer.testing import CliRunner

from crypto_assets.cli import app
from crypto_assets.definitions import build_definitions
from crypto_assets.runner import PipelineError, run_job
from crypto_assets.settings import PROJECT_ROOT, Settings
from crypto_assets_tests.fixtures import cut_snapshot, isolated_settings

ENTRY = "from crypto_assets.cli import main; main()"
COINS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT"]


def _planted(root: Path) -> Path:
    snapshot = cut_snapshot(root / "snap", COINS, "2024-03-01", "2024-03-05")
    hourly = pd.read_parquet(snapshot / "ohlcv_1h.parquet")
    sol = hourly.index[(hourly["symbol"] == "SOL/USDT")][-5]
    hourly.loc[sol, "close"] = -1.0  # corrupt: price <= 0
    hourly.loc[hourly["symbol"] == "XRP/USDT", "symbol"] = "XRP /USDT"  # malformed symbol
    hole = (hourly["symbol"] == "DOGE/USDT") & hourly["date"].between(
        pd.Timestamp("2024-03-03T05:00Z"), pd.Timestamp("2024-03-03T07:00Z")
    )
    hourly[~hole].to_parquet(snapshot / "ohlcv_1h.parquet")
    daily = pd.read_parquet(snapshot / "ohlcv_1d.parquet")
    daily.loc[daily["symbol"] == "XRP/USDT", "symbol"] = "XRP /USDT"
    daily.to_parquet(snapshot / "ohlcv_1d.parquet")
    return snapshot


def test_what_went_wrong_is_listed_and_the_exit_code_says_so(project_env: Settings) -> None:
    snapshot = _planted(project_env.data_dir.parent)
    result = CliRunner().invoke(app, ["demo", "--snapshot", str(snapshot), "--skip-sentiment"])
    text = " ".join(result.output.split())
    assert result.exit_code == 3, result.output
    assert "Completed with" in text and "warning(s) (exit code 3)" in text
    assert (
        "WARN clean_ohlcv / excluded_coins: 1 coin(s) excluded on 2024-03-04: SOL/USDT 1h "
        "(corrupt: 1 candle(s), e.g. price <= 0; low > min(open, close))"
    ) in text
    schema = text.split("ERROR ohlcv_hourly / ohlcv_schema: ")[1].split(" ! ")[0]
    assert schema.startswith("1 raw candle(s) break the schema: "), schema
    assert "price must be > 0 x1" in schema and "low > min(open, close) x1" in schema
    assert (
        "ERROR predictions / every_coin_every_horizon: no predictions: 1h, 24h, 7d, 30d: no "
        "model in use"
    ) in text
    assert (
        "WARN exchange_markets / well_formed_symbols: 1 listed symbol(s) are not BASE/QUOTE"
        in (text)
        and "'XRP /USDT'" in text
    )
    assert (
        "WARN ohlcv_hourly / history_complete: 1 coin(s) miss 3 1h candle(s) inside their "
        "history that the source does not have either, e.g. DOGE/USDT 2024-03-03 05:00..2024-03-03 "
        "07:00"
    ) in text
    assert "full log:" in text and "crypto_assets/profile=demo" in text
    status = json.loads(CliRunner().invoke(app, ["status", "--json", "--demo"]).stdout)
    rows = {row["asset"]: row for row in status["assets"]}
    # BTC, ETH, DOGE, and SOL on its days before the corrupt candle; the malformed XRP never
    assert rows["clean_ohlcv"]["coins"] == 4


def test_a_failed_step_is_its_cause_in_a_line_and_where_the_log_is(tmp_path: Path) -> None:
    snapshot = cut_snapshot(tmp_path / "snap", COINS[:2], "2024-03-01", "2024-03-04")
    (tmp_path / "a_file").write_text("not a folder")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(PROJECT_ROOT),
        "DAGSTER_HOME": str(tmp_path / "home"),
        "CRYPTO_ASSETS_DATA_DIR": str(tmp_path / "data"),
        "CRYPTO_ASSETS_DUCKDB_PATH": str(tmp_path / "a_file" / "db.duckdb"),
        "CRYPTO_ASSETS_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db",
    }
    (tmp_path / "home").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, "demo", "--snapshot", str(snapshot), "--skip-sentiment"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "market_job 2024-03-01..2024-03-03: step" in errors[0]
    assert "failed: FileExistsError" in errors[0] or "NotADirectoryError" in errors[0]
    assert "Traceback" not in done.stderr and len(lines) <= 8, done.stderr
    log_line = next(line for line in lines if line.startswith("full log:"))
    log_file = Path(log_line.split("full log: ")[1].split(";")[0])
    assert log_file == tmp_path / "home" / "logs" / "crypto_assets.jsonl"
    run_id = log_line.split("; run ")[1].split(" ")[0]
    logged = [json.loads(line) for line in log_file.read_text().splitlines()]
    failure = [r for r in logged if r.get("event") == "STEP_FAILURE" and r["run_id"] == run_id]
    # the whole story is in the log: the exception and its stack trace
    assert failure and 'File "' in failure[0]["error"] and "Error" in failure[0]["error"]


def test_a_resource_that_fails_to_start_is_named(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    settings = isolated_settings(tmp_path).model_copy(
        update={"mlflow_artifact_root": tmp_path / "a_file" / "artifacts"}
    )
    with pytest.raises(PipelineError) as failed:
        run_job(
            build_definitions(settings),
            "retrain_job",
            dg.DagsterInstance.ephemeral(),
            profile="live",
            partition_key="30d",
        )
    message = str(failed.value)
    assert message.startswith("retrain_job 30d: resource 'mlflow_tracking' failed to start: ")
    assert "Not a directory" in message and "\n" not in message
    assert failed.value.run_id


@pytest.fixture(autouse=True)
def _few_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_MODEL_N_ESTIMATORS", "20")
