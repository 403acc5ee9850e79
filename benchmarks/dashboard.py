"""Dashboard page latency over a real published read copy, against two floors measured in the
same run: serving a static file over the same HTTP stack, and one request's worth of the
one-connection-per-request design (open the published copy read-only, one query, close).

    .venv/bin/python benchmarks/dashboard.py --root DIR [--requests 30]

DIR holds what a demo run writes (``data/crypto_assets.published.duckdb``, ``mlruns/``,
``dagster_home/``): the folder of ``make demo`` (the project root, with ``--profile demo``
reading ``data/demo``) or a test run's folder. Prints one JSON object and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto_assets.dashboard.app import create_app
from crypto_assets.settings import Settings
from crypto_assets.storage import open_published, read_published
from crypto_assets_tests.dashboard.helpers import ServedApp


def _settings(root: Path, data_dir: Path | None) -> Settings:
    return Settings(
        _env_file=None,
        profile="demo",
        data_dir=data_dir or root / "data",
        mlflow_tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db",
        mlflow_artifact_root=root / "mlruns" / "artifacts",
        dagster_home=root / "dagster_home",
    )


def _timed(call, n: int) -> dict[str, float]:
    call()  # warm: imports, the catalog, caches
    seconds = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {
        "median_ms": round(statistics.median(seconds) * 1000, 2),
        "p90_ms": round(seconds[int(0.9 * (n - 1))] * 1000, 2),
    }


def _fetch(url: str) -> None:
    with urllib.request.urlopen(url, timeout=120) as answer:
        answer.read()
        assert answer.status == 200, url


def _one_connection(settings: Settings) -> None:
    with open_published(settings) as conn:
        conn.execute("select count(*) from crypto.predictions").fetchone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    settings = _settings(args.root.resolve(), args.data_dir)
    coin = read_published(settings, "predictions")["symbol"].iloc[0]
    results: dict[str, dict[str, float]] = {}
    results["reference: open published copy + 1 query + close"] = _timed(
        lambda: _one_connection(settings), args.requests
    )
    with ServedApp(create_app(settings)) as url:
        pages = {
            "reference: static file (/static/style.css)": "/static/style.css",
            "signals (/)": "/",
            f"coin (/coin/{coin})": f"/coin/{coin}",
            "status (/status)": "/status",
        }
        for name, path in pages.items():
            results[name] = _timed(lambda p=path: _fetch(url + p), args.requests)
    floor = results["reference: open published copy + 1 query + close"]["median_ms"]
    print(json.dumps(results, indent=1))
    print("\n| request | median ms | p90 ms | vs open+query |\n|---|---:|---:|---:|")
    for name, figures in results.items():
        ratio = figures["median_ms"] / floor if floor else float("nan")
        print(f"| {name} | {figures['median_ms']} | {figures['p90_ms']} | {ratio:.1f} |")


if __name__ == "__main__":
    main()
