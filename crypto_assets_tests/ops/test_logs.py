"""JSON log lines with ELK-friendly fields from a real Dagster run and from the CLI setup, and
secret values masked wherever they appear."""

import io
import json
import logging
from pathlib import Path

import dagster as dg
import pytest
from pydantic import SecretStr

from crypto_assets import logs
from crypto_assets.logs import redact, register_secret_values, setup_logging
from crypto_assets.settings import Settings

TELEGRAM = "tgram://123456789:ABCdefGHIjklMNOpqrSTUvwxYZ123456789/-100222333"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_secret_values_and_their_url_parts_are_masked() -> None:
    register_secret_values(["hunter2-db-pass", TELEGRAM, None, "abc"])
    text = (
        f"connect with hunter2-db-pass; posting to {TELEGRAM}; "
        "POST https://api.telegram.org/bot123456789:ABCdefGHIjklMNOpqrSTUvwxYZ123456789/sendMessage"
        " mlflow at https://ml:s3cretpw@mlflow.internal/ and abc stays"
    )
    masked = redact(text)
    for leaked in ("hunter2-db-pass", "ABCdefGHIjklMNOpqrSTUvwxYZ123456789", "s3cretpw"):
        assert leaked not in masked
    assert "tgram://" not in masked and "abc stays" in masked  # short values are not masked


def test_dagster_run_lines_carry_run_asset_partition_event_duration(tmp_path: Path) -> None:
    @dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2024-06-01"))
    def ohlcv_daily(context: dg.AssetExecutionContext) -> None:
        context.log.info("fetched 42 candles")
        logging.getLogger("crypto_assets.market").info("managed logger line", extra={"coins": 7})

    handler = {
        "()": "crypto_assets.logs.JsonFileHandler",
        "level": "INFO",
        "log_dir": str(tmp_path),
    }
    overrides = {
        "python_logs": {
            "managed_python_loggers": ["crypto_assets"],
            "python_log_level": "INFO",
            "dagster_handler_config": {"handlers": {"jsonFile": handler}},
        }
    }
    with dg.instance_for_test(overrides=overrides) as instance:
        result = dg.materialize([ohlcv_daily], instance=instance, partition_key="2024-06-10")
    lines = _lines(tmp_path / "crypto_assets.jsonl")
    assert all(line["run_id"] == result.run_id for line in lines)
    assert all(line["service"] == "dagster" and "@timestamp" in line for line in lines)
    mine = next(line for line in lines if line["message"] == "fetched 42 candles")
    assert mine["asset"] == "ohlcv_daily" and mine["partition"] == "2024-06-10"
    assert mine["level"] == "INFO" and mine["job"] == "__ephemeral_asset_job__"
    managed = next(line for line in lines if line["message"] == "managed logger line")
    assert managed["logger"] == "crypto_assets.market" and managed["coins"] == 7
    assert managed["partition"] == "2024-06-10"
    success = next(line for line in lines if line.get("event") == "STEP_SUCCESS")
    assert success["asset"] == "ohlcv_daily" and success["duration_ms"] >= 0
    materialized = next(line for line in lines if line.get("event") == "ASSET_MATERIALIZATION")
    assert materialized["partition"] == "2024-06-10"


def test_cli_setup_masks_configured_secrets_in_file_and_console(tmp_path: Path) -> None:
    settings = Settings(
        log_dir=tmp_path / "logs",
        alert_telegram_url=SecretStr(TELEGRAM),
        cryptopanic_api_key=SecretStr("cp-key-0123456789"),
    )
    console = io.StringIO()
    path = setup_logging("cli", settings, stream=console)
    again = setup_logging("cli", settings, stream=console)  # idempotent: one set of handlers
    assert again == path == tmp_path / "logs" / "crypto_assets.jsonl"
    log = logging.getLogger("crypto_assets.cli")
    log.warning("calling the API with cp-key-0123456789", extra={"event": "fetch", "symbol": "X"})
    try:
        raise RuntimeError(f"bad channel {TELEGRAM}")
    except RuntimeError:
        log.exception("alert failed")
    logging.getLogger("urllib3").info("library info stays out")
    [first, second] = _lines(path)
    assert first["service"] == "cli" and first["event"] == "fetch" and first["symbol"] == "X"
    assert first["message"] == "calling the API with ***"
    assert "RuntimeError: bad channel ***" in second["exc"]
    written = path.read_text() + console.getvalue()
    assert "cp-key-0123456789" not in written and "ABCdefGHIjklMNOpqrSTUvwxYZ" not in written
    assert console.getvalue().count("WARNING crypto_assets.cli: calling the API with ***") == 1


def test_handler_from_dagster_yaml_finds_secrets_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "_secret_pattern", None)
    monkeypatch.setattr(logs, "_secret_values", set())
    monkeypatch.setenv("CRYPTO_ASSETS_ALERT_WEBHOOK_URL", "json://hooks.example/T0KEN-abcdef-123")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "pg-pass-xyz")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    handler = logs.JsonFileHandler()
    record = logging.LogRecord(
        "x", logging.INFO, "f", 1, "pw pg-pass-xyz hook T0KEN-abcdef-123", None, None
    )
    handler.emit(record)
    handler.close()
    [line] = _lines(tmp_path / "logs" / "crypto_assets.jsonl")
    assert line["message"] == "pw *** hook ***"
