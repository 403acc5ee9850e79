"""The market universe: which markets exist, which we trade on, and how that changed.

Pure pandas (no Dagster): the daily universe asset and its checks build on these functions.
The universe is discovered from the exchange (ccxt's parsed ``exchange.markets``), never from a
hard-coded list, so listings and delistings show up as a diff between two days.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crypto_assets.frames import utc

MARKET_COLUMNS: list[str] = [
    "symbol",  # unified "BASE/QUOTE", e.g. "BTC/USD"
    "base",
    "quote",
    "exchange_symbol",  # the exchange's own id, e.g. Kraken "XXBTZUSD"
    "altname",  # Kraken altname ("XBTUSD"), None elsewhere
    "wsname",  # Kraken WebSocket name ("XBT/USD"), None elsewhere
    "active",
    "status",  # exchange status string: "online", "cancel_only", "post_only", ...
    "spot",
    "ordermin",  # minimum order size in base units, when the exchange says
    "costmin",  # minimum order cost in quote units, when the exchange says
    "as_of",
    "source",
]
DEFAULT_QUOTES: tuple[str, ...] = ("USD", "USDT", "USDC")
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$")


def _opt_float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def empty_markets() -> pd.DataFrame:
    """An empty frame with the market columns and dtypes (so concat/diff never guess)."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in MARKET_COLUMNS})
    frame["active"] = frame["active"].astype(bool)
    frame["spot"] = frame["spot"].astype(bool)
    for column in ("ordermin", "costmin"):
        frame[column] = frame[column].astype("float64")
    frame["as_of"] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame


def _status(market: Mapping[str, Any]) -> str:
    info = market.get("info") if isinstance(market.get("info"), Mapping) else {}
    raw = info.get("status")
    if isinstance(raw, str) and raw:
        return raw
    active = market.get("active")  # the exchange gave no status string: say what ccxt says
    if active is None:
        return "unknown"
    return "online" if active else "inactive"  # e.g. Kraken's 2015 AssetPairs (no status)


def markets_frame(
    ccxt_markets: Mapping[str, Mapping[str, Any]], as_of: pd.Timestamp, source: str
) -> pd.DataFrame:
    """One row per market from ccxt's ``exchange.markets`` (ccxt already did the parsing).

    ``active`` is ccxt's verdict (Kraken: status == "online"); a market whose status is
    missing counts as inactive rather than silently tradeable.
    """
    stamp = utc(as_of)
    rows = []
    for symbol, market in ccxt_markets.items():
        info = market.get("info") if isinstance(market.get("info"), Mapping) else {}
        limits = market.get("limits") or {}
        rows.append(
            {
                "symbol": str(market.get("symbol") or symbol),
                "base": str(market.get("base") or ""),
                "quote": str(market.get("quote") or ""),
                "exchange_symbol": str(market.get("id") or symbol),
                "altname": _opt_str(market.get("altname") or info.get("altname")),
                "wsname": _opt_str(market.get("wsId") or info.get("wsname")),
                "active": bool(market.get("active")),
                "status": _status(market),
                "spot": bool(market.get("spot")),
                "ordermin": _opt_float((limits.get("amount") or {}).get("min")),
                "costmin": _opt_float((limits.get("cost") or {}).get("min")),
                "as_of": stamp,
                "source": source,
            }
        )
    if not rows:
        return empty_markets()
    frame = pd.DataFrame(rows, columns=MARKET_COLUMNS)
    frame["as_of"] = frame["as_of"].astype("datetime64[ns, UTC]")
    frame[["ordermin", "costmin"]] = frame[["ordermin", "costmin"]].astype("float64")
    return frame.sort_values("symbol", kind="stable").reset_index(drop=True)


def validate_symbols(symbols: Iterable[str], what: str = "symbol") -> list[str]:
    """Upper-cased "BASE/QUOTE" symbols; raises ValueError naming every malformed entry."""
    cleaned = [str(s).strip().upper() for s in symbols]
    bad = [s for s in cleaned if not _SYMBOL_RE.match(s)]
    if bad:
        raise ValueError(f"malformed {what}(s) {bad}: expected 'BASE/QUOTE', e.g. 'BTC/USD'")
    return cleaned


