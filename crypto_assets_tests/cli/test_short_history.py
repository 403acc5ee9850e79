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
    # completed with warnings (exit 3), each said: no model could be trained on 3 days
    assert result.exit_code == 3, result.output
    # 4 horizons x no model, no predictions, the feedback loop's 4 checks measuring nothing, and
    # 4 sources with nothing recorded for the demo (CoinGecko, whale transfers, RSS, Discord)
    assert "Completed with 13 warning(s) (exit code 3):" in result.output, result.output[-3000:]
    assert result.output.count(": measured nothing: ") == 4
    assert result.output.count("_status: ") == 4
    assert result.output.count("WARN models / skill_and_calibration: no model trained") == 4
    assert (
        "ERROR predictions / every_coin_every_horizon: no predictions: 1h, 24h, 7d, 30d: no "
        "model in use"
    ) in " ".join(result.output.split())
    assert "results published for readers" in result.output
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
