"""Detectors of FUD, FOMO, meme pumps and influencer pushes on per-coin text aggregates.

Each detector reads one row per (coin, bucket) made by ``signals.aggregate_posts`` plus the
trailing z-scores of ``signals.add_trailing_z`` (the coin's OWN history before the bucket, so a
bucket never sees itself or the future). A detector that lacks an input (no price, no history)
gives a null flag, never a guessed one. Rules (defaults in :class:`DetectorRules`):

- **FUD**: a burst of negative posts above the coin's norm: ``bearish >= min_posts`` and
  ``bearish_z >= burst_z`` and the bucket's mean sentiment is below zero.
- **FOMO**: a burst of positive posts with a price run-up: ``bullish >= min_posts`` and
  ``bullish_z >= burst_z`` and the coin's return over the bucket (close/open - 1, from candles)
  ``>= fomo_min_return``. Null when the price is not known.
- **meme pump**: a mention burst with coordinated buy language on a low-attention coin:
  ``mentions_z >= pump_z``, ``authors >= pump_min_authors``, ``buy_share >= pump_buy_share``
  (share of posts with "buy now", "pump", "to the moon", "all in", "don't sell", rockets ...),
  the coin's trailing mean mentions ``<= pump_max_baseline`` (low attention before the burst),
  and, where the coin's median daily quote volume is known, ``< pump_max_quote_volume`` (low
  liquidity; unknown volume does not block the rule and is reported).
- **influencer push**: posts from high-reach authors concentrated on one coin in one bucket:
  ``>= influencer_min_authors`` distinct high-reach authors (reach >= ``influencer_min_reach``
  followers) who together write ``>= influencer_min_share`` of the coin's posts. Where a source
  publishes no reach, posts with engagement >= ``influencer_min_engagement`` count instead, and
  without authors each such post counts as one. Null when no post of the bucket has either.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel

DETECTOR_COLUMNS = ["fud", "fomo", "meme_pump", "influencer_push"]


class DetectorRules(BaseModel):
    min_posts: int = 3
    burst_z: float = 2.0
    fomo_min_return: float = 0.05
    pump_z: float = 3.0
    pump_min_authors: int = 5
    pump_buy_share: float = 0.1
    pump_max_baseline: float = 50.0
    pump_max_quote_volume: float = 5_000_000.0
    influencer_min_authors: int = 2
    influencer_min_reach: float = 50_000.0
    influencer_min_engagement: float = 1_000.0
    influencer_min_share: float = 0.25


def _flag(condition: pd.Series, known: pd.Series) -> pd.Series:
    """Nullable boolean: the condition where its inputs are known, else <NA>."""
    out = pd.Series(pd.NA, index=condition.index, dtype="boolean")
    out[known] = condition[known].astype(bool)
    return out


def detect_fud(frame: pd.DataFrame, rules: DetectorRules) -> pd.Series:
    known = frame["bearish_z"].notna()
    fired = (
        (frame["bearish"] >= rules.min_posts)
        & (frame["bearish_z"] >= rules.burst_z)
        & (frame["sentiment_mean"] < 0)
    )
    return _flag(fired.fillna(False), known)


def detect_fomo(frame: pd.DataFrame, rules: DetectorRules) -> pd.Series:
    price = frame["price_return"] if "price_return" in frame else pd.Series(np.nan, frame.index)
    known = frame["bullish_z"].notna() & price.notna()
    fired = (
        (frame["bullish"] >= rules.min_posts)
        & (frame["bullish_z"] >= rules.burst_z)
        & (price >= rules.fomo_min_return)
    )
    return _flag(fired.fillna(False), known)


def detect_meme_pump(frame: pd.DataFrame, rules: DetectorRules) -> pd.Series:
    volume = frame["quote_volume"] if "quote_volume" in frame else pd.Series(np.nan, frame.index)
    known = frame["mentions_z"].notna()
    low_liquidity = volume.isna() | (volume < rules.pump_max_quote_volume)
    fired = (
        (frame["mentions_z"] >= rules.pump_z)
        & (frame["authors"] >= rules.pump_min_authors)
        & (frame["buy_share"] >= rules.pump_buy_share)
        & (frame["mentions_baseline"] <= rules.pump_max_baseline)
        & low_liquidity
    )
    return _flag(fired.fillna(False), known)


def detect_influencer_push(frame: pd.DataFrame, rules: DetectorRules) -> pd.Series:
    known = frame["reach_known"] > 0
    share = frame["high_reach_posts"] / frame["mentions"].where(frame["mentions"] > 0)
    fired = (frame["high_reach_authors"] >= rules.influencer_min_authors) & (
        share >= rules.influencer_min_share
    )
    return _flag(fired.fillna(False), known)


def detect_all(frame: pd.DataFrame, rules: DetectorRules | None = None) -> pd.DataFrame:
    """``frame`` plus the four detector flags (nullable booleans)."""
    rules = rules or DetectorRules()
    out = frame.copy()
    out["fud"] = detect_fud(out, rules)
    out["fomo"] = detect_fomo(out, rules)
    out["meme_pump"] = detect_meme_pump(out, rules)
    out["influencer_push"] = detect_influencer_push(out, rules)
    return out
