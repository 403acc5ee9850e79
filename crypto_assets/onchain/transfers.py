"""Transfers: parsing of the sources' answers into one schema, USD valuation, whale
classification and direction.

Direction is what a transfer says about supply on exchanges: coins moved TO an exchange wallet
from outside are potential sell pressure (``to_exchange``); coins moved FROM an exchange to an
outside wallet are withdrawals, read as accumulation (``from_exchange``). Moves between two
exchange wallets are ``exchange_internal`` (same owner) or ``exchange_to_exchange``; the rest is
``wallet_to_wallet`` (both ends unknown or non-exchange), i.e. no supply signal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from crypto_assets.frames import utc
from crypto_assets.onchain.labels import (
    LabelBook,
    canonical_chain,
    normalize_address,
    normalize_addresses,
)
from crypto_assets.onchain.source import conform

TRANSFER_SCHEMA = {
    "time": "time",
    "chain": "text",
    "coin": "text",  # upper-case symbol as the source names it (BTC, ETH, LINK, USDT)
    "contract": "text",  # token contract (lower-case hex) or null for a native coin
    "tx_hash": "text",
    "from_address": "text",
    "to_address": "text",
    "amount": "float",  # in coin units
    "amount_usd": "float",  # from the source (Whale Alert) or priced here; null if unknown
    "usd_basis": "text",  # "source" | "prior_close" | null
    "from_owner": "text",  # owner label the source sent inline (Whale Alert), if any
    "from_owner_type": "text",
    "to_owner": "text",
    "to_owner_type": "text",
    "transaction_type": "text",  # transfer | mint | burn | ...
    "source": "text",
    "as_of": "time",
}
LABELLED_SCHEMA = {
    **TRANSFER_SCHEMA,
    "from_label": "text",
    "from_category": "text",
    "from_label_source": "text",
    "to_label": "text",
    "to_category": "text",
    "to_label_source": "text",
    "direction": "text",
}
DIRECTIONS = (
    "to_exchange",
    "from_exchange",
    "exchange_internal",
    "exchange_to_exchange",
    "wallet_to_wallet",
)
SATOSHI = 1e8
ETHERSCAN_CHAINS = {1: "ethereum", 56: "bsc", 137: "polygon", 42161: "arbitrum", 10: "optimism"}


# ---------------------------------------------------------------------------- parsers
def parse_whale_alert(payload: Mapping[str, Any], source: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Whale Alert ``/v1/transactions`` body -> canonical transfers (amount_usd from the source).

    Raises ValueError on a body that is not a success answer (the caller reports it)."""
    if payload.get("result") != "success":
        raise ValueError(
            f"Whale Alert answered {payload.get('result')!r}: {payload.get('message')}"
        )
    rows = []
    for tx in payload.get("transactions") or []:
        chain = canonical_chain(tx.get("blockchain"))
        sender, receiver = tx.get("from") or {}, tx.get("to") or {}
        rows.append(
            {
                "time": pd.Timestamp(int(tx["timestamp"]), unit="s", tz="UTC"),
                "chain": chain,
                "coin": str(tx.get("symbol", "")).upper(),
                "contract": None,
                "tx_hash": str(tx.get("hash", "")),
                "from_address": normalize_address(chain, sender.get("address")),
                "to_address": normalize_address(chain, receiver.get("address")),
                "amount": tx.get("amount"),
                "amount_usd": tx.get("amount_usd"),
                "usd_basis": "source",
                "from_owner": sender.get("owner") or None,
                "from_owner_type": sender.get("owner_type") or None,
                "to_owner": receiver.get("owner") or None,
                "to_owner_type": receiver.get("owner_type") or None,
                "transaction_type": tx.get("transaction_type"),
            }
        )
    return conform(pd.DataFrame(rows).assign(source=source, as_of=as_of), TRANSFER_SCHEMA)


