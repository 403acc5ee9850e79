"""Why a coin was selected: per-prediction SHAP contributions in words a user reads.

The estimator computes the contributions (``SignalEstimator.explain``: exact TreeSHAP for the
tree families, expected gradients from the ``shap`` package for the recurrent one). Two
explanations are stored per prediction:

* of the RANKING SCORE, which the model learns as the coin's percentile rank among all coins
  at that time, so "+1.2 pts" means that feature lifted this coin's expected rank by 1.2
  percentile points above the model's average coin (the sequence family learns the rank on a
  unit-variance scale; its points are converted back to rank points);
* of the PROBABILITY model, whose contributions are on the log-odds of P(net return > 0);
  "+4.0 pts" there means that, of the model's raw probability for this coin, 4.0 percentage
  points are this feature's doing (the raw probability minus what it would be without that
  feature's term). The threshold applies to the calibrated probability, a monotone map of the
  raw one, so the reasons keep their sign and order.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crypto_assets.ml.estimators import Output
from crypto_assets.ml.model import HorizonModel

# Ranking-score units per family, in rank (0..1) units: the recurrent family learns the rank
# on a unit-variance scale (ml/estimators/recurrent.py), the tree families the rank itself.
SCORE_UNITS: dict[str, float] = {"rnn": 1.0 / 12**0.5}


def score_units(estimator: Any) -> float:
    """One unit of ``estimator``'s score in rank units. The ensemble averages its members'
    scores divided by their spreads, so one of its units is their mean spread (in rank units)."""
    if estimator.family == "ensemble":
        pairs = zip(estimator.scale, estimator.members, strict=True)
        return float(np.mean([spread * score_units(member) for spread, member in pairs]))
    return SCORE_UNITS.get(estimator.family, 1.0)


# Exact names first; otherwise names are built from the tokens below.
FEATURE_NAMES: dict[str, str] = {
    "rsi_14": "RSI(14)",
    "macd_norm": "MACD",
    "macd_signal_norm": "MACD signal",
    "macd_hist_norm": "MACD histogram",
    "atr_14_norm": "ATR(14) / price",
    "bb_width_20": "Bollinger band width",
    "bb_pctb_20": "Bollinger %B",
    "hl_range": "high-low range",
    "days_since_first_candle": "days listed",
    "log_dollar_volume_7d": "7d dollar volume (log)",
    "max_ret_30d": "largest daily return in 30d",
    "skew_30d": "30d return skewness",
    "beta_60d": "60d beta to the market",
    "idio_vol_60d": "60d idiosyncratic volatility",
    "amihud_30d": "30d illiquidity (Amihud, log)",
}
_TOKENS: dict[str, str] = {
    "ret": "return",
    "vol": "volatility",
    "dist": "distance from",
    "ema": "EMA",
    "sma": "SMA",
    "obv": "OBV",
    "slope": "slope",
    "volume": "volume",
    "dollar": "dollar",
    "z": "z-score",
    "drawdown": "drawdown",
    "rsi": "RSI",
    "macd": "MACD",
    "atr": "ATR",
    "norm": "(normalised)",
}
_PERIOD = re.compile(r"^\d+[hdw]$")
_RETURN_LIKE = re.compile(r"^(ret|max_ret|idio_vol|dist|drawdown|vol)_")


def humanize_feature(name: str) -> str:
    """'ret_7d_xrank' -> '7d return rank'; unknown names fall back to spaced tokens."""
    rank = name.endswith("_xrank")
    base = name.removesuffix("_xrank")
    if base in FEATURE_NAMES:
        words = FEATURE_NAMES[base]
    else:
        tokens = base.split("_")
        periods = [t for t in tokens if _PERIOD.match(t)]
        numbers = [t for t in tokens if t.isdigit()]
        rest = [_TOKENS.get(t, t) for t in tokens if t not in periods and t not in numbers]
        words = " ".join([*periods, *rest])
        if numbers:
            words += f" ({', '.join(numbers)})"
    return f"{words} rank" if rank else words


def _format_value(name: str, value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if name.endswith("_xrank"):
        return f"{value:.2f}"
    if _RETURN_LIKE.match(name):
        return f"{value * 100:+.1f} %"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Explanation:
    """One prediction's reasons: a sentence for the dashboard and raw SHAP values for storage."""

    reasons: list[str]  # one short phrase per feature, strongest first
    contributions: list[tuple[str, float]]  # (feature, SHAP value on the output's own scale)

    @property
    def text(self) -> str:
        return "; ".join(self.reasons)

    def contributions_json(self) -> str:
        return json.dumps([[name, round(value, 6)] for name, value in self.contributions])


