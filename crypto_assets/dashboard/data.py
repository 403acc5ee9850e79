"""What the dashboard shows, read from the PUBLISHED read copy only.

Every function takes an open read-only connection to the published copy
(``crypto_assets.storage.open_published``), so one request reads one consistent publication and
never touches the pipeline's own database file. The list of passing coins and the sentence
saying why it is what it is come from the same function as the ``top_coins`` asset and the
``top`` command (``ml.selection.select_top_coins``); risk columns are joined from the stored
risk verdicts of the same day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from crypto_assets import storage
from crypto_assets.frames import utc, utc_columns
from crypto_assets.horizons import HORIZON_NAMES, HORIZONS, TIMEFRAMES
from crypto_assets.ml.selection import near_misses, select_top_coins

RISK_SHOWN = [
    "symbol",
    "held_back",
    "held_back_reason",
    "risk_flags",
    "suggested_allocation",
    "allocation_usd",
    "cluster",
]
PRICE_DAYS = 365  # daily closes on a coin page


def _newest_day(conn: duckdb.DuckDBPyConnection, table: str, column: str = "day"):
    if not storage.table_exists(conn, table):
        return None
    found = conn.execute(f'select max("{column}") from {storage.SCHEMA}."{table}"').fetchone()
    return utc(found[0]) if found and found[0] is not None else None


def _day_rows(conn: duckdb.DuckDBPyConnection, table: str, day: pd.Timestamp) -> pd.DataFrame:
    frame = storage.read_table(conn, table, "day = ?", [day.to_pydatetime()])
    return utc_columns(frame, *(c for c in ("day", "as_of") if c in frame)) if len(frame) else frame


@dataclass
class Signals:
    """The signals page: passing coins (not held back), held-back coins, near misses."""

    day: pd.Timestamp | None
    reason: str
    threshold: float
    passing: pd.DataFrame
    held_back: pd.DataFrame
    near: pd.DataFrame
    risk_assessed: bool
    market_day: pd.Timestamp | None  # newest daily candle: how far the data reach
    notes: list[str] = field(default_factory=list)


def signals(conn: duckdb.DuckDBPyConnection, threshold: float, near: int = 5) -> Signals:
    """The newest day's passing coins sorted by expected 30d return, with their risk verdicts;
    held-back coins apart with their reason; the near misses below the threshold."""
    day = _newest_day(conn, "predictions")
    market_day = _newest_day(conn, "clean_ohlcv", "date")
    if day is None:
        empty = pd.DataFrame()
        reason = (
            "no predictions published yet: no model is in use for any horizon, or no run has "
            "finished since the database was created"
        )
        return Signals(None, reason, threshold, empty, empty, empty, False, market_day)
    predictions = _day_rows(conn, "predictions", day)
    table, reason = select_top_coins(predictions, threshold)
    misses = near_misses(predictions, threshold, n=near) if near else pd.DataFrame()
    risk = _day_rows(conn, "risk_metrics", day)
    assessed = bool(len(risk))
    if assessed:
        risk = risk[risk["role"] == "top"][RISK_SHOWN] if "role" in risk else risk[RISK_SHOWN]
        table = table.merge(risk, on="symbol", how="left")
    else:
        table = table.assign(**{c: pd.NA for c in RISK_SHOWN if c != "symbol"})
    unjudged = table["held_back"].isna()
    table["held_back"] = table["held_back"].astype("boolean").fillna(False).astype(bool)
    table["risk_flags"] = (
        table["risk_flags"]
        .astype("string")
        .mask(unjudged, "risk not assessed for this coin on this day")
    )
    table = table.sort_values("expected_return_30d", ascending=False, kind="stable")
    passing = table[~table["held_back"]].reset_index(drop=True)
    held = table[table["held_back"]].reset_index(drop=True)
    notes = []
    if market_day is not None and market_day.normalize() > day:
        notes.append(
            f"these signals are from {day:%Y-%m-%d}; the market data reach {market_day:%Y-%m-%d}"
        )
    return Signals(day, reason, threshold, passing, held, misses, assessed, market_day, notes)


def known_symbols(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """Coins a coin page exists for: predicted, or judged by the risk rules (watch list)."""
    symbols: set[str] = set()
    for table in ("predictions", "risk_metrics"):
        if storage.table_exists(conn, table):
            rows = conn.execute(f"select distinct symbol from {storage.SCHEMA}.{table}").fetchall()
            symbols |= {r[0] for r in rows}
    return symbols


def outcomes(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Each prediction beside what happened: the realised net return of the candle it was made
    on (``labels.fwd_ret_<h>`` of the candle opened at ``as_of - timeframe``) once that label
    is known; ``outcome`` is "up", "down" or "pending"."""
    if predictions.empty:
        return predictions.assign(realised_return=pd.Series(dtype=float), outcome="")
    parts = []
    for horizon, rows in predictions.groupby("horizon", sort=False):
        spec = HORIZONS[str(horizon)]
        rows = rows.assign(candle=rows["as_of"] - TIMEFRAMES[spec.timeframe])
        column = f"fwd_ret_{horizon}"
        if len(labels) and column in labels:
            known = labels[labels["timeframe"] == spec.timeframe][["symbol", "date", column]]
            rows = rows.merge(
                known.rename(columns={"date": "candle", column: "realised_return"}),
                on=["symbol", "candle"],
                how="left",
            )
        else:
            rows = rows.assign(realised_return=np.nan)
        parts.append(rows.drop(columns="candle"))
    out = pd.concat(parts, ignore_index=True)
    out["outcome"] = np.where(
        out["realised_return"].isna(), "pending", np.where(out["realised_return"] > 0, "up", "down")
    )
    return out