def parse_etherscan_tokentx(
    rows: Sequence[Mapping[str, Any]], chain: str, source: str, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Etherscan ``account/tokentx`` result rows -> canonical transfers (no USD: priced later).

    The same transfer seen from two watched wallets is kept once (hash + log index)."""
    if not rows:
        return conform(pd.DataFrame(), TRANSFER_SCHEMA)
    raw = pd.DataFrame(list(rows))
    decimals = pd.to_numeric(raw.get("tokenDecimal", 18), errors="coerce").fillna(18)
    value = pd.to_numeric(raw["value"], errors="coerce").astype(float)
    chains = pd.Series(chain, index=raw.index)
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(pd.to_numeric(raw["timeStamp"]), unit="s", utc=True),
            "chain": chain,
            "coin": raw.get("tokenSymbol", pd.Series("", index=raw.index)).str.upper(),
            "contract": normalize_addresses(chains, raw["contractAddress"]),
            "tx_hash": raw["hash"],
            "from_address": normalize_addresses(chains, raw["from"]),
            "to_address": normalize_addresses(chains, raw["to"]),
            "amount": value / np.power(10.0, decimals.to_numpy(dtype=float)),
            "amount_usd": np.nan,
            "transaction_type": "transfer",
            "source": source,
            "as_of": as_of,
        }
    )
    key = raw["hash"].astype(str) + ":" + raw.get("logIndex", pd.Series("", index=raw.index))
    frame = frame.loc[~key.duplicated().to_numpy()]
    return conform(frame, TRANSFER_SCHEMA)


def parse_esplora_txs(
    txs: Sequence[Mapping[str, Any]], watched: str, source: str, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Esplora (mempool.space / Blockstream) address transactions -> transfers seen from the
    watched address: its net change in the tx decides the direction, the counterparty is the
    largest other output (sending) or the first other input (receiving). Unconfirmed
    transactions (no block time yet) are left out: they may never confirm."""
    rows = []
    for tx in txs:
        status = tx.get("status") or {}
        if not status.get("confirmed") or status.get("block_time") is None:
            continue
        spent = sum(
            int((vin.get("prevout") or {}).get("value", 0))
            for vin in tx.get("vin", [])
            if (vin.get("prevout") or {}).get("scriptpubkey_address") == watched
        )
        received = sum(
            int(out.get("value", 0))
            for out in tx.get("vout", [])
            if out.get("scriptpubkey_address") == watched
        )
        net = received - spent
        if net == 0:
            continue
        if net < 0:
            others = [o for o in tx.get("vout", []) if o.get("scriptpubkey_address") != watched]
            top = max(others, key=lambda o: int(o.get("value", 0)), default={})
            sender, receiver = watched, top.get("scriptpubkey_address")
        else:
            inputs = [
                (v.get("prevout") or {}).get("scriptpubkey_address") for v in tx.get("vin", [])
            ]
            sender = next((a for a in inputs if a and a != watched), None)
            receiver = watched
        rows.append(
            {
                "time": pd.Timestamp(int(status["block_time"]), unit="s", tz="UTC"),
                "chain": "bitcoin",
                "coin": "BTC",
                "tx_hash": tx.get("txid"),
                "from_address": sender,
                "to_address": receiver,
                "amount": abs(net) / SATOSHI,
                "amount_usd": np.nan,
                "transaction_type": "transfer",
            }
        )
    return conform(pd.DataFrame(rows).assign(source=source, as_of=as_of), TRANSFER_SCHEMA)


# ------------------------------------------------------------------------ valuation
def unique_in_window(
    frame: pd.DataFrame, keys: Sequence[str], start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Transfers fetched over overlapping pages / addresses, each once, with time in
    ``[start, end)``: an API answers by page or address, not by the day asked for."""
    frame = frame.drop_duplicates(list(keys))
    in_window = (frame["time"] >= utc(start)) & (frame["time"] < utc(end))
    return frame[in_window].reset_index(drop=True)


def map_token_coins(
    transfers: pd.DataFrame, lookup: Mapping[tuple[str, str], str]
) -> tuple[pd.DataFrame, pd.Series]:
    """Name token transfers by the universe coin their contract maps to, and say which rows may
    be priced: native coins, and tokens whose contract is mapped. A token's own symbol is not
    trusted for a price (anyone can deploy a token called "ETH")."""
    out = transfers.copy()
    is_token = out["contract"].notna()
    keys = list(zip(out["chain"], out["contract"], strict=True))
    mapped = pd.Series([lookup.get(k) for k in keys], index=out.index, dtype="object")
    out.loc[is_token & mapped.notna(), "coin"] = mapped[is_token & mapped.notna()]
    return out, ~is_token | mapped.notna()


def price_transfers(
    transfers: pd.DataFrame, daily_close: pd.DataFrame, priceable: pd.Series | None = None
) -> pd.DataFrame:
    """Fill a missing ``amount_usd`` with amount x the coin's close of the PREVIOUS UTC day
    (``daily_close``: coin, day, close in USD), the last price public when the transfer
    happened; rows not ``priceable`` and coins without such a price stay unpriced (null)."""
    out = transfers.copy()
    missing = out["amount_usd"].isna()
    if priceable is not None:
        missing &= priceable.reindex(out.index).fillna(False).astype(bool)
    if not missing.any() or daily_close is None or daily_close.empty:
        return out
    prices = daily_close.assign(
        coin=daily_close["coin"].str.upper(),
        known_day=pd.to_datetime(daily_close["day"], utc=True) + pd.Timedelta(days=1),
    ).set_index(["coin", "known_day"])["close"]
    prices = prices[~prices.index.duplicated(keep="last")]
    keys = pd.MultiIndex.from_arrays(
        [out.loc[missing, "coin"].str.upper(), out.loc[missing, "time"].dt.floor("D")]
    )
    close = prices.reindex(keys).to_numpy()
    out.loc[missing, "amount_usd"] = out.loc[missing, "amount"].to_numpy() * close
    priced = missing & out["amount_usd"].notna()
    out.loc[priced, "usd_basis"] = "prior_close"
    return out


# --------------------------------------------------------------------- classification
def label_transfers(transfers: pd.DataFrame, book: LabelBook) -> pd.DataFrame:
    """Add from/to label, category and label source: the label book first (user file, then the
    recorded scanner labels), else the owner the source sent inline (Whale Alert)."""
    out = transfers.copy()
    for side in ("from", "to"):
        found = book.lookup(out["chain"], out[f"{side}_address"])
        inline_owner = out[f"{side}_owner"]
        inline_type = out[f"{side}_owner_type"].where(
            out[f"{side}_owner_type"].fillna("unknown") != "unknown"
        )
        has_inline = inline_type.notna()
        out[f"{side}_label"] = found["name"].where(found["name"].notna(), inline_owner)
        out[f"{side}_category"] = found["category"].where(found["category"].notna(), inline_type)
        inline_source = pd.Series(np.where(has_inline, out["source"], None), index=out.index)
        out[f"{side}_label_source"] = found["source"].where(found["source"].notna(), inline_source)
        owner = found["owner"].where(found["owner"].notna(), inline_owner)
        out[f"_{side}_owner_key"] = owner.fillna("").str.lower()
    out["direction"] = _direction(out)
    return conform(out, LABELLED_SCHEMA)


def _direction(frame: pd.DataFrame) -> pd.Series:
    from_exchange = frame["from_category"] == "exchange"
    to_exchange = frame["to_category"] == "exchange"
    same_owner = (frame["_from_owner_key"] == frame["_to_owner_key"]) & (
        frame["_from_owner_key"] != ""
    )
    conditions = [
        (from_exchange & to_exchange & same_owner).fillna(False).to_numpy(dtype=bool),
        (from_exchange & to_exchange).fillna(False).to_numpy(dtype=bool),
        to_exchange.fillna(False).to_numpy(dtype=bool),
        from_exchange.fillna(False).to_numpy(dtype=bool),
    ]
    choices = ["exchange_internal", "exchange_to_exchange", "to_exchange", "from_exchange"]
    return pd.Series(np.select(conditions, choices, "wallet_to_wallet"), index=frame.index)


def classify_whales(
    transfers: pd.DataFrame, book: LabelBook, min_usd: float
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The labelled transfers worth at least ``min_usd``, and counts of what was left out
    (below the threshold, or with no USD value at all: never guessed)."""
    unpriced = int(transfers["amount_usd"].isna().sum())
    whales = transfers[transfers["amount_usd"] >= float(min_usd)]
    counts = {
        "fetched": len(transfers),
        "whales": len(whales),
        "below_threshold": len(transfers) - len(whales) - unpriced,
        "unpriced": unpriced,
    }
    labelled = label_transfers(whales.reset_index(drop=True), book)
    return labelled.sort_values(["time", "tx_hash"]).reset_index(drop=True), counts


def daily_closes_from_candles(candles: pd.DataFrame) -> pd.DataFrame:
    """coin, day, close from canonical daily candles quoted in USD or a USD stablecoin (the
    base coin's USD price; a coin quoted several ways keeps the mean close of the day)."""
    if candles is None or candles.empty:
        return pd.DataFrame(columns=["coin", "day", "close"])
    base_quote = candles["symbol"].str.split("/", n=1, expand=True)
    usd = base_quote[1].str.split(":").str[0].isin(["USD", "USDT", "USDC"])
    frame = pd.DataFrame(
        {
            "coin": base_quote[0].str.upper(),
            "day": pd.to_datetime(candles["date"], utc=True).dt.floor("D"),
            "close": candles["close"].astype(float),
        }
    )[usd.to_numpy()]
    return frame.groupby(["coin", "day"], as_index=False)["close"].mean()


def watched_addresses(book: LabelBook, chain: str, limit: int) -> pd.DataFrame:
    """Labelled exchange wallets of one chain to follow (user labels first, then recorded),
    at most ``limit``: a live source's daily request budget is finite."""
    wallets = book.exchange_wallets(chain)
    return wallets.head(int(limit)).reset_index(drop=True)