def shap_values(
    model: HorizonModel,
    features: pd.DataFrame,
    output: Output = "score",
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """SHAP contributions of every feature (columns) to the ranking score (``"score"``) or to
    the probability model's log-odds (``"proba"``) per row (of the mask ``rows``; the others
    are history), plus ``bias`` (the model's output for an average coin)."""
    missing = [c for c in model.features if c not in features.columns]
    if missing:
        raise ValueError(f"{model.horizon} model: feature frame lacks columns {missing}")
    if not len(features) or (rows is not None and not np.any(rows)):
        return pd.DataFrame(columns=[*model.features, "bias"])
    return model.estimator.explain(features, output, rows)


def _points(model: HorizonModel, contrib: pd.DataFrame, output: Output) -> np.ndarray:
    """Each feature's part of the output in percentage points (see the module docstring)."""
    values = contrib[model.features].to_numpy(dtype=float)
    if output == "score":
        return values * score_units(model.estimator) * 100
    margin = contrib.sum(axis=1).to_numpy(dtype=float)[:, None]
    return (_sigmoid(margin) - _sigmoid(margin - values)) * 100


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def explain_rows(
    model: HorizonModel,
    features: pd.DataFrame,
    k: int = 3,
    output: Output = "score",
    rows: np.ndarray | None = None,
) -> list[Explanation]:
    """The ``k`` features that moved each row's output most, strongest first."""
    contrib = shap_values(model, features, output, rows)
    if contrib.empty:
        return []
    values = contrib[model.features].to_numpy(dtype=float)
    points = _points(model, contrib, output)
    chosen = features if rows is None else features[np.asarray(rows, dtype=bool)]
    raw = chosen[model.features].to_numpy(dtype=float)
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
    out: list[Explanation] = []
    for row, cols in enumerate(order):
        reasons, pairs = [], []
        for col in cols:
            name = model.features[col]
            pairs.append((name, float(values[row, col])))
            reasons.append(
                f"{humanize_feature(name)} {_format_value(name, raw[row, col])} "
                f"({points[row, col]:+.1f} pts)"
            )
        out.append(Explanation(reasons, pairs))
    return out


def explain(model: HorizonModel, features: pd.DataFrame, k: int = 3) -> list[str]:
    """One readable sentence per row, e.g. '7d return rank 0.95 (+1.2 pts); RSI(14) 71.3 (...)'."""
    return [e.text for e in explain_rows(model, features, k)]


EXPLAIN_COLUMNS = [
    "symbol",
    "date",
    "explanation",
    "shap_top",
    "explanation_probability",
    "shap_top_probability",
]


def explain_frame(
    model: HorizonModel, features: pd.DataFrame, k: int = 3, rows: np.ndarray | None = None
) -> pd.DataFrame:
    """symbol, date, the ranking score's reasons (``explanation``, ``shap_top``: JSON
    [[feature, value], ...]) and the probability's (``explanation_probability``,
    ``shap_top_probability``) per row, or per row of the mask ``rows`` (the others history)."""
    score = explain_rows(model, features, k, "score", rows)
    proba = explain_rows(model, features, k, "proba", rows)
    chosen = features if rows is None else features[np.asarray(rows, dtype=bool)]
    return pd.DataFrame(
        {
            "symbol": chosen["symbol"].to_numpy() if score else [],
            "date": chosen["date"].to_numpy() if score else [],
            "explanation": [e.text for e in score],
            "shap_top": [e.contributions_json() for e in score],
            "explanation_probability": [e.text for e in proba],
            "shap_top_probability": [e.contributions_json() for e in proba],
        }
    )[EXPLAIN_COLUMNS]
