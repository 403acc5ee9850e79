"""A first run with too little history (a first live run looks like this): the graph still
completes, no model is trained, and the top list says why it is empty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crypto_assets.cli import app
from crypto_assets.settings import get_settings
from crypto_assets_tests.fixtures import cut_snapshot


def test_three_days_of_history(project_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = cut_snapshot(project_env / "snap", 5, "2024-03-01", "2024-03-05")
    for key, value in {
        "PROFILE": "demo",
        "SOURCE": "snapshot",
        "SNAPSHOT_DIR": str(snapshot),
    }.items():
        monkeypatch.setenv(f"CRYPTO_ASSETS_{key}", value)
    result = CliRunner().invoke(
        app, ["demo", "--snapshot", str(snapshot), "--skip-sentiment"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    get_settings.cache_clear()
    payload = json.loads(CliRunner().invoke(app, ["top", "--json", "--demo"]).stdout)
    assert payload["coins"] == []
    assert "no model in use" in payload["reason"]
