"""A pipeline run in its own process, held inside its first step, for the killed-run test.

    python -m crypto_assets_tests.storage.run_process MODE ROOT SNAPSHOT

``ROOT`` holds the isolated project folders (Dagster instance, DuckDB); the market source is
the real snapshot source, made to wait inside ``fetch_markets`` (so the run sits STARTED until
the test kills the process). ``MODE``: ``cli`` runs ``market_job`` as the CLI's runner does
(tagged with its pid and host); ``plain`` materializes the same assets with ``dg.materialize``
on the same instance, untagged (as a run launched by the daemon would be).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import dagster as dg

from crypto_assets.definitions import build_definitions
from crypto_assets.resources.market_source import SnapshotSource
from crypto_assets.runner import dagster_instance, run_job
from crypto_assets_tests.fixtures import isolated_settings

DAY = "2024-06-02"


def _hold(self: SnapshotSource, as_of: object = None) -> object:
    print("holding", flush=True)
    time.sleep(600)
    raise SystemExit("held too long")


def main(mode: str, root: str, snapshot: str) -> int:
    settings = isolated_settings(Path(root), source="snapshot", snapshot_dir=Path(snapshot))
    SnapshotSource.fetch_markets = _hold  # type: ignore[method-assign]
    defs = build_definitions(settings)
    instance = dagster_instance(settings)
    if mode == "cli":
        run_job(defs, "market_job", instance, profile="live", partition_key=DAY)
    else:
        dg.materialize(
            list(defs.assets or []),
            selection="group:market",
            partition_key=DAY,
            resources=dict(defs.resources),
            instance=instance,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