def coin_detail(conn: duckdb.DuckDBPyConnection, symbol: str) -> dict:
    """Price history, past calls with outcomes, the latest explanation, risk detail and book
    depth of one coin (empty frames where a table is not published yet)."""
    prices = storage.read_table(conn, "clean_ohlcv", "symbol = ? and timeframe = '1d'", [symbol])
    if len(prices):
        prices = utc_columns(prices, "date").sort_values("date").tail(PRICE_DAYS)
    predictions = storage.read_table(conn, "predictions", "symbol = ?", [symbol])
    calls = pd.DataFrame()
    if len(predictions):
        predictions = utc_columns(predictions, "day", "as_of")
        labels = storage.read_table(conn, "labels", "symbol = ?", [symbol])
        labels = utc_columns(labels, "date") if len(labels) else labels
        order = {h: i for i, h in enumerate(HORIZON_NAMES)}
        calls = outcomes(predictions, labels)
        calls = calls.assign(_h=calls["horizon"].map(order)).sort_values(
            ["day", "_h"], ascending=[False, True]
        )
        calls = calls.drop(columns="_h").reset_index(drop=True)
    risk = storage.read_table(conn, "risk_metrics", "symbol = ?", [symbol])
    risk = utc_columns(risk, "day", "book_as_of").sort_values("day") if len(risk) else risk
    books = pd.DataFrame()
    if len(risk):
        books = storage.read_table(
            conn, "order_books", "symbol = ? and day = ?", [symbol, risk["day"].max()]
        )
    live = storage.read_table(conn, "live_ohlcv_hourly", "symbol = ?", [symbol])
    return {
        "prices": prices,
        "calls": calls,
        "latest": calls[calls["day"] == calls["day"].max()] if len(calls) else calls,
        "risk": risk.iloc[-1].to_dict() if len(risk) else None,
        "books": books,
        "live": utc_columns(live, "date").sort_values("date").iloc[-1].to_dict()
        if len(live)
        else None,
    }


def depth_curve(books: pd.DataFrame, max_levels: int = 200) -> pd.DataFrame:
    """Cumulative quote value per side, from the best level outwards (the book-depth plot)."""
    if books.empty:
        return pd.DataFrame(columns=["side", "price", "cumulative_quote"])
    parts = []
    best = books[books["exchange"] == books["exchange"].iloc[0]]  # one exchange's book
    for side, rows in best.groupby("side"):
        rows = rows.sort_values("level").head(max_levels)
        cumulative = (rows["price"] * rows["amount"]).cumsum()
        parts.append(
            pd.DataFrame({"side": side, "price": rows["price"], "cumulative_quote": cumulative})
        )
    return pd.concat(parts, ignore_index=True)
