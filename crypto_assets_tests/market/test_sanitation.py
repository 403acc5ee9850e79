"""Sanitation and schema checks on real candles with one defect planted at a time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_assets.market.sanitation import merge_new_candles, sanitize_ohlcv
from crypto_assets.market.schemas import to_canonical, validation_failures
from crypto_assets_tests.fixtures import BINANCE_DIR

AS_OF = pd.Timestamp("2024-03-04", tz="UTC")


@pytest.fixture(scope="module")
def real_candles() -> pd.DataFrame:
    frame = pd.read_parquet(BINANCE_DIR / "ohlcv_1h.parquet")
    window = (frame["date"] >= "2024-03-01") & (frame["date"] < "2024-03-04")
    picked = frame[window & frame["symbol"].isin(["BTC/USDT", "ETH/USDT", "SOL/USDT"])]
    return to_canonical(picked)


def _verdict(quality: pd.DataFrame, symbol: str) -> pd.Series:
    return quality.set_index("symbol").loc[symbol]


def test_real_candles_are_clean(real_candles: pd.DataFrame) -> None:
    clean, quality = sanitize_ohlcv(real_candles, "1h", as_of=AS_OF)
    assert len(clean) == len(real_candles) == 3 * 72
    assert not quality["excluded"].any()
    assert validation_failures(real_candles, "1h", now=AS_OF).empty


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("close", -1.0, "price <= 0"),
        ("high", 1.0, "high < max(open, close)"),
        ("low", 10**9, "low > min(open, close)"),
        ("volume", -5.0, "volume < 0"),
        ("open", np.nan, "non-finite value"),
    ],
)
def test_corrupt_candle_excludes_coin_with_reason(
    real_candles: pd.DataFrame, column: str, value: float, expected: str
) -> None:
    bad = real_candles.copy()
    row = bad.index[bad["symbol"] == "ETH/USDT"][10]
    bad.loc[row, column] = value
    clean, quality = sanitize_ohlcv(bad, "1h", as_of=AS_OF)
    eth = _verdict(quality, "ETH/USDT")
    assert eth["excluded"] and expected in eth["reason"]
    assert eth["corrupt_rows"] == 1
    assert "ETH/USDT" not in set(clean["symbol"])
    # the other coins are untouched and nothing of theirs is lost
    assert len(clean) == 2 * 72
    if column != "open":  # NaN fails pandera's nullable check under a different name
        assert not validation_failures(bad, "1h", now=AS_OF).empty


def test_future_and_forming_candles_are_corrupt(real_candles: pd.DataFrame) -> None:
    early = AS_OF - pd.Timedelta(minutes=30)  # the last candle (23:00) is still forming
    _, quality = sanitize_ohlcv(real_candles, "1h", as_of=early)
    assert quality["reason"].str.contains("future or still forming").all()
    failures = validation_failures(real_candles, "1h", now=early)
    assert failures["check"].str.contains("not complete").any()


def test_exact_duplicate_collapsed_conflicting_duplicate_excluded(
    real_candles: pd.DataFrame,
) -> None:
    btc = real_candles[real_candles["symbol"] == "BTC/USDT"].iloc[[5]]
    conflicting = real_candles[real_candles["symbol"] == "SOL/USDT"].iloc[[7]].copy()
    conflicting["close"] *= 1.01
    doubled = pd.concat([real_candles, btc, conflicting], ignore_index=True)
    clean, quality = sanitize_ohlcv(doubled, "1h", as_of=AS_OF)
    assert _verdict(quality, "BTC/USDT")["duplicate_rows"] == 1
    assert not _verdict(quality, "BTC/USDT")["excluded"]
    assert (clean["symbol"] == "BTC/USDT").sum() == 72
    sol = _verdict(quality, "SOL/USDT")
    assert sol["excluded"] and "conflicting duplicate" in sol["reason"]
    dup_checks = validation_failures(doubled, "1h", now=AS_OF)
    assert len(dup_checks) > 0


def test_gaps_and_staleness(real_candles: pd.DataFrame) -> None:
    gappy = real_candles.drop(real_candles.index[(real_candles["symbol"] == "BTC/USDT")][10:20])
    _, quality = sanitize_ohlcv(gappy, "1h", as_of=AS_OF)
    btc = _verdict(quality, "BTC/USDT")
    assert btc["missing_candles"] == 10 and btc["longest_gap_bars"] == 10
    assert btc["excluded"] and btc["reason"].startswith("incomplete")
    _, later = sanitize_ohlcv(real_candles, "1h", as_of=AS_OF + pd.Timedelta(hours=12))
    assert later["reason"].str.startswith("stale").all()
    _, historical = sanitize_ohlcv(real_candles, "1h", as_of=None)
    assert not historical["excluded"].any()  # no as_of: no staleness, no survivorship bias


def test_misaligned_time(real_candles: pd.DataFrame) -> None:
    shifted = real_candles.copy()
    shifted.loc[shifted.index[0], "date"] += pd.Timedelta(minutes=7)
    _, quality = sanitize_ohlcv(shifted, "1h", as_of=AS_OF)
    assert "time not aligned" in _verdict(quality, shifted.loc[0, "symbol"])["reason"]


def test_merge_never_overwrites_stored(real_candles: pd.DataFrame) -> None:
    stored = real_candles.iloc[:100]
    fetched = real_candles.iloc[50:].copy()
    fetched.loc[fetched.index[:5], "close"] *= 2  # a source now disagrees with what we stored
    merged, conflicts = merge_new_candles(stored, fetched)
    assert len(merged) == len(real_candles)
    assert len(conflicts) == 5
    pd.testing.assert_frame_equal(
        merged.iloc[:100].reset_index(drop=True), stored.reset_index(drop=True)
    )


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match=r"lacks columns \['volume'\]"):
        to_canonical(pd.DataFrame(columns=["symbol", "date", "open", "high", "low", "close"]))


def test_universe_leaves_out_pegged_bases() -> None:
    from crypto_assets.market.universe import filter_universe

    markets = pd.DataFrame(
        {
            "symbol": ["BTC/USD", "USDT/USD", "EUR/USD", "PAXG/USD", "EURI/USDT", "SOL/USDC"],
            "base": ["BTC", "USDT", "EUR", "PAXG", "EURI", "SOL"],
            "quote": ["USD", "USD", "USD", "USD", "USDT", "USDC"],
            "active": True,
            "spot": True,
        }
    )
    chosen = filter_universe(markets, ["USD", "USDT", "USDC"], exclude_pegged=True)
    assert list(chosen["symbol"]) == ["BTC/USD", "SOL/USDC"]
    assert len(filter_universe(markets, ["USD"])) == 4  # by default the data keeps them
