"""Order-book analytics: spread, depth near the mid, and the cost of a ticket by walking the
book, per side.

Definitions (fractions, not percent; quote-currency amounts):
- ``mid`` = (best bid + best ask) / 2; ``spread`` = (best ask - best bid) / mid.
- ``depth_{1,2}pct_{bid,ask}`` = quote value (price x amount) resting within 1 % / 2 % of the
  mid on that side.
- ``buy_slippage``: spend ``ticket_quote`` walking the asks from the best level; the average
  fill price vs the mid, (avg - mid) / mid. ``sell_slippage``: sell ``ticket_quote / mid`` base
  units walking the bids; (mid - avg) / mid. Both include half the spread (the cost a market
  order really pays) and exclude fees.
- ``*_fillable``: the visible book holds the whole ticket on that side. When it does not, the
  slippage is of the part that fills and the ticket does not fit.
- ``ticket_fits``: fillable on both sides with both slippages <= ``max_slippage``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BOOK_METRIC_COLUMNS = [
    "symbol",
    "exchange",
    "as_of",
    "source",
    "best_bid",
    "best_ask",
    "mid",
    "spread",
    "depth_1pct_bid",
    "depth_1pct_ask",
    "depth_2pct_bid",
    "depth_2pct_ask",
    "ticket_quote",
    "buy_slippage",
    "sell_slippage",
    "buy_fillable",
    "sell_fillable",
    "ticket_fits",
    "bid_levels",
    "ask_levels",
]


def walk_buy(ask_prices: np.ndarray, ask_amounts: np.ndarray, quote: float) -> tuple[float, bool]:
    """(average fill price, fully filled) spending ``quote`` on asks sorted best first."""
    cost = np.cumsum(ask_prices * ask_amounts)
    if not quote > 0 or not len(cost):  # also NaN: no size known
        return float("nan"), False
    full = int(np.searchsorted(cost, quote, side="left"))  # first level that completes it
    if full >= len(cost):
        return float(cost[-1] / ask_amounts.sum()), False
    spent_before = cost[full - 1] if full else 0.0
    base = (ask_amounts[:full].sum() if full else 0.0) + (quote - spent_before) / ask_prices[full]
    return float(quote / base), True


def walk_sell(bid_prices: np.ndarray, bid_amounts: np.ndarray, base: float) -> tuple[float, bool]:
    """(average fill price, fully filled) selling ``base`` units into bids sorted best first."""
    filled = np.cumsum(bid_amounts)
    if not base > 0 or not len(filled):
        return float("nan"), False
    full = int(np.searchsorted(filled, base, side="left"))
    if full >= len(filled):
        return float((bid_prices * bid_amounts).sum() / filled[-1]), False
    before = filled[full - 1] if full else 0.0
    proceeds = (bid_prices[:full] * bid_amounts[:full]).sum() + (base - before) * bid_prices[full]
    return float(proceeds / base), True


def _depth(prices: np.ndarray, amounts: np.ndarray, mid: float, band: float, bid: bool) -> float:
    inside = prices >= mid * (1 - band) if bid else prices <= mid * (1 + band)
    return float((prices[inside] * amounts[inside]).sum())


def one_book_metrics(
    bids: np.ndarray, asks: np.ndarray, ticket_quote: float, max_slippage: float
) -> dict[str, float | bool | int]:
    """Metrics of one book; ``bids``/``asks`` are (n, 2) arrays [price, amount], best first."""
    out: dict[str, float | bool | int] = {"bid_levels": len(bids), "ask_levels": len(asks)}
    if not len(bids) or not len(asks):
        return out | {"buy_fillable": False, "sell_fillable": False, "ticket_fits": False}
    best_bid, best_ask = float(bids[0, 0]), float(asks[0, 0])
    mid = (best_bid + best_ask) / 2
    buy_avg, buy_ok = walk_buy(asks[:, 0], asks[:, 1], ticket_quote)
    sell_avg, sell_ok = walk_sell(bids[:, 0], bids[:, 1], ticket_quote / mid)
    buy_slip = (buy_avg - mid) / mid
    sell_slip = (mid - sell_avg) / mid
    fits = bool(buy_ok and sell_ok and max(buy_slip, sell_slip) <= max_slippage)
    return out | {
        "best_bid": best_bid,
        "best_ask": best_ask,
        "mid": mid,
        "spread": (best_ask - best_bid) / mid,
        **{
            f"depth_{int(band * 100)}pct_{side}": _depth(
                levels[:, 0], levels[:, 1], mid, band, side == "bid"
            )
            for band in (0.01, 0.02)
            for side, levels in (("bid", bids), ("ask", asks))
        },
        "ticket_quote": ticket_quote,
        "buy_slippage": buy_slip,
        "sell_slippage": sell_slip,
        "buy_fillable": buy_ok,
        "sell_fillable": sell_ok,
        "ticket_fits": fits,
    }


def book_metrics(
    books: pd.DataFrame, ticket_quote: dict[str, float] | float, max_slippage: float
) -> pd.DataFrame:
    """BOOK_METRIC_COLUMNS per (symbol, exchange) of canonical book levels. ``ticket_quote``:
    one size for all, or per symbol (NaN: no size known, slippage left NaN)."""
    rows = []
    for (symbol, exchange), book in books.groupby(["symbol", "exchange"], sort=True):
        book = book.sort_values(["side", "level"], kind="stable")
        bids = book.loc[book["side"] == "bid", ["price", "amount"]].to_numpy("float64")
        asks = book.loc[book["side"] == "ask", ["price", "amount"]].to_numpy("float64")
        size = ticket_quote.get(symbol, np.nan) if isinstance(ticket_quote, dict) else ticket_quote
        metrics = one_book_metrics(bids, asks, float(size), max_slippage)
        if not np.isfinite(size):
            for key in ("buy_fillable", "sell_fillable", "ticket_fits"):
                metrics[key] = False
        rows.append(
            {
                "symbol": symbol,
                "exchange": exchange,
                "as_of": book["as_of"].iloc[0],
                "source": book["source"].iloc[0],
                **metrics,
            }
        )
    frame = pd.DataFrame(rows, columns=BOOK_METRIC_COLUMNS)
    for column in ("buy_fillable", "sell_fillable", "ticket_fits"):
        frame[column] = frame[column].fillna(False).astype(bool)
    for column in ("bid_levels", "ask_levels"):
        frame[column] = frame[column].fillna(0).astype("int64")
    for column in ("symbol", "exchange", "source"):
        frame[column] = frame[column].astype("string")
    frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True).astype("datetime64[ns, UTC]")
    numeric = [c for c in BOOK_METRIC_COLUMNS if c not in _NON_FLOAT]
    frame[numeric] = frame[numeric].astype("float64")
    return frame


_NON_FLOAT = {
    "symbol",
    "exchange",
    "as_of",
    "source",
    "buy_fillable",
    "sell_fillable",
    "ticket_fits",
    "bid_levels",
    "ask_levels",
}
