"""Benchmark: the on-chain domain. Four tables, each printed as markdown:

1. Etherscan rate-limit compliance: the live ``EtherscanResource`` pages the REAL recorded holder
   export from the local replay server (crypto_assets_tests/onchain/replay.py, in a thread of
   this process), which ENFORCES Etherscan's free limit itself (3 calls in any sliding second;
   over-limit calls get Etherscan's "Max rate limit reached" answer and are counted). Reference
   in the same run: the same client with its limiter opened up (1000 calls/s), which relies on
   the server's refusals and its own backoff.
2. Parse / compute throughput on the real recorded files (label book, Whale Alert response,
   holder export, BTC/ETH daily metrics -> features).
3. Coverage: how many coins of two real universes have any recorded on-chain data at all, and
   on which dates.
4. What the overlap of the recorded network metrics (2010-2018) with the real Kraken BTC/ETH
   candles (2013-2023) can measure: time-series Spearman IC of each network feature against the
   NEXT 7 / 30 days' return (two coins: no cross-sectional rank IC is possible).

    .venv/bin/python benchmarks/onchain.py --calls 30
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crypto_assets.horizons import TIMEFRAMES  # noqa: E402
from crypto_assets.market.universe import filter_universe  # noqa: E402
from crypto_assets.onchain.contracts import base_coins, map_universe  # noqa: E402
from crypto_assets.onchain.features import asof_join_onchain  # noqa: E402
from crypto_assets.onchain.holders import concentration, parse_holder_export  # noqa: E402
from crypto_assets.onchain.labels import load_label_book  # noqa: E402
from crypto_assets.onchain.network import (  # noqa: E402
    BTC_FILE,
    ETH_FILE,
    FEATURE_COLUMNS,
    network_features,
    parse_btc_daily,
    parse_eth_daily,
)
from crypto_assets.onchain.transfers import classify_whales, parse_whale_alert  # noqa: E402
from crypto_assets.resources.etherscan import EtherscanResource  # noqa: E402
from crypto_assets.resources.market_source import ExchangeResource  # noqa: E402
from crypto_assets_tests.onchain.replay import (  # noqa: E402
    HOLDER_FILE,
    HOLDER_TOKEN,
    ONCHAIN_DIR,
    WHALE_FILE,
    OnchainReplayServer,
    max_in_window,
)
from crypto_assets_tests.replay_server import KrakenReplayServer  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
AS_OF = pd.Timestamp("2024-01-01", tz="UTC")


def rate_limit_table(calls: int) -> str:
    """Pages of the real holder export at ``338 / calls`` rows each, so one run is ``calls``
    requests; the server enforces 3 calls per sliding second."""
    page = int(np.ceil(338 / calls))
    yesterday = pd.Timestamp.now(tz="UTC").floor("D") - pd.Timedelta(days=1)
    rows = []
    for label, rate, backoff in (("3 calls/s (product)", 3.0, 1.0), ("no limiter", 1000.0, 0.5)):
        with OnchainReplayServer() as server:
            server.etherscan_limit = 3
            client = EtherscanResource(
                api_key=server.etherscan_key,
                base_url=f"{server.url}/v2/api",
                calls_per_second=rate,
                backoff_s=backoff,
                max_retries=8,
                holder_page_size=page,
                holder_max_pages=calls + 5,
            )
            started = time.perf_counter()
            got = client.fetch_holders("ethereum", HOLDER_TOKEN, yesterday)
            wall = time.perf_counter() - started
            arrivals = [r.t for r in server.requests]
            accepted = len(arrivals) - server.violations
            rows.append(
                f"| {label} | {accepted} | {len(arrivals)} | {server.violations} | "
                f"{client.http.retries} | {max_in_window(arrivals)} | {wall:.2f} | "
                f"{len(arrivals) / wall:.2f} | {accepted / wall:.2f} | {len(got.frame)} |"
            )
    header = (
        "| client | pages needed | requests sent | refused by server | retries | "
        "max requests in any 1 s | wall s | sent/s | accepted/s | holders |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    return "\n".join([header, *rows])


def _best(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def throughput_table() -> str:
    book = load_label_book(ONCHAIN_DIR)
    payload = json.loads(WHALE_FILE.read_text())
    whales = parse_whale_alert(payload, "bench", AS_OF)
    holders = parse_holder_export(HOLDER_FILE, "ethereum", HOLDER_TOKEN, "bench", AS_OF)
    metrics = pd.concat(
        [
            parse_btc_daily(ONCHAIN_DIR / BTC_FILE, "bench", AS_OF),
            parse_eth_daily(ONCHAIN_DIR / ETH_FILE, "bench", AS_OF),
        ]
    )
    scaled = pd.concat([whales] * 1000, ignore_index=True)  # scale test: the 24 repeated
    work = [
        ("label book (4 files)", len(book), lambda: load_label_book(ONCHAIN_DIR), 3),
        ("whale parse (24 real)", 24, lambda: parse_whale_alert(payload, "b", AS_OF), 20),
        (
            "whale label+classify (24 x 1000, scale test)",
            len(scaled),
            lambda: classify_whales(scaled, book, 1e6),
            3,
        ),
        ("holder concentration (338 real)", 338, lambda: concentration(holders, book), 20),
        (
            "network features (BTC+ETH, 3,854 days)",
            len(metrics),
            lambda: network_features(metrics),
            5,
        ),
    ]
    rows = ["| step | rows | best s | rows/s |", "|---|---:|---:|---:|"]
    for name, count, fn, repeats in work:
        best = _best(fn, repeats)
        rows.append(f"| {name} | {count:,} | {best:.4f} | {count / best:,.0f} |")
    return "\n".join(rows)


def _kraken_universe() -> list[str]:
    """The real recorded AssetPairs of 2026-01-12 through ccxt's Kraken parsing (local replay)."""
    with KrakenReplayServer(assetpairs="2026-01-12") as server:
        markets = ExchangeResource(api_url=server.url, rate_limit_ms=5).fetch_markets()
    universe = filter_universe(markets, ["USD", "USDT", "USDC"])
    return base_coins(universe["symbol"])


