"""Scorer loading rules: label mapping, offline model resolution, device choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crypto_assets.sentiment.model import (
    ModelNotAvailableError,
    base_model_path,
    label_order,
    pick_device,
    proba_frame,
    resolve_model,
)
from crypto_assets.sentiment.training import TrainConfig, class_weights, split_train_val


def test_label_order_maps_finbert_and_cryptobert_names() -> None:
    # ProsusAI/finbert: {0: positive, 1: negative, 2: neutral}
    assert label_order({0: "positive", 1: "negative", 2: "neutral"}) == [1, 0, 2]
    # ElKulako/cryptobert: {0: Bearish, 1: Neutral, 2: Bullish}
    assert label_order({0: "Bearish", 1: "Neutral", 2: "Bullish"}) == [0, 2, 1]
    with pytest.raises(ValueError, match="label_map"):
        label_order({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    mapping = {"LABEL_0": "bullish", "LABEL_1": "bearish", "LABEL_2": "neutral"}
    assert label_order({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, mapping) == [1, 0, 2]


def test_missing_hub_model_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with pytest.raises(ModelNotAvailableError) as info:
        resolve_model("ProsusAI/finbert")
    assert "ProsusAI/finbert" in str(info.value)
    assert str(tmp_path / "hf-cache") in str(info.value)
    empty = tmp_path / "folder"
    empty.mkdir()
    with pytest.raises(ModelNotAvailableError, match=r"config\.json"):
        resolve_model(empty)


def test_device_is_chosen_from_torch(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="no CUDA"):
        pick_device("cuda")
    with pytest.raises(ValueError):
        pick_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda _=0: "fake gpu")
    assert pick_device("auto") == "cuda"


def test_score_is_bullish_minus_bearish() -> None:

    frame = proba_frame(np.array([[0.7, 0.1, 0.2], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]]))
    assert frame["label"].tolist() == ["bearish", "bullish", "neutral"]
    assert frame["score"].round(6).tolist() == [-0.6, 0.5, 0.0]


def test_split_is_stratified_seeded_and_disjoint() -> None:
    import pandas as pd

    frame = pd.DataFrame({"text": [f"t{i}" for i in range(60)], "label": [0, 1, 2] * 20})
    a_train, a_val = split_train_val(frame, 0.2, seed=1)
    _, b_val = split_train_val(frame, 0.2, seed=1)
    assert a_val["text"].tolist() == b_val["text"].tolist()
    assert not set(a_train["text"]) & set(a_val["text"])
    assert a_val["label"].value_counts().tolist() == [4, 4, 4]
    weights = class_weights(np.array([2, 2, 2, 2, 0, 1]))
    assert weights[0] == weights[1] > weights[2]


def test_presets() -> None:
    assert TrainConfig.full().max_train_rows is None
    tiny = TrainConfig.tiny()
    assert tiny.epochs == 1 and tiny.max_train_rows <= 64
    with pytest.raises(ValueError, match="preset"):
        TrainConfig.preset_named("huge")


def test_layer_wise_learning_rates_and_head_multiplier() -> None:
    from crypto_assets.sentiment.pooling import MeanPoolClassifier
    from crypto_assets.sentiment.training import _layer_depth, _param_groups

    assert _layer_depth("encoder.encoder.layer.5.attention.self.query.weight", 6) == 1
    assert _layer_depth("encoder.encoder.layer.0.output.dense.weight", 6) == 6
    assert _layer_depth("encoder.embeddings.position_embeddings.weight", 6) == 7
    assert _layer_depth("classifier.weight", 6) == 0

    model = MeanPoolClassifier.from_encoder(str(base_model_path()), {0: "a", 1: "b", 2: "c"})
    config = TrainConfig.full(learning_rate=1e-4, layer_lr_decay=0.5, head_lr_multiplier=10)
    groups = _param_groups(model, config)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["classifier.weight"])] == pytest.approx(1e-3)
    assert lr_of[id(named["encoder.encoder.layer.5.output.dense.weight"])] == pytest.approx(5e-5)
    assert lr_of[id(named["encoder.encoder.layer.0.output.dense.weight"])] == pytest.approx(
        1e-4 * 0.5**6
    )
    decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert decay_of[id(named["classifier.bias"])] == 0.0
    assert decay_of[id(named["classifier.weight"])] == config.weight_decay


def test_mean_pooled_model_round_trips_through_a_folder(tmp_path: Path) -> None:
    import torch
    from transformers import AutoTokenizer

    from crypto_assets.sentiment.model import SentimentScorer
    from crypto_assets.sentiment.pooling import MeanPoolClassifier, is_mean_pooled

    source = str(base_model_path())
    torch.manual_seed(0)
    model = MeanPoolClassifier.from_encoder(source, {0: "bearish", 1: "bullish", 2: "neutral"})
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert is_mean_pooled(tmp_path) and not is_mean_pooled(source)

    texts = ["$BTC to the moon", "Stocks slump as rates rise, and the dollar gains on the day"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = torch.softmax(model(**batch).logits, -1).numpy()
    scorer = SentimentScorer.load(tmp_path, device="cpu")
    assert isinstance(scorer.model, MeanPoolClassifier)
    assert scorer.order == [0, 1, 2]
    np.testing.assert_allclose(scorer.model_proba(texts), expected, atol=1e-5)
    # padding must not change a text's score: the mean ignores masked positions
    np.testing.assert_allclose(scorer.model_proba(texts[:1]), expected[:1], atol=1e-5)
