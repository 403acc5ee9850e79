"""Universe discovery and diffs on REAL recorded Kraken AssetPairs, parsed by ccxt over HTTP."""

from __future__ import annotations

import pandas as pd
import pytest

from crypto_assets.market.universe import (
    MARKET_COLUMNS,
    PEGGED_BASES,
    UniverseDiff,
    diff_universe,
    filter_universe,
    markets_frame,
)
from crypto_assets_tests.resources.helpers import USD_LIKE_IDS, raw_pairs, replay_markets


@pytest.fixture(scope="module")
def markets_2026() -> pd.DataFrame:
    return replay_markets("2026-01-12")


def test_markets_frame_columns_and_btc_row(markets_2026: pd.DataFrame) -> None:
    assert list(markets_2026.columns) == MARKET_COLUMNS
    assert len(markets_2026) == len(raw_pairs("2026-01-12")) == 1434
    btc = markets_2026.set_index("symbol").loc["BTC/USD"]
    assert (btc.exchange_symbol, btc.altname, btc.wsname) == ("XXBTZUSD", "XBTUSD", "XBT/USD")
    assert btc.active and btc.spot and btc.status == "online"
    raw = raw_pairs("2026-01-12")["XXBTZUSD"]
    assert btc.ordermin == float(raw["ordermin"]) and btc.costmin == float(raw["costmin"])
    assert str(markets_2026["as_of"].dtype) == "datetime64[ns, UTC]"


def test_statuses_match_recorded_file(markets_2026: pd.DataFrame) -> None:
    counts = markets_2026["status"].value_counts().to_dict()
    assert counts == {"online": 1365, "cancel_only": 47, "post_only": 19, "reduce_only": 3}
    # only "online" is tradeable: the other states must not reach the pipeline
    assert not markets_2026.loc[markets_2026["status"] != "online", "active"].any()


@pytest.mark.parametrize("date", ["2025-06-11", "2026-01-12"])
def test_default_universe_counts_match_raw_file(date: str) -> None:
    markets = replay_markets(date)
    universe = filter_universe(markets, ["USD", "USDT", "USDC"], exclude_pegged=False)
    expected = {
        pid
        for pid, info in raw_pairs(date).items()
        if info.get("status") == "online" and info["quote"] in USD_LIKE_IDS
    }
    assert len(universe) == len(expected) > 400
    assert set(universe["exchange_symbol"]) == expected
    assert universe["active"].all() and set(universe["quote"]) <= {"USD", "USDT", "USDC"}
    # the default leaves out fiat-pegged bases (stablecoins, fiat, tokenised gold), only those
    default = filter_universe(markets, ["USD", "USDT", "USDC"], exclude_pegged=True)
    pegged = set(universe["symbol"]) - set(default["symbol"])
    assert {"USDT/USD", "USDC/USD", "EUR/USD"} <= pegged
    assert all(symbol.split("/")[0] in PEGGED_BASES for symbol in pegged)
    assert len(default) > 400


def test_diff_2025_06_to_2025_09_real_listings() -> None:
    before, after = replay_markets("2025-06-11"), replay_markets("2025-09-11")
    by_id = diff_universe(before, after, key="exchange_symbol")
    assert (len(by_id.appeared), len(by_id.disappeared)) == (190, 14)
    assert {"EOSUSD", "KILTUSD", "KUJIUSD"} <= set(by_id.disappeared)
    by_symbol = diff_universe(before, after)
    assert {"EOS/USD", "KILT/USD", "KUJI/USD"} <= set(by_symbol.disappeared)
    assert "EOS/USD" in by_symbol.summary(max_items=20)
    assert by_symbol.summary().startswith("+190 appeared")


def test_diff_status_changes_match_raw_files() -> None:
    old, new = raw_pairs("2025-09-11"), raw_pairs("2026-01-12")
    both = old.keys() & new.keys()
    online = {
        d: {k for k, v in p.items() if v.get("status") == "online"}
        for d, p in (("old", old), ("new", new))
    }
    expected_inactive = sorted(k for k in both if k in online["old"] and k not in online["new"])
    expected_react = sorted(k for k in both if k not in online["old"] and k in online["new"])
    diff = diff_universe(
        replay_markets("2025-09-11"), replay_markets("2026-01-12"), key="exchange_symbol"
    )
    assert diff.went_inactive == expected_inactive and len(expected_inactive) > 0
    assert diff.reactivated == expected_react
    assert diff.disappeared == ["XAUTEUR"]  # the one pair removed between these dates


def test_legacy_2015_file_has_no_status_and_counts_inactive() -> None:
    markets = replay_markets("2015-03-03")
    assert len(markets) == 14
    assert set(markets["status"]) == {"inactive"} and not markets["active"].any()


def _frame(rows: list[tuple[str, bool, bool]]) -> pd.DataFrame:
    markets = {
        s: {
            "symbol": s,
            "base": s.split("/")[0],
            "quote": s.split("/")[1],
            "id": s.replace("/", ""),
            "active": a,
            "spot": sp,
            "info": {},
            "limits": {},
        }
        for s, a, sp in rows
    }
    return markets_frame(markets, pd.Timestamp("2026-01-12"), "inline")


def test_filter_allow_deny_and_validation() -> None:
    frame = _frame(
        [
            ("BTC/USD", True, True),
            ("ETH/USD", True, True),
            ("SOL/EUR", True, True),
            ("DOGE/USD", False, True),
            ("XRP/USDT", True, False),
        ]
    )
    assert filter_universe(frame, ["USD", "USDT"])["symbol"].tolist() == ["BTC/USD", "ETH/USD"]
    assert filter_universe(frame, ["usd"], active_only=False)["symbol"].tolist() == [
        "BTC/USD",
        "DOGE/USD",
        "ETH/USD",
    ]
    assert filter_universe(frame, ["USDT"], spot_only=False)["symbol"].tolist() == ["XRP/USDT"]
    allowed = filter_universe(frame, ["USD"], symbols_allow=["btc/usd", "SOL/EUR"])
    assert allowed["symbol"].tolist() == ["BTC/USD"]  # allow narrows, never adds off-quote
    denied = filter_universe(frame, ["USD"], symbols_deny=["BTC/USD"])
    assert denied["symbol"].tolist() == ["ETH/USD"]
    assert frame.loc[frame.symbol == "DOGE/USD", "status"].item() == "inactive"
    with pytest.raises(ValueError, match="malformed deny"):
        filter_universe(frame, ["USD"], symbols_deny=["../etc/passwd"])
    with pytest.raises(ValueError, match="lacks columns"):
        filter_universe(frame.drop(columns=["quote"]), ["USD"])


def test_diff_inline_and_empty() -> None:
    prev = _frame([("A/USD", True, True), ("B/USD", True, True), ("C/USD", False, True)])
    cur = _frame([("B/USD", False, True), ("C/USD", True, True), ("D/USD", True, True)])
    diff = diff_universe(prev, cur)
    assert diff == UniverseDiff(["D/USD"], ["A/USD"], ["B/USD"], ["C/USD"])
    assert diff.changed
    same = diff_universe(cur, cur)
    assert not same.changed and same.summary() == "no change"
    empty = markets_frame({}, pd.Timestamp("2026-01-01", tz="UTC"), "x")
    assert list(empty.columns) == MARKET_COLUMNS and empty.empty
    assert diff_universe(empty, cur).appeared == ["B/USD", "C/USD", "D/USD"]
