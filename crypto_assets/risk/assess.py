"""The risk verdict per coin and the risk-checked top list (rules in ``risk.rules``).

``assess_risk`` judges every coin of the top list and of the watch list from its daily candles
and its order book; ``check_top_list`` puts the verdict beside the top list, in the top list's
order, keeping held-back coins listed with their reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_assets.ml.selection import TOP_COLUMNS
from crypto_assets.risk.allocation import coin_stats, suggest_weights, usd_rate
from crypto_assets.risk.book import BOOK_METRIC_COLUMNS, book_metrics
from crypto_assets.risk.clusters import correlation_clusters
from crypto_assets.risk.rules import RiskRules
from crypto_assets.risk.source import quote_of

RISK_COLUMNS = [
    "symbol",
    "role",  # "top" (on the top list) or "watch" (watch list only: judged, never allocated)
    "exchange",
    "book_as_of",
    "book_source",
    "book_current",
    "spread",
    "depth_1pct_usd",
    "depth_2pct_usd",
    "ticket_usd",
    "buy_slippage",
    "sell_slippage",
    "ticket_fits",
    "last_close",
    "sigma_daily",
    "return_days",
    "dollar_volume_usd",
    "listing_age_days",
    "cluster",
    "cluster_size",
    "cluster_peers",
    "weight_vol",
    "weight_capped",
    "suggested_allocation",
    "allocation_usd",
    "held_back",
    "held_back_reason",
    "risk_flags",
]
CHECKED_TOP_COLUMNS = [*TOP_COLUMNS, *[c for c in RISK_COLUMNS if c not in ("symbol", "role")]]
_TEXT = {"symbol", "role", "exchange", "book_source", "cluster", "cluster_peers"}
_TEXT |= {"held_back_reason", "risk_flags", "model_version_30d", "explanation"}
_BOOL = {"book_current", "ticket_fits", "held_back"}
_TIME = {"book_as_of", "as_of", "day"}
_INT = {"return_days", "cluster_size"}


def _best_books(books: pd.DataFrame, day_end: pd.Timestamp, candles: pd.DataFrame, rules):
    """Book metrics per symbol (the deepest exchange's when several), ticket in quote units
    converted at the book's own time."""
    max_age = pd.Timedelta(hours=rules.book_max_age_hours)
    if books.empty:
        extra = ["usd_rate", "depth_1pct_usd", "depth_2pct_usd", "book_current"]
        return pd.DataFrame(columns=[*BOOK_METRIC_COLUMNS, *extra])
    per_book = books.groupby("symbol")["as_of"].first()
    tickets = {
        symbol: rules.ticket_usd / usd_rate(quote_of(symbol), candles, as_of, max_age)
        for symbol, as_of in per_book.items()
    }
    metrics = book_metrics(books, tickets, rules.max_slippage)
    rates = {s: rules.ticket_usd / t for s, t in tickets.items()}
    metrics["usd_rate"] = metrics["symbol"].map(rates).astype("float64")
    depth_quote = metrics[["depth_2pct_bid", "depth_2pct_ask"]].min(axis=1)
    metrics["depth_2pct_usd"] = depth_quote * metrics["usd_rate"]
    depth_quote_1 = metrics[["depth_1pct_bid", "depth_1pct_ask"]].min(axis=1)
    metrics["depth_1pct_usd"] = depth_quote_1 * metrics["usd_rate"]
    metrics["book_current"] = (metrics["as_of"] - day_end).abs() <= max_age
    metrics = metrics.sort_values(["symbol", "depth_2pct_usd"], ascending=[True, False])
    return metrics.drop_duplicates("symbol").reset_index(drop=True)


def _verdict(row: pd.Series, rules: RiskRules) -> tuple[list[str], list[str]]:
    """(hard-rule failures, warnings) of one coin."""
    hard, warn = [], []
    has_book = pd.notna(row.get("book_as_of"))
    rate_known = np.isfinite(row.get("usd_rate", np.nan))
    pct = "{:.2%}".format
    if not has_book:
        (hard if rules.require_book else warn).append("no order book")
    elif not row["book_current"]:
        text = f"order book from {row['book_as_of']:%Y-%m-%d %H:%M} UTC is not current"
        (hard if rules.require_book else warn).append(text + ": slippage/spread not enforced")
    elif not rate_known:
        warn.append(f"no USD rate for {quote_of(row['symbol'])} at the book's time")
    else:
        worst = max(row["buy_slippage"], row["sell_slippage"])
        if not (row["buy_fillable"] and row["sell_fillable"]):
            hard.append(f"a ${rules.ticket_usd:,.0f} ticket does not fit in the visible book")
        elif worst > rules.max_slippage:
            hard.append(
                f"slippage {pct(worst)} for ${rules.ticket_usd:,.0f} > {pct(rules.max_slippage)}"
            )
        if row["spread"] > rules.max_spread:
            hard.append(f"spread {pct(row['spread'])} > {pct(rules.max_spread)}")
        elif row["spread"] > rules.warn_spread:
            warn.append(f"wide spread {pct(row['spread'])}")
        if row["depth_2pct_usd"] < rules.thin_depth_multiple * rules.ticket_usd:
            warn.append(f"thin book: ${row['depth_2pct_usd']:,.0f} within 2 %")
    volume = row["dollar_volume_usd"]
    if not np.isfinite(volume):
        warn.append("daily dollar volume unknown (no candles or no USD rate)")
    elif volume < rules.min_dollar_volume:
        hard.append(f"daily dollar volume ${volume:,.0f} < ${rules.min_dollar_volume:,.0f}")
    elif volume < rules.warn_dollar_volume:
        warn.append(f"microcap liquidity: ${volume:,.0f} a day")
    if row["return_days"] < rules.min_return_days:
        hard.append(f"{row['return_days']} daily returns < {rules.min_return_days}: cannot size")
    young = row["young_listing_known"] and row["listing_age_days"] < rules.young_listing_days
    if young:
        warn.append(f"young listing: {row['listing_age_days']:.0f} days of history")
    return hard, warn


def assess_risk(
    top_symbols: list[str],
    watch_symbols: list[str],
    candles: pd.DataFrame,
    books: pd.DataFrame,
    day_end: pd.Timestamp,
    rules: RiskRules,
    first_candles: pd.Series | None = None,
) -> pd.DataFrame:
    """RISK_COLUMNS, one row per coin (top list first). ``candles``: canonical daily candles
    (at least ``rules.lookback_days`` before ``day_end``); ``books``: canonical book levels."""
    top = list(dict.fromkeys(top_symbols))
    watch = [s for s in dict.fromkeys(watch_symbols) if s not in top]
    symbols = top + watch
    frame = pd.DataFrame({"symbol": symbols, "role": ["top"] * len(top) + ["watch"] * len(watch)})
    if not symbols:
        return typed_risk(pd.DataFrame(columns=RISK_COLUMNS))
    frame = frame.merge(coin_stats(candles, symbols, day_end, rules, first_candles), on="symbol")
    frame = frame.merge(correlation_clusters(candles, symbols, day_end, rules), on="symbol")
    metrics = _best_books(books, day_end, candles, rules)
    metrics = metrics.rename(columns={"as_of": "book_as_of", "source": "book_source"})
    frame = frame.merge(metrics, on="symbol", how="left")
    frame["book_current"] = frame["book_current"].astype("boolean").fillna(False).astype(bool)
    frame["ticket_usd"] = rules.ticket_usd
    reasons, flags = [], []
    for _, row in frame.iterrows():  # one iteration per coin
        hard, warn = _verdict(row, rules)
        if row["role"] == "watch":  # never allocated, so never "held back": say it as a flag
            warn = [*warn, *(f"would be held back: {h}" for h in hard)]
            hard = []
        reasons.append("; ".join(hard))
        flags.append("; ".join(warn))
    frame["held_back_reason"], frame["risk_flags"] = reasons, flags
    frame["held_back"] = frame["held_back_reason"] != ""
    allocated = suggest_weights(frame[frame["role"] == "top"], rules)
    frame = frame.merge(
        allocated[["symbol", "weight_vol", "weight_capped", "suggested_allocation"]],
        on="symbol",
        how="left",
    )
    frame["allocation_usd"] = frame["suggested_allocation"] * rules.portfolio_usd
    return typed_risk(frame)


def typed_risk(frame: pd.DataFrame, columns: list[str] = RISK_COLUMNS) -> pd.DataFrame:
    """Exactly ``columns`` with fixed dtypes, even when empty (storage never guesses)."""
    out = frame.reindex(columns=columns)
    for column in columns:
        if column in _TEXT:
            out[column] = out[column].astype("string")
        elif column in _BOOL:
            out[column] = out[column].astype("boolean").fillna(False).astype(bool)
        elif column in _TIME:
            out[column] = pd.to_datetime(out[column], utc=True).astype("datetime64[ns, UTC]")
        elif column in _INT:
            out[column] = pd.to_numeric(out[column]).fillna(0).astype("int64")
        else:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out.reset_index(drop=True)


def check_top_list(
    top: pd.DataFrame,
    candles: pd.DataFrame,
    books: pd.DataFrame,
    day_end: pd.Timestamp,
    rules: RiskRules,
    watch_symbols: list[str] = (),
    first_candles: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the top list with its risk columns, in the top list's order; the per-coin risk table).

    Every coin of the top list stays listed: one that fails a hard rule has
    ``held_back=True``, a ``held_back_reason`` and no allocation."""
    risk = assess_risk(
        list(top["symbol"]), list(watch_symbols), candles, books, day_end, rules, first_candles
    )
    checked = top.merge(risk.drop(columns="role"), on="symbol", how="left", validate="1:1")
    return typed_risk(checked, CHECKED_TOP_COLUMNS), risk
