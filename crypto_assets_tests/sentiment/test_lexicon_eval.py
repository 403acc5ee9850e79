"""Crypto lexicon prior, labelled-file reading, metrics, and the hand-checked crypto sets."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crypto_assets.sentiment.evaluation import (
    CRYPTO_TEST_FILE,
    CRYPTO_TUNE_FILE,
    LabelFileError,
    metrics,
    read_labels,
)
from crypto_assets.sentiment.lexicon import blend, lexicon_proba, lexicon_score
from crypto_assets.sentiment.texts import load_texts


def test_lexicon_reads_crypto_slang() -> None:
    assert lexicon_score("$BTC to the moon 🚀 new ATH")[0] > 0.8
    assert lexicon_score("got rekt, the dev rugged us")[0] < -0.8
    assert lexicon_score("Daily discussion thread") == (0.0, 0)
    assert lexicon_score("authentic")[1] == 0  # 'ath' only as a word


def test_blend_only_moves_texts_where_a_term_fired() -> None:
    model = np.array([[0.1, 0.1, 0.8], [0.1, 0.1, 0.8]])
    texts = ["wagmi, bitcoin to the moon", "weekly thread"]
    mixed = blend(model, texts, 0.5)
    assert mixed[0, 1] > model[0, 1]
    np.testing.assert_allclose(mixed[1], model[1])
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0)
    assert blend(model, texts, 0.0) is model
    with pytest.raises(ValueError):
        blend(model, texts, 1.5)
    proba, fired = lexicon_proba(texts)
    assert fired.tolist() == [True, False]
    assert proba[1].tolist() == [0.0, 0.0, 1.0]


def test_metrics_by_class_name() -> None:
    result = metrics([0, 1, 2, 2], [0, 1, 2, 1])
    assert result["n"] == 4
    assert result["accuracy"] == 0.75
    assert result["per_class_f1"]["bearish"] == 1.0
    assert result["per_class_f1"]["neutral"] == pytest.approx(2 / 3)
    assert result["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_read_labels_accepts_gzip_and_rejects_bad_input(tmp_path: Path) -> None:
    good = tmp_path / "l.csv.gz"
    with gzip.open(good, "wt") as handle:
        handle.write("text,label\n$ETH pumping,1\nexchange hacked,0\n")
    assert read_labels(good)["label"].tolist() == [1, 0]
    bad_label = tmp_path / "bad.csv"
    bad_label.write_text("text,label\nmoon,bullish\n")
    with pytest.raises(LabelFileError, match="labels must be 0, 1 or 2"):
        read_labels(bad_label)
    no_text = tmp_path / "cols.csv"
    no_text.write_text("tweet,label\nmoon,1\n")
    with pytest.raises(LabelFileError, match="lacks column"):
        read_labels(no_text)
    with pytest.raises(LabelFileError, match="not found"):
        read_labels(tmp_path / "none.csv")


def test_hand_checked_sets_are_real_disjoint_and_documented() -> None:
    test, tune = read_labels(CRYPTO_TEST_FILE), read_labels(CRYPTO_TUNE_FILE)
    assert 40 <= len(test) <= 60
    assert set(test["label"]) == {0, 1, 2}
    assert test["label"].value_counts().min() >= 15
    assert not set(test["text"]) & set(tune["text"])
    header = CRYPTO_TEST_FILE.read_text().split("text,label", 1)[0]
    assert "labelled by hand by the project's developer" in header.lower()
    assert "Rule" in header
    # every text is verbatim from the recorded social/news files, under the stated source and id
    real = load_texts().set_index("id")
    both = pd.concat([test, tune])
    assert both["id"].isin(real.index).all()
    assert (real.loc[both["id"], "text"].to_numpy() == both["text"].to_numpy()).all()
    assert (real.loc[both["id"], "source"].to_numpy() == both["source"].to_numpy()).all()
