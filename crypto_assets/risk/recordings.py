"""Parsers of REAL recorded order books, read in place (``../shared/data/orderbook``).

- Kraken WebSocket v1 ``book`` channel (cryptofeed's ``KRAKEN.ws.*`` format: one message per
  line as ``recv_ts: json``; lines starting ``wss://`` are the connection and what the client
  sent). The book is rebuilt the way Kraken documents it: the snapshot (``as``/``bs``), then
  each update (``a``/``b``; volume 0 deletes the level; the book is cut to the subscribed depth
  after every update), and every update's CRC32 checksum (``c``, over the top 10 asks then top
  10 bids, each price and volume string without the dot and leading zeros) is recomputed and
  compared. A mismatch marks that pair's book broken: it is reported, never analysed.
- Binance REST ``/api/v3/depth`` snapshots (``URL -> recv_ts: json`` per line).

Symbols come out unified as ccxt writes them (Kraken's XBT -> BTC, XDG -> DOGE; Binance's
concatenated ids split at a known quote currency).
"""

from __future__ import annotations

import bisect
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd

KRAKEN_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}  # ccxt's common-currency names for Kraken
# Binance quote currencies, longest first so "USDT" wins over "USD" (ids carry no separator)
BINANCE_QUOTES = (
    "FDUSD",
    "USDT",
    "BUSD",
    "USDC",
    "TUSD",
    "BIDR",
    "IDRT",
    "BTC",
    "ETH",
    "BNB",
    "EUR",
    "GBP",
    "TRY",
    "AUD",
    "BRL",
    "RUB",
    "UAH",
    "DAI",
    "PAX",
    "XRP",
    "TRX",
    "NGN",
    "ZAR",
)
CHECKSUM_LEVELS = 10


class RecordingError(ValueError):
    """A recording line that cannot be parsed: names the file and line."""


def unify_kraken_pair(wsname: str) -> str:
    """Kraken WebSocket pair name ("XBT/CHF") -> ccxt's unified symbol ("BTC/CHF")."""
    base, _, quote = wsname.partition("/")
    return f"{KRAKEN_ALIASES.get(base, base)}/{KRAKEN_ALIASES.get(quote, quote)}"


def unify_binance_symbol(market_id: str) -> str:
    """Binance id ("NKNUSDT") -> "NKN/USDT"; ValueError when no known quote ends the id."""
    for quote in sorted(BINANCE_QUOTES, key=len, reverse=True):
        if market_id.endswith(quote) and len(market_id) > len(quote):
            return f"{market_id[: -len(quote)]}/{quote}"
    raise ValueError(f"cannot split Binance symbol {market_id!r}: no known quote currency")


def _strip(number: str) -> str:
    return number.replace(".", "").lstrip("0")


class BookSide:
    """One side of a book: price -> (price, volume, timestamp) as the exchange's strings,
    keys kept sorted."""

    def __init__(self, descending: bool) -> None:
        self.descending = descending
        self.levels: dict[float, tuple[str, str, str]] = {}
        self._keys: list[float] = []  # ascending sort keys (negated prices for bids)

    def set(self, price: str, volume: str, stamp: str = "") -> None:
        value = float(price)
        key = -value if self.descending else value
        if float(volume) == 0.0:
            if self.levels.pop(value, None) is not None:
                del self._keys[bisect.bisect_left(self._keys, key)]
            return
        if value not in self.levels:
            bisect.insort(self._keys, key)
        self.levels[value] = (price, volume, stamp)

    def truncate(self, depth: int) -> None:
        for key in self._keys[depth:]:
            del self.levels[-key if self.descending else key]
        del self._keys[depth:]

    def top(self, count: int | None = None) -> list[tuple[str, str, str]]:
        keys = self._keys if count is None else self._keys[:count]
        return [self.levels[-k if self.descending else k] for k in keys]

    def __len__(self) -> int:
        return len(self.levels)


