"""Settings from the environment, secrets kept out of reprs and logs, JSON log lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from crypto_assets.logs import JsonFileHandler, redact
from crypto_assets.settings import Settings


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_QUOTE_CURRENCIES", "usd, eur")
    monkeypatch.setenv("CRYPTO_ASSETS_SOURCE", "snapshot")
    monkeypatch.setenv("CRYPTO_ASSETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    settings = Settings(_env_file=None)
    assert settings.quote_currencies == ["USD", "EUR"]
    assert settings.source == "snapshot"
    assert settings.resolved_duckdb_path == tmp_path / "crypto_assets.duckdb"
    assert settings.dagster_home == tmp_path / "home"  # Dagster's own variable, no prefix


def test_overrides_are_data_and_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_PROFILE", "live")
    monkeypatch.setenv("CRYPTO_ASSETS_CONFIDENCE_THRESHOLD", "0.9")
    settings = Settings(_env_file=None, profile="demo", confidence_threshold=0.7)
    assert (settings.profile, settings.confidence_threshold) == ("demo", 0.7)
    assert settings.data_dir.name == "demo"  # the demo profile's own folder by default


def test_invalid_source_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_SOURCE", "coingecko-scrape")
    with pytest.raises(ValueError, match="source"):
        Settings(_env_file=None)


def test_redact_masks_credentials() -> None:
    text = 'calling with api_key=abc123 and "token": "zzz" password: hunter2'
    masked = redact(text)
    assert "abc123" not in masked and "zzz" not in masked and "hunter2" not in masked
    assert masked.count("***") == 3


def test_json_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    handler = JsonFileHandler()
    logger = logging.getLogger("crypto_assets.test_json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("fetched %d candles token=%s", 5, "abcdef", extra={"symbol": "BTC/USD"})
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    lines = (tmp_path / "logs" / "crypto_assets.jsonl").read_text().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "fetched 5 candles token=***"
    assert first["symbol"] == "BTC/USD" and first["level"] == "INFO"
    assert second["level"] == "ERROR" and "RuntimeError: boom" in second["exc"]
