"""A small crypto-slang lexicon, blended with the model as a prior.

Why: the fine-tuning data are finance tweets about stocks; they rarely say "moon", "rekt", "rug",
"wagmi" or "ATH", so the model under-reads crypto slang. A hand-written lexicon is transparent,
costs nothing at inference, and is only applied to texts where a term actually fires. Its blend
weight is chosen on a labelled crypto TUNING set that is disjoint from the crypto TEST set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

# (pattern, weight): positive = bullish, negative = bearish. Patterns are matched case-insensitive
# on word boundaries. Generic crypto/market slang, not fitted to any labelled text.
_TERMS: list[tuple[str, float]] = [
    # bullish
    (r"to the moon|moon(?:ing|shot)?|🚀+", 1.0),
    (r"new ath|ath|all[- ]time highs?|record highs?", 1.0),
    (r"bull(?:ish|s)?|bull run|bull market", 0.8),
    (r"rall(?:y|ies|ying)|surg(?:e|es|ed|ing)|soar(?:s|ed|ing)?|skyrocket(?:s|ed|ing)?", 0.9),
    (r"pump(?:s|ed|ing)?", 0.5),
    (r"breakout|rebound(?:s|ed)?|bounce[sd]?|rips?|jumps?", 0.6),
    (r"wagmi|lfg|diamond hands|buy(?:ing)? the dip|accumulat(?:e|ing)|lambo|hodl(?:ing)?", 0.6),
    (r"gains?|green|higher|climb(?:s|ed)?|up \d+%", 0.4),
    # bearish
    (r"rekt|ngmi|rug(?:ged|pull|pulls| pull| pulls)?|scam(?:s|med)?|ponzi", -1.0),
    (r"crash(?:es|ed|ing)?|plung(?:e|es|ed|ing)|plummet(?:s|ed|ing)?|meltdown", -1.0),
    (r"dump(?:s|ed|ing)?|sell[- ]?off|sell signal|capitulat(?:e|es|ion)", -0.8),
    (r"bear(?:ish|s)?|bear market|death cross|all[- ]time low", -0.8),
    (r"hack(?:s|ed|ers?)?|exploit(?:s|ed)?|drain(?:s|ed)?|stolen", -0.8),
    (r"tank(?:s|ed|ing)|bleed(?:s|ing)?|bled|slips?|drops?|falls?|falling|losses", -0.6),
    (r"fud|fear|outflows?|liquidat(?:ed|ions?)", -0.4),
]
_PATTERNS = [(re.compile(rf"(?<!\w)(?:{p})(?!\w)", re.IGNORECASE), w) for p, w in _TERMS]


def lexicon_score(text: str) -> tuple[float, int]:
    """(score in [-1, 1], number of matched terms) for one text; 0 hits -> (0.0, 0)."""
    total, hits = 0.0, 0
    for pattern, weight in _PATTERNS:
        n = len(pattern.findall(text))
        if n:
            total += weight * min(n, 2)
            hits += n
    return (math.tanh(total), hits)


def lexicon_proba(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per text a distribution over (bearish, bullish, neutral) and whether any term fired."""
    out = np.zeros((len(texts), 3), dtype=np.float64)
    fired = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        score, hits = lexicon_score(text)
        out[i] = (max(-score, 0.0), max(score, 0.0), 1.0 - abs(score))
        fired[i] = hits > 0
    return out, fired


def blend(model_proba: np.ndarray, texts: Sequence[str], weight: float) -> np.ndarray:
    """Mix the lexicon prior into the model's probabilities where a lexicon term fired."""
    if weight <= 0:
        return model_proba
    if not 0 <= weight <= 1:
        raise ValueError(f"lexicon weight must be in [0, 1], got {weight}")
    lex, fired = lexicon_proba(texts)
    mixed = model_proba.copy()
    mixed[fired] = (1 - weight) * model_proba[fired] + weight * lex[fired]
    return mixed
