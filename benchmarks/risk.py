"""Order books: rebuild throughput on the REAL Kraken recording, and slippage on real books.

Run from the repository root:

    .venv/bin/python benchmarks/risk.py [--repeats 5]

It reads ../shared/data/orderbook in place and prints markdown:

1. Rebuild throughput of ``risk.recordings.replay_kraken_book`` over the recorded Kraken
   WebSocket v1 ``book`` session (4,279 book messages, every update's CRC32 checksum verified),
   against a reference measured in the same run: reading the same file and ``json.loads`` of
   every line, nothing else (the floor any rebuild must pay). Best of ``--repeats``.
2. Spread, depth within 2 % and buy / sell slippage (vs the mid, half the spread included, no
   fees) of every recorded book at three ticket sizes, by ``risk.book.book_metrics``. Tickets
   are 1,000 / 10,000 / 100,000 of the quote currency when it is fiat or a USD stablecoin; for
   the Kraken books quoted in BTC or ETH the same CHF amounts converted at the recording's own
   BTC/CHF and ETH/CHF mids; for the Binance books quoted in BTC or ETH, 0.02 / 0.2 / 2 BTC
   and 0.5 / 5 / 50 ETH (that recording has no fiat cross rate).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto_assets.resources.order_books import RecordedOrderBooks
from crypto_assets.risk.book import book_metrics
from crypto_assets.risk.recordings import replay_kraken_book
from crypto_assets.settings import SHARED_DATA_DIR

ORDERBOOK_DIR = SHARED_DATA_DIR / "orderbook"
KRAKEN_WS = ORDERBOOK_DIR / "KRAKEN.ws.50.0"
FIAT_TICKETS = (1_000.0, 10_000.0, 100_000.0)
FIAT = {"USD", "USDT", "USDC", "EUR", "CHF"}
BINANCE_CRYPTO_TICKETS = {"BTC": (0.02, 0.2, 2.0), "ETH": (0.5, 5.0, 50.0)}


def best_of(repeats: int, fn) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def parse_only() -> int:
    count = 0
    with open(KRAKEN_WS, encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and not line.startswith("wss://"):
                json.loads(line.partition(": ")[2])
                count += 1
    return count


def throughput(repeats: int) -> None:
    parse_s, lines = best_of(repeats, parse_only)
    rebuild_s, replay = best_of(repeats, lambda: replay_kraken_book(KRAKEN_WS))
    checks = sum(b.checksums_verified for b in replay.books.values())
    span = replay.last_ts - replay.first_ts
    print(f"| step | time (best of {repeats}) | messages/s | vs parse only |")
    print("|---|---:|---:|---:|")
    print(
        f"| parse only (`json.loads` per line, {lines:,} lines) | {parse_s * 1e3:.1f} ms | "
        f"{lines / parse_s:,.0f} | 1.00 |"
    )
    print(
        f"| rebuild 10 books + verify {checks:,} checksums ({replay.messages:,} book msgs) | "
        f"{rebuild_s * 1e3:.1f} ms | {replay.messages / rebuild_s:,.0f} | "
        f"{rebuild_s / parse_s:.2f} |"
    )
    print(
        f"\nThe recording spans {span:.1f} s of Kraken time: the rebuild runs "
        f"{span / rebuild_s:,.0f}x faster than real time.\n"
    )


def amount(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def tickets_for(symbol: str, exchange: str, mids: dict[str, float]) -> tuple[list[float], str]:
    quote = symbol.split("/")[1]
    if quote in FIAT:
        return list(FIAT_TICKETS), quote
    if exchange == "kraken" and f"{quote}/CHF" in mids:
        rate = mids[f"{quote}/CHF"]
        return [t / rate for t in FIAT_TICKETS], f"CHF in {quote}"
    return list(BINANCE_CRYPTO_TICKETS[quote]), quote


def slippage_table() -> None:
    source = RecordedOrderBooks(recordings_dir=str(ORDERBOOK_DIR))
    fetch = source.fetch_order_books(source.recorded_symbols(), depth=1000)
    base = book_metrics(fetch.books, 1.0, 1.0).set_index("symbol")
    mids = base["mid"].to_dict()
    print(
        "| book (exchange, recorded) | spread | depth 2 % bid / ask (quote) | ticket | "
        "buy slippage | sell slippage |"
    )
    print("|---|---:|---:|---|---:|---:|")
    for symbol, row in base.sort_values(["exchange", "spread"]).iterrows():
        sizes, unit = tickets_for(symbol, row["exchange"], mids)
        book = fetch.books[fetch.books["symbol"] == symbol]
        for i, size in enumerate(sizes):
            m = book_metrics(book, size, 1.0).iloc[0]
            label = f"{FIAT_TICKETS[i]:,.0f} {unit}" if "in" in unit else f"{size:,g} {unit}"
            buy = f"{m['buy_slippage']:.3%}" + ("" if m["buy_fillable"] else " (book too thin)")
            sell = f"{m['sell_slippage']:.3%}" + ("" if m["sell_fillable"] else " (book too thin)")
            head = (
                f"{symbol} ({row['exchange']}, {row['as_of']:%Y-%m-%d %H:%M} UTC) | "
                f"{row['spread']:.3%} | "
                f"{amount(row['depth_2pct_bid'])} / {amount(row['depth_2pct_ask'])}"
                if i == 0
                else " | | "
            )
            print(f"| {head} | {label} | {buy} | {sell} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, pandas {pd.__version__}\n")
    throughput(args.repeats)
    slippage_table()


if __name__ == "__main__":
    main()
