"""Coin <-> contract mapping: which coins of the universe live on which chains, under which
contract, and how sure the mapping is.

The maintained source is CoinGecko's public coin list with platforms
(``/coins/list?include_platform=true``: id, symbol, name, {platform: contract}). A symbol is not
an identity (hundreds of CoinGecko coins share popular tickers), so a universe coin maps to a
CoinGecko id only when the symbol is unique there, or when the user's override file names the
id; otherwise the row says ``ambiguous`` with the candidate count and maps to nothing. A chain's
own coin (BTC on bitcoin, ETH on ethereum, BNB on BSC, POL/MATIC on polygon) is ``native``:
protocol fact, not a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from crypto_assets.onchain.labels import canonical_chain, normalize_address
from crypto_assets.onchain.source import conform

COIN_LIST_SCHEMA = {
    "coingecko_id": "text",
    "symbol": "text",  # upper-case
    "name": "text",
    "chain": "text",  # canonical chain name, null for a coin without platforms
    "contract": "text",
    "source": "text",
    "as_of": "time",
}
CONTRACT_SCHEMA = {
    "coin": "text",  # universe base symbol (BTC, LINK, ...)
    "coingecko_id": "text",
    "chain": "text",
    "contract": "text",  # null for a native coin or an unmapped coin
    "match": "text",  # native | override | unique | ambiguous | not_listed | no_coin_list
    "candidates": "float",  # CoinGecko ids sharing the symbol
    "source": "text",
    "as_of": "time",
}
NATIVE_COINS = {  # coin -> the chain it is the native coin of
    "BTC": "bitcoin",
    "ETH": "ethereum",
    "BNB": "bsc",
    "POL": "polygon",
    "MATIC": "polygon",
}
NATIVE_SOURCE = "protocol (native coin of its chain)"


def parse_coin_list(payload: Any, source: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """CoinGecko ``/coins/list?include_platform=true`` -> one row per (coin, platform); a coin
    without platforms keeps one row with null chain. Raises on a body that is not that list."""
    if not isinstance(payload, list):
        raise ValueError(f"CoinGecko coin list must be a JSON array, got {type(payload).__name__}")
    rows = []
    for coin in payload:
        if not isinstance(coin, Mapping) or "id" not in coin or "symbol" not in coin:
            raise ValueError(f"CoinGecko coin list entry without id/symbol: {coin!r}"[:200])
        platforms = coin.get("platforms") or {}
        base = (coin["id"], str(coin["symbol"]).upper(), coin.get("name"))
        listed = [(p, a) for p, a in platforms.items() if p and a]
        if not listed:
            rows.append((*base, None, None))
        for platform, address in listed:
            chain = canonical_chain(platform)
            rows.append((*base, chain, normalize_address(chain, address)))
    frame = pd.DataFrame(rows, columns=["coingecko_id", "symbol", "name", "chain", "contract"])
    return conform(frame.assign(source=source, as_of=as_of), COIN_LIST_SCHEMA)


def map_universe(
    coins: Sequence[str],
    coin_list: pd.DataFrame | None,
    overrides: Mapping[str, str] | None = None,
    source: str = "",
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """CONTRACT_SCHEMA rows for each universe coin (upper-case base symbols): its native chain
    and/or its contracts, or why it has none. ``coin_list`` None means no coin list could be
    had (live source down, no recording): every non-native coin says ``no_coin_list``."""
    overrides = {k.upper(): v for k, v in (overrides or {}).items()}
    by_symbol = (
        coin_list.groupby("symbol")["coingecko_id"].unique().to_dict()
        if coin_list is not None and len(coin_list)
        else {}
    )
    rows: list[dict[str, Any]] = []
    for coin in sorted({c.upper() for c in coins}):
        if coin in NATIVE_COINS:
            rows.append(
                {"coin": coin, "chain": NATIVE_COINS[coin], "match": "native"}
                | {"source": NATIVE_SOURCE}
            )
        if coin_list is None:
            if coin not in NATIVE_COINS:
                rows.append({"coin": coin, "match": "no_coin_list", "source": source})
            continue
        rows.extend(_coin_rows(coin, coin_list, by_symbol, overrides, source))
    frame = pd.DataFrame(rows)
    if as_of is not None and len(frame):
        frame["as_of"] = as_of
    return conform(frame, CONTRACT_SCHEMA)


def _coin_rows(
    coin: str,
    coin_list: pd.DataFrame,
    by_symbol: Mapping[str, Any],
    overrides: Mapping[str, str],
    source: str,
) -> list[dict[str, Any]]:
    candidates = list(by_symbol.get(coin, []))
    if coin in overrides:
        chosen, match = overrides[coin], "override"
    elif len(candidates) == 1:
        chosen, match = candidates[0], "unique"
    elif coin in NATIVE_COINS:
        return []  # the native row already says where it lives
    else:
        match = "ambiguous" if candidates else "not_listed"
        return [{"coin": coin, "match": match, "candidates": len(candidates), "source": source}]
    listed = coin_list[(coin_list["coingecko_id"] == chosen) & coin_list["chain"].notna()]
    base = {"coin": coin, "coingecko_id": chosen, "match": match, "candidates": len(candidates)}
    if listed.empty:
        return [base | {"source": source}]
    return [
        base | {"chain": r.chain, "contract": r.contract, "source": source}
        for r in listed.itertuples()
    ]


def contract_lookup(contracts: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(chain, contract) -> universe coin, for the mapped token contracts."""
    mapped = contracts.dropna(subset=["chain", "contract"])
    return {(r.chain, r.contract): r.coin for r in mapped.itertuples()}


def base_coins(symbols: Sequence[str]) -> list[str]:
    """Universe market symbols (``LINK/USD``, ``BTC/USDT``) -> sorted unique base coins."""
    return sorted({str(s).split("/")[0].upper() for s in symbols if s})
