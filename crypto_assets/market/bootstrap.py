"""Bootstrap years of daily history for the product's base coins from another exchange.

Kraken's API serves only its 720 most recent candles. Another ccxt exchange with deep history
(e.g. Binance, daily klines from 2017) can give the same base coins years more. Those candles
are the other exchange's prices, so they are written as their own daily-only snapshot folder,
symbols named as that exchange names them (``BTC/USDT``), every row labelled with a ``source``
column, and ``SOURCE.json`` saying the purpose, the exchange, the as-of time, the window and
the base -> symbol mapping. Nothing reads that folder unless the user points ``--snapshot`` /
``CRYPTO_ASSETS_SNAPSHOT_DIR`` (the whole graph on it) or ``CRYPTO_ASSETS_TRAINING_HISTORY_DIR``
(older training days for the 7d/30d models, ``ml.dataset.with_history``) at it, so it is never
mixed with Kraken's candles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from crypto_assets.frames import utc
from crypto_assets.market.snapshot_record import checked_out_dir, fetch_candles, write_snapshot
from crypto_assets.market.source import MarketSource
from crypto_assets.market.universe import filter_universe

PURPOSE = "history bootstrap"
TIMEFRAME = "1d"


class BootstrapError(ValueError):
    """Nothing to write (no base listed, no candle served): one line a user can act on."""


def universe_bases(markets: pd.DataFrame, quotes: Sequence[str]) -> list[str]:
    """The base coins of the product's universe (active spot markets in ``quotes``), sorted;
    ccxt already gives unified codes (Kraken's XBT is BTC, XDG is DOGE)."""
    universe = filter_universe(markets, list(quotes))
    return sorted({str(b).upper() for b in universe["base"] if str(b)})


def map_bases(
    markets: pd.DataFrame, bases: Iterable[str], quote: str
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """(base -> the other exchange's active spot ``BASE/QUOTE`` symbol, the bases it does not
    list that way, each with the reason): a missing coin is reported, never dropped silently."""
    quote = quote.strip().upper()
    spot = markets.loc[markets["spot"].astype(bool) & (markets["quote"].str.upper() == quote)]
    by_base = {str(row.base).upper(): row for row in spot.itertuples(index=False)}
    mapping: dict[str, str] = {}
    not_listed: list[dict[str, str]] = []
    for base in dict.fromkeys(b.strip().upper() for b in bases if b.strip()):
        row = by_base.get(base)
        if row is None:
            not_listed.append({"base": base, "reason": f"no {base}/{quote} spot market"})
        elif not bool(row.active):
            reason = f"{row.symbol} is listed but not trading (status {row.status})"
            not_listed.append({"base": base, "reason": reason})
        else:
            mapping[base] = str(row.symbol)
    return mapping, not_listed


def bootstrap_history(
    source: MarketSource,
    exchange_id: str,
    out_dir: Path | str,
    bases: Sequence[str],
    *,
    bases_from: str,
    quote: str = "USDT",
    since: pd.Timestamp | str = "2017-01-01",
    end: pd.Timestamp | None = None,
    max_symbols: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Fetch daily candles of ``bases`` from ``source`` (the other exchange) since ``since``
    and write them as a daily-only snapshot folder; returns the summary written to SOURCE.json.

    The folder is checked before any request, and nothing is written unless at least one
    candle came back (a failed bootstrap leaves no half snapshot behind).
    """
    if max_symbols is not None and max_symbols < 1:
        raise ValueError("max_symbols must be >= 1")
    start = utc(since)
    out = checked_out_dir(out_dir, overwrite)
    markets = source.fetch_markets()
    mapping, not_listed = map_bases(markets, bases, quote)
    if max_symbols is not None:
        mapping = dict(list(mapping.items())[:max_symbols])
    if not mapping:
        raise BootstrapError(
            f"{exchange_id} lists none of the {len(bases)} base coins as an active "
            f"BASE/{quote.upper()} spot market; nothing written"
        )
    fetched_at = pd.Timestamp(markets["as_of"].iloc[0])
    stop = utc(end) if end is not None else fetched_at
    symbols = list(mapping.values())
    candles, report, requests = fetch_candles(source, symbols, (TIMEFRAME,), start, stop)
    daily = candles[TIMEFRAME]
    if daily.empty:
        raise BootstrapError(
            f"{exchange_id} served no daily candle for {len(symbols)} symbols since "
            f"{start:%Y-%m-%d} ({len(report['failures'])} failed); nothing written"
        )
    summary = {
        "purpose": PURPOSE,
        "exchange": exchange_id,
        "source": source.describe(),
        "fetched_at": fetched_at.isoformat(),
        "since": start.isoformat(),
        "quote": quote.upper(),
        "bases_from": bases_from,
        "mapping": mapping,
        "not_listed": not_listed,
        "symbols": symbols,
        "requests": requests,
        "note": (
            f"daily candles of {exchange_id} only, never Kraken's: read only when --snapshot, "
            "CRYPTO_ASSETS_SNAPSHOT_DIR or CRYPTO_ASSETS_TRAINING_HISTORY_DIR names this folder"
        ),
        **report,
    }
    labelled = {TIMEFRAME: daily.assign(source=exchange_id)}
    listed = markets.loc[markets["symbol"].isin(symbols)].reset_index(drop=True)
    return write_snapshot(out, labelled, listed, summary, overwrite)
