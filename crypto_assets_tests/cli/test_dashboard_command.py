"""Which profile's results `crypto-assets dashboard` (`make dashboard`) serves."""

from __future__ import annotations

from pathlib import Path

import pytest

import crypto_assets.settings as settings_module
from crypto_assets import storage
from crypto_assets.cli import _dashboard_settings


@pytest.fixture
def fresh_clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root with no profile, data folder or .env chosen by the environment."""
    for name in ("CRYPTO_ASSETS_PROFILE", "CRYPTO_ASSETS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(settings_module, "PROJECT_ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _publish_marker(settings: settings_module.Settings) -> None:
    path = storage.published_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def test_dashboard_serves_the_demo_after_make_demo(fresh_clone: Path) -> None:
    assert _dashboard_settings(False, {}).profile == "live"  # nothing published: live's page
    demo = _dashboard_settings(True, {"dashboard_port": 9000})
    assert demo.profile == "demo" and demo.dashboard_port == 9000
    _publish_marker(demo)  # what `make demo` leaves
    chosen = _dashboard_settings(False, {"dashboard_port": 9000})
    assert chosen.profile == "demo" and chosen.dashboard_port == 9000
    assert chosen.data_dir == fresh_clone / "data"
    assert chosen.profile_dir == fresh_clone / "data" / "demo"
    assert storage.published_path(chosen).parent == chosen.profile_dir


def test_live_results_and_an_explicit_profile_win(
    fresh_clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish_marker(_dashboard_settings(True, {}))
    live = settings_module.load_settings()
    _publish_marker(live)  # what `make run` leaves
    assert _dashboard_settings(False, {}).profile == "live"
    (fresh_clone / "data" / "crypto_assets.published.duckdb").unlink()
    monkeypatch.setenv("CRYPTO_ASSETS_PROFILE", "live")  # asked for: never swapped
    assert _dashboard_settings(False, {}).profile == "live"
