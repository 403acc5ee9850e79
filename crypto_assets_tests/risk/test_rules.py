"""The risk rules (risk.rules H1-H5, W1-W6, A1-A5, clusters) on small inline frames built to
test each rule, plus the verdict on REAL candles (binance_2024) where realism matters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_assets.ml.selection import TOP_COLUMNS
from crypto_assets.risk.allocation import coin_stats, suggest_weights, usd_rate
from crypto_assets.risk.assess import CHECKED_TOP_COLUMNS, RISK_COLUMNS, check_top_list
from crypto_assets.risk.clusters import correlation_clusters
from crypto_assets.risk.rules import RiskRules
from crypto_assets.risk.source import book_levels, empty_books
from crypto_assets_tests.fixtures import BINANCE_DIR

DAY_END = pd.Timestamp("2024-06-01", tz="UTC")
RULES = RiskRules()


def _candles(paths: dict[str, np.ndarray], volume: float | dict[str, float] = 1e6) -> pd.DataFrame:
    """Daily candles ending the day before DAY_END from log-return paths (one per symbol)."""
    frames = []
    for symbol, log_returns in paths.items():
        closes = 10 * np.exp(np.cumsum(log_returns))
        dates = pd.date_range(end=DAY_END - pd.Timedelta(days=1), periods=len(closes), freq="D")
        vol = volume[symbol] if isinstance(volume, dict) else volume
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "date": dates,
                    "open": closes,
                    "high": closes,
                    "low": closes,
                    "close": closes,
                    "volume": vol / closes,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _factor_paths(days: int = 120) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 0.03, days), rng.normal(0, 0.03, days)
    noise = lambda: rng.normal(0, 0.008, days)  # noqa: E731
    return {
        "A1/USD": a + noise(),
        "A2/USD": a + noise(),
        "A3/USD": a + noise(),
        "B1/USD": b + noise(),
        "B2/USD": b + noise(),
    }


def _top(symbols: list[str]) -> pd.DataFrame:
    n = len(symbols)
    return pd.DataFrame(
        {
            "day": DAY_END - pd.Timedelta(days=1),
            "symbol": symbols,
            **{
                f"expected_return_{h}": np.linspace(0.3, 0.1, n) for h in ("1h", "24h", "7d", "30d")
            },
            "confidence_30d": 0.9,
            "confidence_estimate_30d": 0.92,
            "as_of": DAY_END,
            "model_version_30d": "1",
            "explanation": "x",
        }
    )[TOP_COLUMNS]


def _deep_book(
    symbol: str, mid: float = 10.0, spread: float = 0.001, as_of=DAY_END
) -> pd.DataFrame:
    half = mid * spread / 2
    bids = [(mid - half - i * mid * 0.001, 1e5 / mid) for i in range(50)]
    asks = [(mid + half + i * mid * 0.001, 1e5 / mid) for i in range(50)]
    return book_levels(symbol, "test", bids, asks, as_of, "inline")


def test_rules_validate_every_parameter() -> None:
    with pytest.raises(ValueError, match="max_slippage"):
        RiskRules(max_slippage=1.5)
    with pytest.raises(ValueError, match="ticket_usd"):
        RiskRules(ticket_usd=float("nan"))
    with pytest.raises(ValueError, match="min_return_days"):
        RiskRules(min_return_days=40, volatility_days=30)
    assert RULES.lookback_days == 91


def test_clusters_find_the_two_factors() -> None:
    paths = _factor_paths() | {"NEW/USD": np.random.default_rng(1).normal(0, 0.03, 10)}
    clusters = correlation_clusters(_candles(paths), list(paths), DAY_END, RULES).set_index(
        "symbol"
    )
    assert clusters.loc["A1/USD", "cluster"] == "c1" and clusters.loc["A1/USD", "cluster_size"] == 3
    assert clusters.loc["A1/USD", "cluster_peers"] == "A2/USD, A3/USD"
    assert clusters.loc["B1/USD", "cluster"] == clusters.loc["B2/USD", "cluster"] == "c2"
    assert clusters.loc["NEW/USD", "cluster_size"] == 1  # 9 returns: too few to correlate
    assert clusters.loc["NEW/USD", "return_days_corr"] == 9


def test_clusters_never_see_after_the_day() -> None:
    paths = _factor_paths()
    candles = _candles(paths)
    later = candles.assign(date=candles["date"] + pd.Timedelta(days=400), close=1.0)
    both = pd.concat([candles, later])
    before = correlation_clusters(candles, list(paths), DAY_END, RULES)
    pd.testing.assert_frame_equal(before, correlation_clusters(both, list(paths), DAY_END, RULES))


def test_allocation_scales_caps_and_limits_clusters() -> None:
    coins = pd.DataFrame(
        {
            "symbol": ["A", "B", "C", "D", "E"],
            "sigma_daily": [0.02, 0.08, 0.04, 0.04, 0.01],
            "dollar_volume_usd": [1e9, 1e9, 1e9, 5e4, 1e9],
            "cluster": ["c1", "c1", "c1", "c2", "c3"],
            "held_back": [False, False, False, False, True],
        }
    )
    out = suggest_weights(coins, RULES).set_index("symbol")
    assert out.loc["B", "weight_vol"] == pytest.approx(0.004 / 0.08)  # A1: 5 %
    assert out.loc["A", "weight_capped"] == pytest.approx(0.10)  # A2: 20 % -> 10 %
    assert out.loc["D", "weight_capped"] == pytest.approx(0.01 * 5e4 / 25_000)  # A3: 2 %
    c1 = out.loc[["A", "B", "C"], "suggested_allocation"]
    assert c1.sum() == pytest.approx(0.25)  # A4: 10 + 5 + 10 = 25 % -> exactly at the cap
    assert out.loc["E", "suggested_allocation"] == 0.0  # held back
    many = pd.DataFrame(
        {
            "symbol": list("abcdefghijklmn"),
            "sigma_daily": 0.01,
            "dollar_volume_usd": 1e9,
            "cluster": [f"c{i}" for i in range(14)],
            "held_back": False,
        }
    )
    total = suggest_weights(many, RULES)["suggested_allocation"]
    assert total.sum() == pytest.approx(1.0)  # A5: 14 x 10 % -> scaled to 100 %


def test_usd_rate_and_coin_stats() -> None:
    candles = _candles({"BTC/USDT": np.full(40, 0.01), "X/BTC": np.full(40, 0.0)}, volume=2e6)
    max_age = pd.Timedelta(hours=36)
    assert usd_rate("USDC", candles, DAY_END, max_age) == 1.0
    btc_close = candles[candles.symbol == "BTC/USDT"]["close"].iloc[-1]
    assert usd_rate("BTC", candles, DAY_END, max_age) == pytest.approx(btc_close)
    assert np.isnan(usd_rate("BTC", candles, DAY_END + pd.Timedelta(days=30), max_age))
    assert np.isnan(usd_rate("EUR", candles, DAY_END, max_age))
    stats = coin_stats(candles, ["X/BTC", "BTC/USDT"], DAY_END, RULES).set_index("symbol")
    assert stats.loc["X/BTC", "dollar_volume_usd"] == pytest.approx(2e6 * btc_close)
    assert (
        stats.loc["BTC/USDT", "return_days"] == 30 and stats.loc["BTC/USDT", "sigma_daily"] < 1e-12
    )


def test_every_hard_rule_holds_back_with_its_reason() -> None:
    paths = {s: p for s, p in _factor_paths().items()}
    volume = {"A1/USD": 5e7, "A2/USD": 5e7, "A3/USD": 5e4, "B1/USD": 5e7, "B2/USD": 5e7}
    candles = _candles(paths, volume)
    short = _candles({"YOUNG/USD": np.full(10, 0.01)}, 5e7)
    books = pd.concat(
        [
            _deep_book("A1/USD"),
            _deep_book("A2/USD", spread=0.03),  # H3 spread
            _deep_book("A3/USD"),
            book_levels("B1/USD", "test", [(9.99, 10.0)], [(10.01, 10.0)], DAY_END, "inline"),  # H2
            _deep_book("YOUNG/USD"),
        ]
    )
    top = _top(["A1/USD", "A2/USD", "A3/USD", "B1/USD", "B2/USD", "YOUNG/USD"])
    checked, risk = check_top_list(top, pd.concat([candles, short]), books, DAY_END, RULES)
    assert list(checked.columns) == CHECKED_TOP_COLUMNS and list(risk.columns) == RISK_COLUMNS
    assert list(checked["symbol"]) == list(top["symbol"])  # order kept, nobody dropped
    reason = checked.set_index("symbol")["held_back_reason"]
    assert reason["A1/USD"] == ""
    assert reason["A2/USD"].startswith("slippage") and "spread 3.00% > 2.00%" in reason["A2/USD"]
    assert reason["A3/USD"] == "daily dollar volume $50,000 < $100,000"
    assert reason["B1/USD"] == "a $2,500 ticket does not fit in the visible book"
    assert reason["YOUNG/USD"] == "9 daily returns < 20: cannot size"
    flags = checked.set_index("symbol")["risk_flags"]
    assert flags["B2/USD"] == "no order book"  # W5: not enforced, said
    assert "young listing: 10 days" in flags["YOUNG/USD"]
    held = checked[checked["held_back"]]
    assert (held["suggested_allocation"] == 0).all() and len(held) == 4
    assert checked.loc[~checked["held_back"], "suggested_allocation"].gt(0).all()


def test_stale_books_are_shown_not_enforced_unless_required() -> None:
    paths = {"A1/USD": _factor_paths()["A1/USD"]}
    old = DAY_END - pd.Timedelta(days=900)
    books = _deep_book("A1/USD", spread=0.05, as_of=old)
    checked, _ = check_top_list(_top(["A1/USD"]), _candles(paths, 5e7), books, DAY_END, RULES)
    row = checked.iloc[0]
    assert not row["held_back"] and not row["book_current"] and row["spread"] == pytest.approx(0.05)
    assert "is not current: slippage/spread not enforced" in row["risk_flags"]
    strict = RiskRules(require_book=True)
    checked, _ = check_top_list(_top(["A1/USD"]), _candles(paths, 5e7), books, DAY_END, strict)
    assert checked.iloc[0]["held_back"] and "not current" in checked.iloc[0]["held_back_reason"]


def test_watch_list_is_judged_never_allocated_and_empty_top_is_valid() -> None:
    paths = _factor_paths()
    candles = _candles(paths, {s: 5e4 for s in paths})
    checked, risk = check_top_list(_top([]), candles, empty_books(), DAY_END, RULES, ["B1/USD"])
    assert checked.empty and list(checked.columns) == CHECKED_TOP_COLUMNS
    row = risk.set_index("symbol").loc["B1/USD"]
    assert row["role"] == "watch" and not row["held_back"] and np.isnan(row["suggested_allocation"])
    assert "would be held back: daily dollar volume $50,000 < $100,000" in row["risk_flags"]


def test_real_candles_binance_2024() -> None:
    candles = pd.read_parquet(BINANCE_DIR / "ohlcv_1d.parquet")
    day_end = pd.Timestamp("2024-08-02", tz="UTC")
    symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "DOGE/USDT", "SHIB/USDT", "PEPE/USDT"]
    checked, _ = check_top_list(_top(symbols), candles, empty_books(), day_end, RULES)
    by = checked.set_index("symbol")
    assert (
        by.loc["DOGE/USDT", "cluster"] == by.loc["SHIB/USDT", "cluster"]
    )  # memecoins move together
    assert checked["suggested_allocation"].sum() <= 1.0
    cluster_totals = checked.groupby("cluster")["suggested_allocation"].sum()
    assert (cluster_totals <= RULES.max_cluster_weight + 1e-12).all()
    assert (by["dollar_volume_usd"] > 1e7).all() and not by["held_back"].any()