# Bases that are fiat money or track it (stablecoins, tokenised gold): their candles are real
# market data, but they are not coins that can "grow fast", and a calm peg would otherwise top
# a ranking by P(net return > 0), so the top list never shows them.
# This is a classification of currencies, not a list of the universe, which always comes
# from the exchange.
PEGGED_BASES = frozenset(
    {
        "USD",
        "EUR",
        "GBP",
        "CHF",
        "CAD",
        "AUD",
        "JPY",
        "ZUSD",
        "ZEUR",
        "ZGBP",
        "ZCAD",
        "ZJPY",
        "USDT",
        "USDC",
        "DAI",
        "TUSD",
        "BUSD",
        "FDUSD",
        "PYUSD",
        "USDE",
        "USDS",
        "USDD",
        "USDP",
        "USDG",
        "USDQ",
        "USDR",
        "RLUSD",
        "GUSD",
        "LUSD",
        "FRAX",
        "SUSD",
        "EURT",
        "EURC",
        "EURI",
        "EURR",
        "EUROP",
        "AEUR",
        "TGBP",
        "PAXG",
        "XAUT",
        "UST",
        "USTC",
        "USD1",
    }
)


def filter_universe(
    markets: pd.DataFrame,
    quotes: list[str] | tuple[str, ...] = DEFAULT_QUOTES,
    *,
    active_only: bool = True,
    spot_only: bool = True,
    symbols_allow: list[str] | None = None,
    symbols_deny: list[str] | None = None,
    exclude_pegged: bool = False,
) -> pd.DataFrame:
    """The markets the pipeline follows: active spot markets in the given quote currencies
    (optionally without fiat-pegged bases; the top list never recommends those anyway).

    An allow list narrows the result further (it never adds an inactive or off-quote market);
    the deny list always wins. Malformed list entries raise ValueError (user input).
    """
    missing = [c for c in ("symbol", "quote", "active", "spot") if c not in markets.columns]
    if missing:
        raise ValueError(f"markets frame lacks columns {missing}")
    wanted = {q.strip().upper() for q in quotes}
    mask = markets["quote"].astype(str).str.upper().isin(wanted)
    if active_only:
        mask &= markets["active"].astype(bool)
    if spot_only:
        mask &= markets["spot"].astype(bool)
    if symbols_allow is not None:
        mask &= markets["symbol"].str.upper().isin(validate_symbols(symbols_allow, "allow"))
    if symbols_deny:
        mask &= ~markets["symbol"].str.upper().isin(validate_symbols(symbols_deny, "deny"))
    if exclude_pegged and "base" in markets.columns:
        mask &= ~markets["base"].astype(str).str.upper().isin(PEGGED_BASES)
    return markets.loc[mask].sort_values("symbol", kind="stable").reset_index(drop=True)


@dataclass
class UniverseDiff:
    """What changed between two universe listings (keyed by unified symbol by default)."""

    appeared: list[str] = field(default_factory=list)
    disappeared: list[str] = field(default_factory=list)
    went_inactive: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.appeared or self.disappeared or self.went_inactive or self.reactivated)

    def summary(self, max_items: int = 10) -> str:
        """One line for logs and asset-check metadata, e.g. "+190 new (...), -14 gone (...)"."""

        def part(sign: str, label: str, items: list[str]) -> str:
            shown = ", ".join(items[:max_items]) + (", ..." if len(items) > max_items else "")
            return f"{sign}{len(items)} {label}" + (f" ({shown})" if items else "")

        if not self.changed:
            return "no change"
        return "; ".join(
            [
                part("+", "appeared", self.appeared),
                part("-", "disappeared", self.disappeared),
                part("", "went inactive", self.went_inactive),
                part("", "reactivated", self.reactivated),
            ]
        )


def diff_universe(
    previous: pd.DataFrame, current: pd.DataFrame, *, key: str = "symbol"
) -> UniverseDiff:
    """Compare two listings (e.g. yesterday's and today's partition of the universe asset)."""
    for name, frame in (("previous", previous), ("current", current)):
        if key not in frame.columns or "active" not in frame.columns:
            raise ValueError(f"{name} markets frame lacks '{key}' or 'active'")
    before = dict(zip(previous[key].astype(str), previous["active"].astype(bool), strict=True))
    after = dict(zip(current[key].astype(str), current["active"].astype(bool), strict=True))
    both = before.keys() & after.keys()
    return UniverseDiff(
        appeared=sorted(after.keys() - before.keys()),
        disappeared=sorted(before.keys() - after.keys()),
        went_inactive=sorted(k for k in both if before[k] and not after[k]),
        reactivated=sorted(k for k in both if not before[k] and after[k]),
    )
