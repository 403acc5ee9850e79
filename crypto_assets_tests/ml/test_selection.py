"""The top-list rule on hand-built predictions: threshold, order, ties, near misses, empty case."""

from __future__ import annotations

import pandas as pd

from crypto_assets.ml.selection import NEAR_COLUMNS, TOP_COLUMNS, near_misses, select_top_coins

DAY = pd.Timestamp("2024-07-19", tz="UTC")


def _predictions(
    probs: dict[str, float], returns: dict[str, float], estimates: dict[str, float] | None = None
) -> pd.DataFrame:
    rows = []
    for symbol, p in probs.items():
        for horizon in ("1h", "24h", "7d", "30d"):
            main = horizon == "30d"
            rows.append(
                {
                    "day": DAY,
                    "symbol": symbol,
                    "horizon": horizon,
                    "as_of": DAY + pd.Timedelta(days=1),
                    "expected_return": returns[symbol] if main else 0.001,
                    "probability": p if main else 0.99,
                    "probability_estimate": (estimates or probs)[symbol] if main else 0.99,
                    "model_version": "3",
                    "explanation": "x",
                }
            )
    return pd.DataFrame(rows)


def test_only_passing_coins_sorted_by_30d_return() -> None:
    preds = _predictions(
        {"A/USD": 0.85, "B/USD": 0.80, "C/USD": 0.79, "D/USD": 0.95},
        {"A/USD": 0.02, "B/USD": 0.10, "C/USD": 0.50, "D/USD": 0.05},
    )
    table, reason = select_top_coins(preds, 0.80)
    assert list(table["symbol"]) == ["B/USD", "D/USD", "A/USD"]  # C: 79 % is hidden
    assert list(table.columns) == TOP_COLUMNS
    assert reason == "3 of 4 coins reached 80% 30d confidence"


def test_pegged_coins_are_never_recommended() -> None:
    preds = _predictions({"EURI/USDT": 0.99, "A/USD": 0.81}, {"EURI/USDT": 0.3, "A/USD": 0.1})
    table, _ = select_top_coins(preds, 0.80)
    assert list(table["symbol"]) == ["A/USD"]


def test_empty_list_names_the_real_best_candidate() -> None:
    preds = _predictions({"A/USD": 0.61, "B/USD": 0.74}, {"A/USD": 0.2, "B/USD": 0.1})
    table, reason = select_top_coins(preds, 0.80)
    assert table.empty and list(table.columns) == TOP_COLUMNS
    assert reason == (
        "no coin reached 80% 30d confidence; the highest was B/USD at 74.0% (estimate 74.0%) "
        "of 2 coins"
    )
    empty, why = select_top_coins(preds[preds["horizon"] != "30d"], 0.80)
    assert empty.empty and "no 30d predictions" in why
    assert select_top_coins(preds.iloc[0:0], 0.80)[1] == "no predictions for this day"


def test_a_tie_is_said_and_broken_by_the_estimate_not_the_alphabet() -> None:
    preds = _predictions(
        {"AAA/USD": 0.358, "MMM/USD": 0.358, "ZZZ/USD": 0.358},
        {"AAA/USD": 0.01, "MMM/USD": 0.02, "ZZZ/USD": 0.03},
        estimates={"AAA/USD": 0.40, "MMM/USD": 0.38, "ZZZ/USD": 0.45},
    )
    _, reason = select_top_coins(preds, 0.80)
    assert "3 of 3 coins tie at the highest, 35.8%" in reason
    assert "the best is ZZZ/USD (45.0%)" in reason


def test_near_misses_are_the_next_coins_below_the_threshold() -> None:
    preds = _predictions(
        {"A/USD": 0.85, "B/USD": 0.70, "C/USD": 0.79, "D/USD": 0.30, "USDC/USD": 0.79},
        {"A/USD": 0.1, "B/USD": 0.2, "C/USD": 0.05, "D/USD": 0.4, "USDC/USD": 0.0},
    )
    near = near_misses(preds, 0.80, n=2)
    assert list(near.columns) == NEAR_COLUMNS
    assert list(near["symbol"]) == ["C/USD", "B/USD"]  # A passes; the stablecoin never shows
    assert near["below_threshold_by"].round(2).tolist() == [0.01, 0.10]
    assert near_misses(preds.iloc[0:0]).empty
