"""The address label book: who owns an address (an exchange, a DEX, a bridge...), and who says so.

Built from the REAL recorded label files (read in place) plus the user's own additions:

- Etherscan combined account labels (``etherscan_combinedAccountLabels.json.gz``: 23,288
  Ethereum addresses -> name + Etherscan label slugs, ~2023, brianleect/etherscan-labels);
- Etherscan exchange accounts (``etherscan_exchange_accounts.csv``: 420 wallets of 24 exchange
  label pages), BscScan and PolygonScan exchange wallets (48 and 7);
- a user CSV (``chain,address,name,category``), which wins over every recorded label.

Every label carries its ``source``. "Smart money" has no recorded public source here: only the
user's file can mark it (category ``smart_money``); nothing is guessed.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

LABEL_SCHEMA = {
    "chain": "text",
    "address": "text",
    "name": "text",
    "owner": "text",
    "category": "text",
    "labels": "text",
    "source": "text",
}
LABEL_COLUMNS = list(LABEL_SCHEMA)
COMBINED_FILE = "etherscan_combinedAccountLabels.json.gz"
EXCHANGE_FILE = "etherscan_exchange_accounts.csv"
CHAIN_EXCHANGE_FILES = {
    "bsc": "bscscan_accounts_exchange.csv",
    "polygon": "polygonscan_accounts_exchange.csv",
}
SOURCE_COMBINED = "etherscan combined labels (brianleect/etherscan-labels, ~2023)"
SOURCE_EXCHANGES = "etherscan exchange accounts (brianleect/etherscan-labels, ~2023)"
SOURCE_CHAIN = {
    "bsc": "bscscan exchange accounts (brianleect/etherscan-labels, ~2023)",
    "polygon": "polygonscan exchange accounts (brianleect/etherscan-labels, ~2023)",
}
# The Etherscan label pages that are centralised exchanges (the 24 pages of the recorded
# exchange accounts file, plus hotbit), and label slugs that name another kind of owner.
EXCHANGE_SLUGS = frozenset(
    {
        *("binance", "binance-deposit", "bitfinex", "bithumb", "bitmex", "bitstamp"),
        *("bittrex", "coinbase", "coinone", "crypto-com", "deribit", "ftx", "gate-io"),
        *("gemini", "hitbtc", "huobi", "korbit", "kraken", "kucoin", "liquid", "okx"),
        *("poloniex", "upbit", "zb-com", "hotbit"),
    }
)
CATEGORY_SLUGS = {
    "dex": "dex",
    "bridge": "bridge",
    "mev-bot": "mev_bot",
    "mining": "mining",
    "blocked": "blocked",
    "token-sale": "token_sale",
    "ico-wallets": "token_sale",
    "layer-2": "layer2",
}
CATEGORY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
# Chains whose addresses are hex and case-insensitive (stored lower-case with 0x).
EVM_CHAINS = frozenset({"ethereum", "bsc", "polygon", "arbitrum", "optimism", "base", "avalanche"})
CHAIN_ALIASES = {
    "eth": "ethereum",
    "binance-smart-chain": "bsc",
    "bnb": "bsc",
    "binance_smart_chain": "bsc",
    "polygon-pos": "polygon",
    "matic": "polygon",
    "arbitrum-one": "arbitrum",
    "optimistic-ethereum": "optimism",
    "btc": "bitcoin",
}
HEX_ADDRESS = re.compile(r"^(0[xX])?[0-9a-fA-F]{40}$")


class LabelFileError(ValueError):
    """The user's label file is malformed: the message names every bad line."""


def canonical_chain(chain: object) -> str:
    text = str(chain or "").strip().lower()
    return CHAIN_ALIASES.get(text, text)


def normalize_address(chain: str, address: object) -> str:
    """EVM addresses lower-case with ``0x`` (Whale Alert sends them without); others as is
    (Bitcoin addresses are case-sensitive base58/bech32)."""
    text = str(address or "").strip()
    if canonical_chain(chain) in EVM_CHAINS and HEX_ADDRESS.match(text):
        text = text.lower()
        return text if text.startswith("0x") else "0x" + text
    return text


def normalize_addresses(chains: pd.Series, addresses: pd.Series) -> pd.Series:
    """Vectorised :func:`normalize_address` (hex test per row, lower-case EVM only)."""
    text = addresses.fillna("").astype(str).str.strip()
    evm = chains.map(canonical_chain).isin(EVM_CHAINS) & text.str.match(HEX_ADDRESS.pattern)
    lowered = text.str.lower()
    prefixed = lowered.where(lowered.str.startswith("0x"), "0x" + lowered)
    return prefixed.where(evm, text)


def owner_of(name: object) -> str:
    """The owner behind a wallet name: "Binance 14" / "Binance: Hot Wallet 3" -> "binance"."""
    text = str(name or "").split(":")[0].strip().lower()
    return re.sub(r"[\s_-]*\d+$", "", text).strip()


def _category(slugs: list[str]) -> str:
    if any(s in EXCHANGE_SLUGS for s in slugs):
        return "exchange"
    for slug in slugs:
        if slug in CATEGORY_SLUGS:
            return CATEGORY_SLUGS[slug]
    return "other"


