"""The product's answer: coins whose 30d probability clears the bar, best expected return first.

The threshold is never lowered to fill the list; an empty list comes with the reason, naming
the real best candidate (or saying that several tie) and pointing at the near misses a user can
inspect (``near_misses``: the next coins by 30d probability, marked as below the threshold).
Coins are ordered by the conservative probability, then by the uncollapsed estimate beside it,
then by expected return, so a tie is never broken alphabetically.
"""

from __future__ import annotations

import pandas as pd

from crypto_assets.horizons import HORIZON_NAMES
from crypto_assets.market.universe import PEGGED_BASES

TOP_COLUMNS = [
    "day",
    "symbol",
    *[f"expected_return_{h}" for h in HORIZON_NAMES],
    "confidence_30d",
    "confidence_estimate_30d",
    "as_of",
    "model_version_30d",
    "explanation",
]
NEAR_COLUMNS = [*TOP_COLUMNS, "below_threshold_by"]


def _wide(predictions: pd.DataFrame, horizon: str) -> pd.DataFrame:
    """One row per (day, symbol) of the eligible coins: expected returns of every horizon and
    the main horizon's probability, estimate, time, version and explanation."""
    base = predictions["symbol"].astype(str).str.split("/").str[0].str.upper()
    predictions = predictions[~base.isin(PEGGED_BASES)]
    if predictions.empty:
        return pd.DataFrame(columns=TOP_COLUMNS)
    wide = predictions.pivot_table(
        index=["day", "symbol"], columns="horizon", values="expected_return", aggfunc="first"
    ).rename(columns=lambda h: f"expected_return_{h}")
    main = predictions[predictions["horizon"] == horizon].set_index(["day", "symbol"])
    if "probability_estimate" not in main:
        main = main.assign(probability_estimate=main["probability"])
    table = wide.join(
        main[
            ["probability", "probability_estimate", "as_of", "model_version", "explanation"]
        ].rename(
            columns={
                "probability": f"confidence_{horizon}",
                "probability_estimate": f"confidence_estimate_{horizon}",
                "model_version": f"model_version_{horizon}",
            }
        ),
        how="inner",
    ).reset_index()
    for column in TOP_COLUMNS:
        if column not in table:
            table[column] = pd.Series(dtype=_dtype(column))
    order = [
        f"confidence_{horizon}",
        f"confidence_estimate_{horizon}",
        f"expected_return_{horizon}",
    ]
    return table.sort_values(order, ascending=False, kind="stable").reset_index(drop=True)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in columns})


def _best_sentence(table: pd.DataFrame, threshold: float, horizon: str) -> str:
    conf, est = f"confidence_{horizon}", f"confidence_estimate_{horizon}"
    best = table.iloc[0]
    ties = table[table[conf] == best[conf]]
    head = f"no coin reached {threshold:.0%} {horizon} confidence; "
    if len(ties) > 1:
        return (
            head + f"{len(ties)} of {len(table)} coins tie at the highest, {best[conf]:.1%}; "
            f"by the estimate beside it the best is {best['symbol']} ({best[est]:.1%})"
        )
    return head + (
        f"the highest was {best['symbol']} at {best[conf]:.1%} (estimate {best[est]:.1%}) of "
        f"{len(table)} coins"
    )


def select_top_coins(
    predictions: pd.DataFrame, threshold: float = 0.80, horizon: str = "30d"
) -> tuple[pd.DataFrame, str]:
    """(table of passing coins sorted by expected 30d return, a sentence on the outcome).

    Fiat-pegged bases (stablecoins, fiat, tokenised gold) are never eligible: a calm peg is not
    a coin that grows fast, however sure the model is that it will not fall."""
    if predictions.empty:
        return _empty(TOP_COLUMNS), "no predictions for this day"
    if not (predictions["horizon"] == horizon).any():
        return _empty(TOP_COLUMNS), f"no {horizon} predictions (no {horizon} model in use)"
    table = _wide(predictions, horizon)
    if table.empty:
        return _empty(TOP_COLUMNS), "no eligible coins among the predictions of this day"
    passing = table[table[f"confidence_{horizon}"] >= threshold]
    passing = passing.sort_values(f"expected_return_{horizon}", ascending=False, kind="stable")
    if passing.empty:
        reason = _best_sentence(table, threshold, horizon)
    else:
        reason = (
            f"{len(passing)} of {len(table)} coins reached {threshold:.0%} {horizon} confidence"
        )
    out = passing[TOP_COLUMNS].reset_index(drop=True)
    return out.astype({c: _dtype(c) for c in TOP_COLUMNS}), reason


def near_misses(
    predictions: pd.DataFrame, threshold: float = 0.80, n: int = 5, horizon: str = "30d"
) -> pd.DataFrame:
    """The ``n`` best coins BELOW the threshold by 30d probability (then estimate, then expected
    return), with ``below_threshold_by`` (points of probability missing): what a user inspects
    when the list is empty. Never part of the top list."""
    if predictions.empty:
        return _empty(NEAR_COLUMNS)
    table = _wide(predictions, horizon)
    conf = f"confidence_{horizon}"
    below = table[table[conf].notna() & (table[conf] < threshold)].head(max(0, n)).copy()
    below["below_threshold_by"] = threshold - below[conf]
    return below[NEAR_COLUMNS].reset_index(drop=True).astype({c: _dtype(c) for c in NEAR_COLUMNS})


def _dtype(column: str) -> str:
    if column.startswith(("expected_return", "confidence", "below_threshold")):
        return "float64"
    if column in ("day", "as_of"):
        return "datetime64[ns, UTC]"
    return "string"  # not object: an empty column must still type as text in storage
