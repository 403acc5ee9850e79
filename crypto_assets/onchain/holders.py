"""Holder distribution of a token: parsing of holder lists and their concentration.

A holder list (address, balance) comes from Etherscan's ``token/tokenholderlist`` (an API Pro
endpoint) or from Etherscan's "download holders" CSV export (one real export is recorded).
Concentration is measured on what the list holds: top-10 / top-100 share of the listed
balances, the Gini coefficient and the Herfindahl-Hirschman index (sum of squared shares, 0..1),
plus the share held by labelled exchange wallets. A list cut at a page limit measures the
concentration among the listed holders only; ``complete`` says whether it was cut.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crypto_assets.onchain.labels import LabelBook, normalize_addresses
from crypto_assets.onchain.source import conform

HOLDER_SCHEMA = {
    "chain": "text",
    "contract": "text",
    "address": "text",
    "balance": "float",  # token units (decimals applied where the source gives raw units)
    "source": "text",
    "as_of": "time",
}
CONCENTRATION_SCHEMA = {
    "chain": "text",
    "contract": "text",
    "coin": "text",  # universe coin the contract belongs to, null if not mapped
    "holders": "float",
    "complete": "bool",  # False: the list was cut at a page limit
    "top10_share": "float",
    "top100_share": "float",
    "gini": "float",
    "hhi": "float",
    "exchange_share": "float",  # share held by labelled exchange wallets
    "top10_share_change": "float",  # vs the previous stored snapshot of the same token
    "top100_share_change": "float",
    "gini_change": "float",
    "hhi_change": "float",
    "previous_as_of": "time",
    "source": "text",
    "as_of": "time",
}
CHANGED = ("top10_share", "top100_share", "gini", "hhi")


def parse_holder_export(
    path: Path, chain: str, contract: str, source: str, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Etherscan's holder CSV export (HolderAddress, Balance, PendingBalanceUpdate). Balances
    are already in token units. Bad balances raise: a silently dropped holder would bias every
    share."""
    raw = pd.read_csv(path, dtype=str)
    if not {"HolderAddress", "Balance"} <= set(raw.columns):
        raise ValueError(f"{Path(path).name}: not an Etherscan holder export ({list(raw.columns)})")
    balance = pd.to_numeric(raw["Balance"].str.replace(",", ""), errors="coerce")
    if balance.isna().any():
        bad = raw.loc[balance.isna(), "Balance"].head(3).tolist()
        raise ValueError(
            f"{Path(path).name}: {int(balance.isna().sum())} unreadable balances {bad}"
        )
    return _holders(raw["HolderAddress"], balance, chain, contract, source, as_of)


def parse_etherscan_holders(
    rows: Sequence[Mapping[str, Any]],
    chain: str,
    contract: str,
    source: str,
    as_of: pd.Timestamp,
    decimals: int | None = None,
) -> pd.DataFrame:
    """``token/tokenholderlist`` rows (TokenHolderAddress, TokenHolderQuantity). The quantity is
    in the token's smallest unit; with ``decimals`` it is scaled to token units (shares do not
    depend on the scale)."""
    if not rows:
        return conform(pd.DataFrame(), HOLDER_SCHEMA)
    raw = pd.DataFrame(list(rows))
    quantity = pd.to_numeric(raw["TokenHolderQuantity"], errors="coerce").astype(float)
    if quantity.isna().any():
        raise ValueError(f"{int(quantity.isna().sum())} unreadable TokenHolderQuantity values")
    if decimals is not None:
        quantity = quantity / 10.0 ** int(decimals)
    return _holders(raw["TokenHolderAddress"], quantity, chain, contract, source, as_of)


def _holders(addresses, balances, chain, contract, source, as_of) -> pd.DataFrame:
    chains = pd.Series(chain, index=addresses.index)
    frame = pd.DataFrame(
        {
            "chain": chain,
            "contract": normalize_addresses(pd.Series(chain), pd.Series(contract)).iloc[0],
            "address": normalize_addresses(chains, addresses),
            "balance": balances.astype(float),
            "source": source,
            "as_of": as_of,
        }
    )
    return conform(frame, HOLDER_SCHEMA)


def gini(balances: np.ndarray) -> float:
    """Gini coefficient of non-negative balances (0 = equal, -> 1 = one holder has all)."""
    values = np.sort(np.asarray(balances, dtype=float))
    values = values[values > 0]
    n = len(values)
    if n == 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    return float((2 * np.sum(ranks * values) / (n * values.sum())) - (n + 1) / n)


def concentration(holders: pd.DataFrame, book: LabelBook | None = None) -> dict[str, float]:
    """Top-10 / top-100 share, Gini, HHI and the exchange-held share of one holder list."""
    balances = holders["balance"].to_numpy(dtype=float)
    balances = balances[balances > 0]
    total = balances.sum()
    if total <= 0:
        nan = float("nan")
        return dict.fromkeys(["top10_share", "top100_share", "gini", "hhi", "exchange_share"], nan)
    ordered = np.sort(balances)[::-1]
    shares = ordered / total
    exchange_share = float("nan")
    if book is not None:
        labels = book.lookup(holders["chain"], holders["address"])
        held = holders["balance"].where(labels["category"].eq("exchange").fillna(False).to_numpy())
        exchange_share = float(held.fillna(0).clip(lower=0).sum() / total)
    return {
        "holders": float(len(balances)),
        "top10_share": float(shares[:10].sum()),
        "top100_share": float(shares[:100].sum()),
        "gini": gini(balances),
        "hhi": float(np.sum(shares**2)),
        "exchange_share": exchange_share,
    }


def concentration_row(
    holders: pd.DataFrame,
    coin: str | None,
    complete: bool,
    previous: pd.DataFrame | None,
    book: LabelBook | None = None,
) -> pd.DataFrame:
    """One CONCENTRATION_SCHEMA row for a holder list, with the change against the token's
    latest earlier row in ``previous`` (stored concentration rows), if any."""
    first = holders.iloc[0]
    row: dict[str, Any] = {
        "chain": first["chain"],
        "contract": first["contract"],
        "coin": coin,
        "complete": complete,
        "source": first["source"],
        "as_of": first["as_of"],
        **concentration(holders, book),
    }
    earlier = _previous_snapshot(previous, row["chain"], row["contract"], row["as_of"])
    if earlier is not None:
        row["previous_as_of"] = earlier["as_of"]
        for name in CHANGED:
            row[f"{name}_change"] = row[name] - float(earlier[name])
    return conform(pd.DataFrame([row]), CONCENTRATION_SCHEMA)


def _previous_snapshot(
    previous: pd.DataFrame | None, chain: str, contract: str, as_of: pd.Timestamp
) -> pd.Series | None:
    if previous is None or previous.empty:
        return None
    same = previous[
        (previous["chain"] == chain)
        & (previous["contract"] == contract)
        & (pd.to_datetime(previous["as_of"], utc=True) < as_of)
    ]
    if same.empty:
        return None
    return same.sort_values("as_of").iloc[-1]
