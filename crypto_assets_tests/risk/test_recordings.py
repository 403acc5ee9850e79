"""Parsers of the REAL order-book recordings: the Kraken v1 book rebuilt and proven by
Kraken's own checksums, and the Binance REST depth snapshots."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crypto_assets.risk.recordings import (
    KrakenBook,
    RecordingError,
    read_binance_depth,
    replay_kraken_book,
    unify_binance_symbol,
    unify_kraken_pair,
)
from crypto_assets_tests.risk.conftest import BINANCE_HTTP, KRAKEN_WS

PAIRS = {
    "WAVES/EUR",
    "XMR/USD",
    "KSM/XBT",
    "GRT/ETH",
    "SC/EUR",
    "ETH/CHF",
    "OCEAN/XBT",
    "OMG/USD",
    "XBT/CHF",
    "ADA/XBT",
}


def test_every_recorded_checksum_matches_the_rebuilt_book(kraken_replay) -> None:
    books = kraken_replay.books
    assert set(books) == PAIRS
    updates = sum(b.updates for b in books.values())
    assert updates == 4269  # every update of the session carries a checksum
    assert all(b.broken is None for b in books.values())
    assert all(b.checksums_verified == b.updates > 0 for b in books.values())
    assert kraken_replay.messages == 4279  # 10 snapshots + 4269 updates
    btc = books["XBT/CHF"]
    assert btc.symbol == "BTC/CHF" and btc.depth == 1000
    bids, asks = btc.levels()
    assert (len(bids), len(asks)) == (500, 315)
    assert bids[0][0] < asks[0][0]  # not crossed
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert btc.as_of == pytest.approx(1618678163.366488)


def test_a_cut_in_time_gives_the_earlier_book(kraken_replay) -> None:
    early = replay_kraken_book(KRAKEN_WS, until=1618678134.25)
    book, full = early.books["SC/EUR"], kraken_replay.books["SC/EUR"]
    assert 0 < book.checksums_verified < full.checksums_verified
    assert book.as_of <= 1618678134.25
    assert book.levels() != full.levels()


def test_a_changed_volume_breaks_the_checksum(tmp_path: Path) -> None:
    lines = KRAKEN_WS.read_text().splitlines(keepends=True)
    target = next(i for i, line in enumerate(lines) if '"b":[["0.043110","20270.49268141"' in line)
    lines[target] = lines[target].replace("20270.49268141", "20270.49268142")
    copy = tmp_path / "KRAKEN.ws.50.0"
    copy.write_text("".join(lines))
    books = replay_kraken_book(copy).books
    assert books["SC/EUR"].broken.startswith("checksum mismatch at recv_ts 1618678134.2244")
    assert books["XMR/USD"].broken is None  # other pairs are unaffected


def test_garbled_line_names_file_and_line(tmp_path: Path) -> None:
    lines = KRAKEN_WS.read_text().splitlines(keepends=True)[:20]
    lines[15] = lines[15][:60] + "\n"  # a cut-off message
    copy = tmp_path / "KRAKEN.ws.50.0"
    copy.write_text("".join(lines))
    with pytest.raises(RecordingError, match=r"KRAKEN.ws.50.0 line 16"):
        replay_kraken_book(copy)


def test_updates_before_a_snapshot_are_ignored() -> None:
    book = KrakenBook("XBT/USD", depth=10)
    book.apply([{"a": [["1.0", "2.0", "1.0"]], "c": "1"}], 1.0)
    assert book.snapshot_at is None and len(book.asks) == 0 and book.broken is None


def test_depth_truncation_after_an_update() -> None:
    book = KrakenBook("X/Y", depth=2)
    book.apply([{"as": [["1.1", "1", "0"], ["1.2", "1", "0"]], "bs": [["1.0", "1", "0"]]}], 1.0)
    book.apply([{"a": [["1.05", "3", "0"]]}], 2.0)  # no checksum: nothing to verify
    assert [p for p, _ in book.levels()[1]] == [1.05, 1.1]  # 1.2 fell out of depth 2


def test_binance_depth_snapshots() -> None:
    snaps = read_binance_depth(BINANCE_HTTP)
    assert [s.symbol for s in snaps] == ["NKN/USDT", "BLZ/ETH", "LRC/BTC", "RUNE/EUR"]
    nkn = snaps[0]
    assert nkn.market_id == "NKNUSDT" and nkn.last_update_id == 499869752
    assert nkn.as_of == pd.Timestamp(1633998512.320639, unit="s", tz="UTC")
    assert nkn.bids[0] == (0.3521, 672.0) and nkn.asks[0][0] == 0.3525
    assert (len(nkn.bids), len(nkn.asks)) == (609, 1000)


def test_symbol_unification() -> None:
    assert unify_kraken_pair("XBT/CHF") == "BTC/CHF"
    assert unify_kraken_pair("XDG/USD") == "DOGE/USD"
    assert unify_binance_symbol("NKNUSDT") == "NKN/USDT"
    assert unify_binance_symbol("LRCBTC") == "LRC/BTC"
    with pytest.raises(ValueError, match="no known quote"):
        unify_binance_symbol("FOOQQQ")
