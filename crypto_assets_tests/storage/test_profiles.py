"""Demo and live never share result tables, whatever paths the user sets: each profile resolves
its own file, and a file stamped with one profile refuses the other's writes (real market
assets on real Binance candles, real DuckDB files) and its readers."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from crypto_assets.definitions import build_definitions
from crypto_assets.runner import PipelineError, run_job
from crypto_assets.settings import Settings, load_settings
from crypto_assets.status import asset_status
from crypto_assets.storage import ProfileMismatch, publish, stored_profile
from crypto_assets.storage.batches import FileBatch, load_batches
from crypto_assets_tests.fixtures import cut_snapshot, isolated_settings

PATHS = [  # (CRYPTO_ASSETS_DATA_DIR, CRYPTO_ASSETS_DUCKDB_PATH) as a user may set them
    (None, None),
    ("{root}/shared", None),
    ("{root}/x/demo", None),  # the live data dir IS what the demo's would be for "{root}/x"
    ("{root}/x", "{root}/x/demo/crypto_assets.duckdb"),
    ("{root}/y", "{root}/db.duckdb"),
    ("{root}/y", "{root}/db.demo.duckdb"),
    ("{root}/with space/ünï", "{root}/../{root_name}/weird name.duckdb"),
]


def _settings(root: Path, profile: str, data_dir: str | None, duckdb_path: str | None) -> Settings:
    def fill(text: str | None) -> str | None:
        return text.format(root=root, root_name=root.name) if text else None

    paths = {"data_dir": fill(data_dir), "duckdb_path": fill(duckdb_path)}
    return load_settings(_env_file=None, profile=profile, **{k: v for k, v in paths.items() if v})


@pytest.mark.parametrize("paths", PATHS)
def test_the_same_settings_never_give_both_profiles_one_file(tmp_path: Path, paths: tuple) -> None:
    live = _settings(tmp_path, "live", *paths)
    demo = _settings(tmp_path, "demo", *paths)
    assert live.resolved_duckdb_path.resolve() != demo.resolved_duckdb_path.resolve()
    assert live.models_dir.resolve() != demo.models_dir.resolve()
    published = {s.resolved_duckdb_path.name.replace(".duckdb", "") for s in (live, demo)}
    assert (
        len(published) == 2 or live.resolved_duckdb_path.parent != demo.resolved_duckdb_path.parent
    )


def _market_run(settings: Settings) -> dg.ExecuteInProcessResult:
    return run_job(
        build_definitions(settings),
        "market_job",
        dg.DagsterInstance.ephemeral(),
        profile=settings.profile,
        partition_key="2024-06-02",
    )


def test_a_file_of_one_profile_refuses_the_other(tmp_path: Path) -> None:
    """The one collision paths allow (two commands with different DATA_DIR values): the demo
    writes to <x>/demo, a live command run with DATA_DIR=<x>/demo then points at the same
    file, and is refused before any row changes; readers of the wrong profile are refused."""
    snapshot = cut_snapshot(tmp_path / "snap", ["BTC/USDT", "ETH/USDT"], "2024-05-20", "2024-06-04")
    demo = isolated_settings(tmp_path, profile="demo", source="snapshot", snapshot_dir=snapshot)
    _market_run(demo)
    database = demo.resolved_duckdb_path
    assert database == tmp_path / "data" / "demo" / "crypto_assets.duckdb"
    with duckdb.connect(str(database), read_only=True) as conn:
        assert stored_profile(conn) == "demo"
        before = conn.execute("select count(*) from crypto.ohlcv_hourly").fetchone()[0]
    live = isolated_settings(
        tmp_path, profile="live", source="snapshot", snapshot_dir=snapshot
    ).model_copy(update={"data_dir": tmp_path / "data" / "demo"})
    assert live.resolved_duckdb_path == database  # the collision
    with pytest.raises(PipelineError) as refused:
        _market_run(live)
    message = str(refused.value)
    assert "holds the demo profile's results; the live profile never writes into it" in message
    assert "\n" not in message
    with duckdb.connect(str(database), read_only=True) as conn:
        assert conn.execute("select count(*) from crypto.ohlcv_hourly").fetchone()[0] == before
    report = load_batches(database, [FileBatch("x.csv", "ohlcv_hourly")], profile="live")
    assert not report.committed and "holds the demo profile's results" in report.message
    publish(database)
    with pytest.raises(ProfileMismatch, match="holds the demo profile's results, not the live"):
        asset_status(live)
    assert {r["asset"] for r in asset_status(demo)} >= {"ohlcv_hourly", "clean_ohlcv"}