def coverage_table() -> str:
    binance = pd.read_parquet(DATA / "market" / "binance_2024" / "ohlcv_1d.parquet")
    universes = {
        "binance_2024 (2024-01..09)": base_coins(binance["symbol"].unique()),
        "Kraken USD/USDT/USDC spot, AssetPairs 2026-01-12": _kraken_universe(),
    }
    whales = parse_whale_alert(json.loads(WHALE_FILE.read_text()), "b", AS_OF)
    recorded = {
        "network metrics 2010-02-23..2018-02-20": {"BTC", "ETH"},
        "Whale Alert transfers 2019-06-18 (>= $500k)": set(whales["coin"]),
        "holder list 2022-04-21 (token 0x1bbd..., coin unknown)": set(),
    }
    rows = [
        "| universe | coins | native chain known | with any recorded on-chain data | "
        "recorded data in the universe's own dates |",
        "|---|---:|---:|---|---|",
    ]
    for name, coins in universes.items():
        contracts = map_universe(coins, None)
        native = int((contracts["match"] == "native").sum())
        present = {label: sorted(set(coins) & have) for label, have in recorded.items()}
        text = "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in present.items())
        overlap = "none" if name.startswith("binance") else "none (live sources only)"
        rows.append(f"| {name} | {len(coins)} | {native} | {text} | {overlap} |")
    return "\n".join(rows)


def overlap_table() -> str:
    """Daily closes from the real Kraken hourly candles; network features as of each close."""
    hourly = pd.read_parquet(DATA / "market" / "kraken_btc_eth" / "ohlcv_1h.parquet")
    hourly = hourly.assign(day=hourly["date"].dt.floor("D"))
    daily = hourly.sort_values("date").groupby(["symbol", "day"], as_index=False)["close"].last()
    daily = daily.rename(columns={"day": "date"}).assign(timeframe="1d")
    metrics = pd.concat(
        [
            parse_btc_daily(ONCHAIN_DIR / BTC_FILE, "bench", AS_OF),
            parse_eth_daily(ONCHAIN_DIR / ETH_FILE, "bench", AS_OF),
        ]
    )
    joined = asof_join_onchain(daily, TIMEFRAMES, network=network_features(metrics))
    rows = [
        "| coin | horizon | rows with features | non-overlapping periods | "
        + " | ".join(FEATURE_COLUMNS)
        + " |",
        "|---|---|---:|---:|" + "---:|" * len(FEATURE_COLUMNS),
    ]
    for symbol, group in joined.groupby("symbol"):
        group = group.set_index("date").asfreq("D")  # calendar days: shifts are in days
        for days in (7, 30):
            forward = group["close"].shift(-days) / group["close"] - 1
            usable = group[FEATURE_COLUMNS].notna().any(axis=1) & forward.notna()
            ics = [
                group.loc[usable, c].corr(forward[usable], method="spearman")
                for c in FEATURE_COLUMNS
            ]
            rows.append(
                f"| {symbol} | {days}d | {int(usable.sum()):,} | {int(usable.sum()) // days} | "
                + " | ".join(f"{ic:+.3f}" for ic in ics)
                + " |"
            )
    first, last = joined.dropna(subset=[FEATURE_COLUMNS[0]])["date"].agg(["min", "max"])
    return "\n".join(rows) + f"\n\nrows with network features: {first:%Y-%m-%d}..{last:%Y-%m-%d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="Etherscan requests per run")
    args = parser.parse_args()
    print("## Etherscan rate limit (server enforces 3 calls per sliding second)\n")
    print(rate_limit_table(args.calls), "\n")
    print("## Parse / compute throughput (real recorded files)\n")
    print(throughput_table(), "\n")
    print("## Coverage of real universes by the recorded on-chain data\n")
    print(coverage_table(), "\n")
    print("## Kraken BTC/ETH daily candles x recorded network features (time-series IC)\n")
    print(overlap_table())


if __name__ == "__main__":
    main()
