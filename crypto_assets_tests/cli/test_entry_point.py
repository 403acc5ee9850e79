"""The console entry point as a user runs it: a real process, exit codes, clean output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ENTRY = "from crypto_assets.cli import main; main()"


def _run(*args: str, env_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"CRYPTO_ASSETS_DATA_DIR": str(env_dir), "PATH": "/usr/bin:/bin", "HOME": str(env_dir)}
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_json_on_stdout_and_exit_codes(tmp_path: Path) -> None:
    ok = _run("top", "--json", "--demo", env_dir=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["coins"] == []
    assert "leaked" not in ok.stderr  # no false refcount report from native bindings at exit
    bad = _run("backtest", "--snapshot", str(tmp_path / "missing"), env_dir=tmp_path)
    assert bad.returncode == 2  # bad command line (README "Exit codes")
    assert "does not exist" in bad.stderr and bad.stdout == ""
    usage = _run("--no-such-option", env_dir=tmp_path)
    assert usage.returncode == 2
