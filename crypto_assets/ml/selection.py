"""The product's answer: coins whose 30d probability clears the bar, best expected return first.

The threshold is never lowered to fill the list; an empty list comes with the reason.
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
    "as_of",
    "model_version_30d",
    "explanation",
]


def select_top_coins(
    predictions: pd.DataFrame, threshold: float = 0.80, horizon: str = "30d"
) -> tuple[pd.DataFrame, str]:
    """(table of passing coins sorted by expected 30d return, a sentence on the outcome).

    Fiat-pegged bases (stablecoins, fiat, tokenised gold) are never eligible: a calm peg is not
    a coin that grows fast, however sure the model is that it will not fall."""
    empty = pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in TOP_COLUMNS})
    if not predictions.empty:
        base = predictions["symbol"].astype(str).str.split("/").str[0].str.upper()
        predictions = predictions[~base.isin(PEGGED_BASES)]
    if predictions.empty:
        return empty, "no predictions for this day"
    wide = predictions.pivot_table(
        index=["day", "symbol"], columns="horizon", values="expected_return", aggfunc="first"
    ).rename(columns=lambda h: f"expected_return_{h}")
    main = predictions[predictions["horizon"] == horizon].set_index(["day", "symbol"])
    if main.empty:
        return empty, f"no {horizon} predictions (no {horizon} model in use)"
    table = wide.join(
        main[["probability", "as_of", "model_version", "explanation"]].rename(
            columns={
                "probability": f"confidence_{horizon}",
                "model_version": f"model_version_{horizon}",
            }
        ),
        how="inner",
    ).reset_index()
    for column in TOP_COLUMNS:
        if column not in table:
            table[column] = pd.Series(dtype=_dtype(column))
    best = table.loc[table[f"confidence_{horizon}"].idxmax()]
    passing = table[table[f"confidence_{horizon}"] >= threshold]
    passing = passing.sort_values(f"expected_return_{horizon}", ascending=False)[TOP_COLUMNS]
    if passing.empty:
        reason = (
            f"no coin reached {threshold:.0%} {horizon} confidence; the highest was "
            f"{best['symbol']} at {best[f'confidence_{horizon}']:.1%} of {len(table)} coins"
        )
    else:
        reason = (
            f"{len(passing)} of {len(table)} coins reached {threshold:.0%} {horizon} confidence"
        )
    return passing.reset_index(drop=True).astype({c: _dtype(c) for c in TOP_COLUMNS}), reason


def _dtype(column: str) -> str:
    if column.startswith(("expected_return", "confidence")):
        return "float64"
    if column in ("day", "as_of"):
        return "datetime64[ns, UTC]"
    return "string"  # not object: an empty column must still type as text in storage
