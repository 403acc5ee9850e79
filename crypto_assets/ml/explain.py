"""Why a coin was selected: per-prediction SHAP contributions in words a user reads.

The estimator computes the contributions (``SignalEstimator.explain``: exact TreeSHAP for tree
families). They are on the ranking score, which the model learns as the coin's percentile rank
among all coins at that time, so "+1.2 pts" means that feature lifted this coin's expected rank
by 1.2 percentile points above the model's average coin.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto_assets.ml.model import HorizonModel

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
_RETURN_LIKE = re.compile(r"^(ret|dist|drawdown|vol)_")


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
    contributions: list[tuple[str, float]]  # (feature, SHAP value in score units)

    @property
    def text(self) -> str:
        return "; ".join(self.reasons)

    def contributions_json(self) -> str:
        return json.dumps([[name, round(value, 6)] for name, value in self.contributions])


def shap_values(model: HorizonModel, features: pd.DataFrame) -> pd.DataFrame:
    """SHAP contributions of every feature (columns) to the ranking score per row, plus ``bias``
    (the model's average score)."""
    missing = [c for c in model.features if c not in features.columns]
    if missing:
        raise ValueError(f"{model.horizon} model: feature frame lacks columns {missing}")
    if not len(features):
        return pd.DataFrame(columns=[*model.features, "bias"])
    return model.estimator.explain(features, output="score")


def explain_rows(model: HorizonModel, features: pd.DataFrame, k: int = 3) -> list[Explanation]:
    """The ``k`` features that moved each row's expected return most, strongest first."""
    contrib = shap_values(model, features)
    if contrib.empty:
        return []
    values = contrib[model.features].to_numpy()
    raw = features[model.features].to_numpy(dtype=float)
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
    out: list[Explanation] = []
    for row, cols in enumerate(order):
        reasons, pairs = [], []
        for col in cols:
            name = model.features[col]
            shap = float(values[row, col])
            pairs.append((name, shap))
            reasons.append(
                f"{humanize_feature(name)} {_format_value(name, raw[row, col])} "
                f"({shap * 100:+.1f} pts)"
            )
        out.append(Explanation(reasons, pairs))
    return out


def explain(model: HorizonModel, features: pd.DataFrame, k: int = 3) -> list[str]:
    """One readable sentence per row, e.g. '7d return rank 0.95 (+1.2 pts); RSI(14) 71.3 (...)'."""
    return [e.text for e in explain_rows(model, features, k)]


def explain_frame(model: HorizonModel, features: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """symbol, date, explanation (text), shap_top (JSON [[feature, value], ...]) for storage."""
    rows = explain_rows(model, features, k)
    return pd.DataFrame(
        {
            "symbol": features["symbol"].to_numpy() if rows else [],
            "date": features["date"].to_numpy() if rows else [],
            "explanation": [e.text for e in rows],
            "shap_top": [e.contributions_json() for e in rows],
        }
    )
