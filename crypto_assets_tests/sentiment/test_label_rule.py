"""The class is decided by the score, so class and score never disagree."""

from __future__ import annotations

import numpy as np

from crypto_assets.sentiment.model import NEUTRAL_BAND, proba_frame


def test_the_reported_case_is_bullish_now():
    # probabilities the registered model + lexicon gave "BTC to the moon, wagmi" (2026-11-24):
    # argmax said neutral (0.521) while the score said +0.47
    row = proba_frame(np.array([[0.004485, 0.474823, 0.520692]])).iloc[0]
    assert row["label"] == "bullish" and round(row["score"], 2) == 0.47


def test_label_and_score_agree_on_every_distribution():
    rng = np.random.default_rng(7)
    proba = rng.dirichlet([0.7, 0.7, 0.7], size=5000)
    frame = proba_frame(proba)
    assert (frame.loc[frame["label"] == "bullish", "score"] >= NEUTRAL_BAND).all()
    assert (frame.loc[frame["label"] == "bearish", "score"] <= -NEUTRAL_BAND).all()
    assert (frame.loc[frame["label"] == "neutral", "score"].abs() < NEUTRAL_BAND).all()
    assert set(frame["label"]) == {"bullish", "bearish", "neutral"}
