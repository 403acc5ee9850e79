"""Benchmark: full-universe hourly ingestion through ccxt's real Kraken code path into DuckDB.

The exchange is the local Kraken replay server (crypto_assets_tests/replay_server.py) run in a
separate process, so the figures are the client's: requests/s achieved against the configured
rate limit, candles/s written into a real DuckDB file, and the client's peak memory.

Universe: the active USD/USDT/USDC spot pairs of the REAL recorded AssetPairs of 2026-01-12
(BTC/USD and ETH/USD first, then alphabetical; --max-pairs bounds the run time). BTC/USD and
ETH/USD answer with real Kraken hourly candles. LOAD TEST ONLY (default; --no-load-test-candles
to turn off): other pairs whose base coin is in the binance_2024 snapshot answer with that
coin's REAL Binance 2024 hourly candles mapped onto the Kraken pair, to move realistic data
volumes; the product never uses this mapping. Pairs with neither answer Kraken's real
"EQuery:Unknown asset pair" error (they still cost a request and become failure rows).

    .venv/bin/python benchmarks/ingest.py --max-pairs 120 --rate-limit-ms 1000 100
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crypto_assets.market.universe import filter_universe  # noqa: E402
from crypto_assets.resources.market_source import ExchangeResource  # noqa: E402

BINANCE = ROOT.parent / "shared" / "data" / "market" / "binance_2024"
SERVER_NOW = "2024-09-07T02:30:00Z"  # just after the last binance_2024 hourly candle
KRAKEN_OHLC_COST = 1.2  # ccxt's Kraken cost for /OHLC in units of rateLimit


def start_server(load_test: bool) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "crypto_assets_tests.replay_server", "--now", SERVER_NOW]
    if load_test:
        cmd += ["--load-test-snapshot", str(BINANCE)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def server_log(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_replay/requests", timeout=30) as response:
        return json.loads(response.read())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_once(url: str, rate_limit_ms: int, max_pairs: int, concurrency: int, db: Path) -> dict:
    client = ExchangeResource(
        api_url=url,
        rate_limit_ms=rate_limit_ms,
        max_concurrency=concurrency,
        frozen_clock=SERVER_NOW,
    )
    t0 = time.perf_counter()
    markets = client.fetch_markets()
    universe = filter_universe(markets, ["USD", "USDT", "USDC"])
    ordered = ["BTC/USD", "ETH/USD"] + [
        s for s in universe["symbol"] if s not in ("BTC/USD", "ETH/USD")
    ]
    symbols = ordered[:max_pairs]
    before = len(server_log(url)["requests"])
    t1 = time.perf_counter()
    result = client.fetch_ohlcv(
        symbols, "1h", pd.Timestamp("2013-01-01", tz="UTC"), pd.Timestamp(SERVER_NOW)
    )
    t2 = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE IF NOT EXISTS ohlcv_1h (symbol VARCHAR, date TIMESTAMPTZ, open DOUBLE, "
        "high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE, PRIMARY KEY (symbol, date))"
    )
    candles = result.candles
    con.register("candles", candles)
    con.execute("INSERT OR REPLACE INTO ohlcv_1h SELECT * FROM candles")
    stored = con.execute("SELECT count(*) FROM ohlcv_1h").fetchone()[0]
    con.close()
    t3 = time.perf_counter()
    log = server_log(url)
    ohlc = [t for t, path, _ in log["requests"][before:] if path == "/0/public/OHLC"]
    span = (ohlc[-1] - ohlc[0]) if len(ohlc) > 1 else float("nan")
    return {
        "rate_limit_ms": rate_limit_ms,
        "concurrency": concurrency,
        "pairs_in_universe": len(universe),
        "pairs_fetched": len(symbols),
        "pairs_with_candles": int(candles["symbol"].nunique()),
        "failures": len(result.failures),
        "failure_types": result.failures["error_type"].value_counts().to_dict(),
        "ohlc_requests": len(ohlc),
        "ohlc_req_per_s": (len(ohlc) - 1) / span if len(ohlc) > 1 else float("nan"),
        "ohlc_req_per_s_allowed": 1000 / (rate_limit_ms * KRAKEN_OHLC_COST),
        "markets_s": t1 - t0,
        "fetch_s": t2 - t1,
        "write_s": t3 - t2,
        "candles": len(candles),
        "rows_in_duckdb": stored,
        "candles_per_s_end_to_end": len(candles) / (t3 - t1),
        "candles_per_s_write": len(candles) / (t3 - t2),
        "load_test_answers_total": log["load_test_answers"],
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-pairs", type=int, default=120)
    parser.add_argument("--rate-limit-ms", type=int, nargs="+", default=[1000])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--db", type=Path, default=None, help="DuckDB file (default: temp dir)")
    parser.add_argument(
        "--no-load-test-candles",
        dest="load_test",
        action="store_false",
        help="serve only the real Kraken BTC/ETH candles (other pairs: Unknown asset pair)",
    )
    args = parser.parse_args()
    proc, url = start_server(args.load_test)
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, rate in enumerate(args.rate_limit_ms):
                db = args.db or Path(tmp) / f"ingest_{i}.duckdb"
                results.append(run_once(url, rate, args.max_pairs, args.concurrency, db))
                print(json.dumps(results[-1], default=float), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    label = (
        "LOAD TEST ONLY: pairs other than BTC/USD, ETH/USD were answered with real Binance 2024 "
        "hourly candles of the same base coin"
        if args.load_test
        else "real Kraken candles only (BTC/USD, ETH/USD)"
    )
    print(f"\n{label}\n")
    print(
        "| rateLimit ms | pairs | with candles | OHLC req | req/s achieved | req/s allowed "
        "| fetch s | candles | write s | candles/s (fetch+write) | candles/s (write) "
        "| peak RSS MB |"
    )
    print("|---" * 12 + "|")
    for r in results:
        print(
            f"| {r['rate_limit_ms']} | {r['pairs_fetched']} | {r['pairs_with_candles']} | "
            f"{r['ohlc_requests']} | {r['ohlc_req_per_s']:.3f} | {r['ohlc_req_per_s_allowed']:.3f} "
            f"| {r['fetch_s']:.1f} | {r['candles']:,} | {r['write_s']:.2f} | "
            f"{r['candles_per_s_end_to_end']:,.0f} | {r['candles_per_s_write']:,.0f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
