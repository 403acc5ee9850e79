"""Readers beside a real run, as a user meets them: ``crypto-assets status`` and ``top`` run in a
loop, each as its own process, while ``crypto-assets demo`` runs the whole graph in another
process. Zero reader failures (every reader exits 0 with valid JSON, never a lock error), zero
run failures, and every reader sees one whole publication: the one before the run or the one
it published, never a mix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
from typer.testing import CliRunner

from crypto_assets.cli import app
from crypto_assets.settings import PROJECT_ROOT, Settings
from crypto_assets_tests.fixtures import cut_snapshot

ENTRY = "from crypto_assets.cli import main; main()"
COINS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )


def _reader_loop(args: tuple[str, ...], stop: threading.Event, seen: list) -> None:
    while not stop.is_set():
        done = _cli(*args, timeout=120)
        seen.append((done.returncode, done.stdout, done.stderr))


def test_status_and_top_in_a_loop_while_demo_runs(project_env: Settings) -> None:
    root = project_env.data_dir.parent
    snapshot = cut_snapshot(root / "snap", COINS, "2024-03-01", "2024-03-06")
    runner = CliRunner()
    first = runner.invoke(
        app, ["demo", "--snapshot", str(snapshot), "--days", "2", "--skip-sentiment"]
    )
    assert first.exit_code == 3, first.output  # completed, with warnings (too little history)
    before = json.loads(runner.invoke(app, ["top", "--json", "--demo"]).stdout)
    assert before["published_at"] and before["day"] == "-"  # no model yet: no predictions
    stop = threading.Event()
    seen: dict[str, list] = {"top": [], "status": []}
    readers = [
        threading.Thread(
            target=_reader_loop, args=(("top", "--json", "--demo"), stop, seen["top"])
        ),
        threading.Thread(
            target=_reader_loop, args=(("status", "--json", "--demo"), stop, seen["status"])
        ),
    ]
    for reader in readers:
        reader.start()
    try:
        demo = _cli("demo", "--snapshot", str(snapshot), "--skip-sentiment")
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=180)
    assert demo.returncode == 3, demo.stderr[-3000:]  # zero run failures (warnings only)
    assert "Traceback" not in demo.stderr and "results published for readers" in demo.stderr
    after = json.loads(_cli("top", "--json", "--demo").stdout)
    assert after["published_at"] > before["published_at"]
    publications = {before["published_at"], after["published_at"]}
    for name, results in seen.items():
        assert len(results) >= 2, f"{name} ran {len(results)} time(s)"
        for code, stdout, stderr in results:
            assert code == 0 and "Traceback" not in stderr, stderr  # zero reader failures
            payload = json.loads(stdout)
            assert payload["published_at"] in publications  # a whole publication, old or new
    statuses = [json.loads(out) for _, out, _ in seen["status"]]
    for status in statuses:
        rows = {row["asset"]: row for row in status["assets"]}
        assert rows["clean_ohlcv"]["coins"] == len(COINS)


@pytest.fixture(autouse=True)
def _few_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_MODEL_N_ESTIMATORS", "20")
