"""The ops domain in the code location: resources built from settings by ``build_resources``
(secrets as EnvVar when they are in the environment), sensors in the merged definitions, and
the daily resource_usage schedule."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from pydantic import SecretStr

from crypto_assets.definitions import build_definitions, build_resources
from crypto_assets.defs.ops.monitoring import resource_usage_daily
from crypto_assets_tests.fixtures import isolated_settings


def test_resources_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_ALERT_TELEGRAM_URL", "tgram://123456789:abcdefgh/42")
    monkeypatch.setenv("CRYPTO_ASSETS_ALERT_DISCORD_URL", "discord://1/a-value-not-in-use")
    settings = isolated_settings(
        tmp_path,
        alert_telegram_url=SecretStr("tgram://123456789:abcdefgh/42"),  # from the environment
        alert_webhook_url=SecretStr("json://127.0.0.1:9/hook"),  # as if read from .env only
        alert_discord_url=SecretStr("discord://2/the-value-given-as-data"),
        alert_repeat_minutes=15,
        disk_min_free_gb=12,
    )
    resources = build_resources(settings)
    alerts, host = resources["alerts"], resources["host_monitor"]
    assert isinstance(alerts.telegram_url, dg.EnvVar)  # the UI shows the name, not the token
    assert alerts.telegram_url.env_var_name == "CRYPTO_ASSETS_ALERT_TELEGRAM_URL"
    assert alerts.webhook_url == "json://127.0.0.1:9/hook" and alerts.email_url is None
    # an environment variable holding another value never replaces the value given as data
    assert alerts.discord_url == "discord://2/the-value-given-as-data"
    assert alerts.state_path == str(tmp_path / "data" / "ops" / "alert_state.sqlite")
    assert alerts.repeat_minutes == 15 and host.disk_min_free_gb == 12
    assert str(tmp_path / "data") in host.disk_paths
    merged = build_definitions(settings)
    dg.Definitions.validate_loadable(merged)
    names = {s.name for s in merged.sensors}
    assert names >= {
        "run_failure_alerts",
        "asset_check_alerts",
        "source_outage_alerts",
        "retrain_alerts",
        "resource_monitor",
    }


def test_daily_schedule_stores_the_day_that_ended() -> None:
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 24, 0, 5, tzinfo=UTC)
    )
    request = resource_usage_daily(context)
    assert request.partition_key == "2026-11-23"
    assert request.run_key == "resource-usage-2026-11-23"
