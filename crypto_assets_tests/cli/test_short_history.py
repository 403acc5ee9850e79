"""A first run with too little history (a first live run looks like this), through the `demo`
command: the graph still completes, no model is trained, the top list says why it is empty,
and `status` tells the assets that ran with no rows from those that never ran."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from crypto_assets.cli import app
from crypto_assets.settings import Settings
from crypto_assets_tests.fixtures import cut_snapshot


def test_three_days_of_history(project_env: Settings) -> None:
    snapshot = cut_snapshot(project_env.data_dir.parent / "snap", 5, "2024-03-01", "2024-03-05")
    runner = CliRunner()
    result = runner.invoke(
        app, ["demo", "--snapshot", str(snapshot), "--skip-sentiment"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(runner.invoke(app, ["top", "--json", "--demo"]).stdout)
    assert payload["coins"] == []
    assert "no model in use" in payload["reason"]
    status = json.loads(runner.invoke(app, ["status", "--json", "--demo"]).stdout)
    notes = {row["asset"]: row["note"] for row in status["assets"]}
    assert notes["predictions"] == "materialized, 0 rows (2024-03-04)"
    assert notes["top_coins"] == "materialized, 0 rows (2024-03-04)"
    assert notes["models"].startswith("materialized, 0 rows")  # skipped: too little history
    assert notes["text_sentiment"] == "not materialized yet"
    assert notes["clean_ohlcv"] == ""
    assert all(row.get("in_use") is None for row in status["models"])
    assert {row["note"] for row in status["models"]} <= {
        "no model registered yet",
        "no MLflow store yet",
    }