@dataclass
class KrakenBook:
    """A Kraken v1 book being rebuilt from its messages, with the exchange's own strings."""

    pair: str  # Kraken WebSocket name, e.g. "XBT/CHF"
    depth: int
    asks: BookSide = field(default_factory=lambda: BookSide(descending=False))
    bids: BookSide = field(default_factory=lambda: BookSide(descending=True))
    as_of: float | None = None  # receive time of the last message applied
    snapshot_at: float | None = None
    updates: int = 0
    checksums_verified: int = 0
    broken: str | None = None  # why the book can no longer be trusted

    @property
    def symbol(self) -> str:
        return unify_kraken_pair(self.pair)

    def checksum(self) -> int:
        payload = "".join(
            _strip(p) + _strip(v)
            for side in (self.asks, self.bids)
            for p, v, _ in side.top(CHECKSUM_LEVELS)
        )
        return zlib.crc32(payload.encode())

    def apply(self, parts: list[dict[str, Any]], recv_ts: float) -> None:
        """Apply one book message's payload objects (snapshot or update)."""
        if self.broken:
            return
        if any("as" in p or "bs" in p for p in parts):
            self.asks, self.bids = BookSide(descending=False), BookSide(descending=True)
            for part in parts:
                for price, volume, stamp, *_ in part.get("as", []):
                    self.asks.set(price, volume, stamp)
                for price, volume, stamp, *_ in part.get("bs", []):
                    self.bids.set(price, volume, stamp)
            self.snapshot_at = recv_ts
        elif self.snapshot_at is None:
            return  # an update before any snapshot has nothing to apply to
        else:
            expected = None
            for part in parts:
                for price, volume, stamp, *_ in part.get("a", []):
                    self.asks.set(price, volume, stamp)
                for price, volume, stamp, *_ in part.get("b", []):
                    self.bids.set(price, volume, stamp)
                expected = part.get("c", expected)
            self.asks.truncate(self.depth)
            self.bids.truncate(self.depth)
            self.updates += 1
            if expected is not None:
                if self.checksum() != int(expected):
                    self.broken = f"checksum mismatch at recv_ts {recv_ts:.6f}"
                    return
                self.checksums_verified += 1
        self.as_of = recv_ts

    def levels(self, count: int | None = None) -> tuple[list[tuple[float, float]], ...]:
        """(bids, asks) as floats, best first."""
        bids = [(float(p), float(v)) for p, v, _ in self.bids.top(count)]
        asks = [(float(p), float(v)) for p, v, _ in self.asks.top(count)]
        return bids, asks


def iter_kraken_ws(path: Path) -> Iterator[tuple[float, Any]]:
    """(receive time, decoded message) for each received line of a cryptofeed Kraken file."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("wss://"):
                continue  # connection line or a message the client sent
            stamp, sep, payload = line.partition(": ")
            try:
                if not sep:
                    raise ValueError("no 'recv_ts: ' prefix")
                yield float(stamp), json.loads(payload)
            except ValueError as exc:
                raise RecordingError(f"{path.name} line {number}: {exc}") from None


@dataclass
class KrakenReplay:
    books: dict[str, KrakenBook]  # by Kraken pair name
    messages: int
    first_ts: float | None
    last_ts: float | None


def replay_kraken_book(path: Path, until: float | None = None) -> KrakenReplay:
    """Rebuild every pair's book from a recorded v1 ``book`` session, up to receive time
    ``until`` (inclusive; None: the whole recording)."""
    books: dict[str, KrakenBook] = {}
    messages, first, last = 0, None, None
    for recv_ts, message in iter_kraken_ws(Path(path)):
        if until is not None and recv_ts > until:
            break
        first = recv_ts if first is None else first
        last = recv_ts
        if isinstance(message, dict):
            if message.get("event") == "subscriptionStatus" and message.get("status") == (
                "subscribed"
            ):
                depth = int(message.get("subscription", {}).get("depth", 10))
                books.setdefault(message["pair"], KrakenBook(message["pair"], depth))
            continue
        if not (isinstance(message, list) and len(message) >= 4):
            continue
        channel, pair = message[-2], message[-1]
        if not str(channel).startswith("book"):
            continue
        if pair not in books:
            depth = int(str(channel).split("-")[1]) if "-" in str(channel) else 10
            books[pair] = KrakenBook(pair, depth)
        books[pair].apply([p for p in message[1:-2] if isinstance(p, dict)], recv_ts)
        messages += 1
    return KrakenReplay(books, messages, first, last)


@dataclass
class DepthSnapshot:
    symbol: str  # unified
    market_id: str  # the exchange's id, e.g. "NKNUSDT"
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    as_of: pd.Timestamp  # receive time
    last_update_id: int | None


def read_binance_depth(path: Path) -> list[DepthSnapshot]:
    """Every ``/api/v3/depth`` response of a cryptofeed Binance HTTP recording."""
    path = Path(path)
    snapshots = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                url, _, rest = line.partition(" -> ")
                stamp, _, payload = rest.partition(": ")
                if "/depth" not in urlsplit(url).path:
                    continue
                market_id = parse_qs(urlsplit(url).query)["symbol"][0]
                body = json.loads(payload)
                snapshots.append(
                    DepthSnapshot(
                        symbol=unify_binance_symbol(market_id),
                        market_id=market_id,
                        bids=[(float(p), float(q)) for p, q, *_ in body["bids"]],
                        asks=[(float(p), float(q)) for p, q, *_ in body["asks"]],
                        as_of=pd.Timestamp(float(stamp), unit="s", tz="UTC"),
                        last_update_id=body.get("lastUpdateId"),
                    )
                )
            except (KeyError, ValueError, IndexError) as exc:
                raise RecordingError(f"{path.name} line {number}: {exc}") from None
    return snapshots
