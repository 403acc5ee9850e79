"""Book analytics: walking the book by hand-checked arithmetic, then properties on REAL books."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_assets.risk.book import book_metrics, walk_buy, walk_sell
from crypto_assets.risk.source import BOOK_COLUMNS, book_levels

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _book(bids, asks, symbol: str = "A/USD") -> pd.DataFrame:
    return book_levels(symbol, "test", bids, asks, T0, "inline")


def test_walk_buy_and_sell_by_hand() -> None:
    prices, amounts = np.array([100.0, 101.0, 102.0]), np.array([1.0, 1.0, 1.0])
    # 150 quote: 1 unit at 100, then 50/101 units at 101 -> avg 150 / (1 + 50/101)
    avg, full = walk_buy(prices, amounts, 150.0)
    assert full and avg == pytest.approx(150.0 / (1 + 50 / 101))
    assert walk_buy(prices, amounts, 100.0) == (pytest.approx(100.0), True)  # exactly one level
    avg, full = walk_buy(prices, amounts, 1_000.0)
    assert not full and avg == pytest.approx(303.0 / 3)  # what fills: the whole book
    bids = np.array([99.0, 98.0])
    avg, full = walk_sell(bids, np.array([1.0, 2.0]), 2.0)
    assert full and avg == pytest.approx((99.0 + 98.0) / 2)
    assert walk_sell(bids, np.array([1.0, 2.0]), 5.0)[1] is False


def test_metrics_spread_depth_and_fit() -> None:
    book = _book(bids=[(99.0, 2.0), (98.5, 10.0), (97.0, 100.0)], asks=[(101.0, 1.0), (102.0, 5.0)])
    row = book_metrics(book, ticket_quote=150.0, max_slippage=0.01).iloc[0]
    assert row["mid"] == 100.0 and row["spread"] == pytest.approx(0.02)
    assert row["depth_1pct_bid"] == pytest.approx(99.0 * 2)  # 98.5 lies 1.5 % below
    assert row["depth_2pct_bid"] == pytest.approx(99.0 * 2 + 98.5 * 10)
    assert row["depth_1pct_ask"] == pytest.approx(101.0)
    buy_avg = 150.0 / (1 + 49 / 102)
    assert row["buy_slippage"] == pytest.approx((buy_avg - 100) / 100)
    assert row["sell_slippage"] == pytest.approx(0.01)  # 1.5 units all at 99
    assert row["buy_fillable"] and row["sell_fillable"]
    assert not row["ticket_fits"]  # buy slippage ~1.35 % > 1 %
    assert book_metrics(book, 150.0, 0.02).iloc[0]["ticket_fits"]
    big = book_metrics(book, 10_000.0, 0.5).iloc[0]
    assert not big["buy_fillable"] and not big["ticket_fits"]


def test_per_symbol_tickets_and_unknown_size() -> None:
    books = pd.concat(
        [_book([(9.0, 5.0)], [(11.0, 5.0)], "A/USD"), _book([(1.0, 5.0)], [(1.1, 5.0)], "B/EUR")]
    )
    metrics = book_metrics(books, {"A/USD": 20.0}, 0.5).set_index("symbol")
    assert metrics.loc["A/USD", "ticket_fits"]
    assert (
        np.isnan(metrics.loc["B/EUR", "buy_slippage"]) and not metrics.loc["B/EUR", "ticket_fits"]
    )


def test_book_levels_sorts_drops_empty_and_refuses_a_crossed_book() -> None:
    frame = _book(bids=[(1.0, 1.0), (2.0, 0.0), (1.5, 3.0)], asks=[(3.0, 1.0), (2.5, 1.0)])
    assert list(frame.columns) == BOOK_COLUMNS
    assert frame[frame.side == "bid"]["price"].tolist() == [1.5, 1.0]  # the empty level is gone
    assert frame[frame.side == "ask"]["price"].tolist() == [2.5, 3.0]
    with pytest.raises(ValueError, match="crossed"):
        _book(bids=[(3.0, 1.0)], asks=[(2.9, 1.0)])


def test_real_books_slippage_grows_with_the_ticket(recorded_books) -> None:
    fetch = recorded_books.fetch_order_books(["XMR/USD", "NKN/USDT", "BTC/CHF"], depth=1000)
    previous = None
    for ticket in (1_000.0, 10_000.0, 100_000.0):
        metrics = book_metrics(fetch.books, ticket, 0.01).set_index("symbol")
        half_spread = metrics["spread"] / 2
        assert (metrics["buy_slippage"] >= half_spread - 1e-12).all()  # never better than best
        assert (metrics["sell_slippage"] >= half_spread - 1e-12).all()
        if previous is not None:
            assert (metrics["buy_slippage"] >= previous["buy_slippage"]).all()
        previous = metrics
    xmr = book_metrics(fetch.books, 10_000.0, 0.01).set_index("symbol").loc["XMR/USD"]
    assert (xmr["best_bid"], xmr["best_ask"]) == (353.64, 354.48)  # the recorded top of book
    assert xmr["ticket_fits"]