def parse_combined_labels(path: Path) -> pd.DataFrame:
    """Etherscan combined labels: address -> {name, labels[]} (all Ethereum)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        raw = json.load(handle)
    rows = []
    for address, entry in raw.items():
        slugs = [str(s) for s in entry.get("labels", [])]
        name = str(entry.get("name") or "")
        exchange_slug = next((s for s in slugs if s in EXCHANGE_SLUGS), None)
        owner = exchange_slug.removesuffix("-deposit") if exchange_slug else owner_of(name)
        rows.append(("ethereum", address, name, owner, _category(slugs), ",".join(slugs)))
    frame = pd.DataFrame(rows, columns=LABEL_COLUMNS[:-1]).assign(source=SOURCE_COMBINED)
    frame["address"] = normalize_addresses(frame["chain"], frame["address"])
    return frame


def parse_exchange_accounts(path: Path, chain: str = "ethereum", source: str = "") -> pd.DataFrame:
    """A scanner's exchange accounts export (Address, Name Tag, ...; Etherscan's adds the label
    page as ``etherscan_label``). Every row is an exchange wallet."""
    raw = pd.read_csv(path, dtype=str)
    if "Address" not in raw:
        raise ValueError(f"{path.name}: no 'Address' column (columns: {list(raw.columns)})")
    slug = raw["etherscan_label"] if "etherscan_label" in raw else pd.Series("", index=raw.index)
    name = raw.get("Name Tag", pd.Series("", index=raw.index)).fillna("")
    name = name.where(name != "", slug.fillna("").str.cat(["(unnamed)"] * len(raw), sep=" "))
    owner = slug.fillna("").str.removesuffix("-deposit")
    owner = owner.where(owner != "", name.map(owner_of))
    frame = pd.DataFrame(
        {
            "chain": chain,
            "address": normalize_addresses(pd.Series(chain, index=raw.index), raw["Address"]),
            "name": name,
            "owner": owner,
            "category": "exchange",
            "labels": slug.fillna(""),
            "source": source or SOURCE_EXCHANGES,
        }
    )
    return frame[LABEL_COLUMNS]


def parse_user_labels(path: Path) -> pd.DataFrame:
    """The user's label file: CSV with ``chain,address,name,category`` (``owner`` optional).

    Every malformed line is reported at once (line numbers as an editor shows them); nothing
    is silently dropped."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"chain", "address", "name", "category"} - set(raw.columns)
    if missing:
        raise LabelFileError(f"{path}: missing column(s) {sorted(missing)}")
    problems = []
    for index, row in raw.iterrows():
        line = int(index) + 2
        chain = canonical_chain(row["chain"])
        if not chain:
            problems.append(f"line {line}: empty chain")
        if not str(row["address"]).strip():
            problems.append(f"line {line}: empty address")
        elif chain in EVM_CHAINS and not HEX_ADDRESS.match(str(row["address"]).strip()):
            problems.append(f"line {line}: {row['address']!r} is not a hex address on {chain}")
        if not CATEGORY_PATTERN.match(str(row["category"]).strip()):
            problems.append(f"line {line}: category {row['category']!r} is not a lower_case slug")
    if problems:
        raise LabelFileError(f"{path}: " + "; ".join(problems))
    chains = raw["chain"].map(canonical_chain)
    owners = raw["owner"] if "owner" in raw else raw["name"].map(owner_of)
    frame = pd.DataFrame(
        {
            "chain": chains,
            "address": normalize_addresses(chains, raw["address"]),
            "name": raw["name"].str.strip(),
            "owner": owners.where(owners != "", raw["name"].map(owner_of)).str.lower(),
            "category": raw["category"].str.strip(),
            "labels": "",
            "source": f"user labels ({path.name})",
        }
    )
    return frame[LABEL_COLUMNS]


@dataclass
class LabelBook:
    """One label per (chain, address): the first source in priority order wins."""

    labels: pd.DataFrame  # LABEL_COLUMNS, unique (chain, address)

    @classmethod
    def build(cls, frames: list[pd.DataFrame]) -> LabelBook:
        """``frames`` in priority order (user file first)."""
        stacked = pd.concat([f[LABEL_COLUMNS] for f in frames if len(f)], ignore_index=True)
        unique = stacked.drop_duplicates(["chain", "address"], keep="first")
        return cls(unique.reset_index(drop=True))

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        """Labels per source (for metadata)."""
        return {str(k): int(v) for k, v in self.labels["source"].value_counts().items()}

    def exchange_wallets(self, chain: str) -> pd.DataFrame:
        mask = (self.labels["chain"] == canonical_chain(chain)) & (
            self.labels["category"] == "exchange"
        )
        return self.labels[mask].reset_index(drop=True)

    def lookup(self, chains: pd.Series, addresses: pd.Series) -> pd.DataFrame:
        """Label columns (name, owner, category, source) for each (chain, address), aligned with
        the input; unknown addresses get nulls."""
        keys = pd.DataFrame(
            {
                "chain": chains.map(canonical_chain).to_numpy(),
                "address": normalize_addresses(chains, addresses).to_numpy(),
            }
        )
        table = self.labels[["chain", "address", "name", "owner", "category", "source"]]
        merged = keys.merge(table, on=["chain", "address"], how="left")
        return merged[["name", "owner", "category", "source"]].set_axis(addresses.index)


def load_label_book(data_dir: Path, user_file: Path | None = None) -> LabelBook:
    """The user's labels first, then the recorded exchange wallets, then combined labels."""
    frames = []
    if user_file is not None:
        frames.append(parse_user_labels(Path(user_file)))
    data_dir = Path(data_dir)
    frames.append(parse_exchange_accounts(data_dir / EXCHANGE_FILE))
    for chain, name in CHAIN_EXCHANGE_FILES.items():
        frames.append(parse_exchange_accounts(data_dir / name, chain, SOURCE_CHAIN[chain]))
    frames.append(parse_combined_labels(data_dir / COMBINED_FILE))
    return LabelBook.build(frames)
