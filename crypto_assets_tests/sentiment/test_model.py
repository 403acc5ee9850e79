"""Scorer loading rules: label mapping, offline model resolution, device choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crypto_assets.sentiment.model import (
    ModelNotAvailableError,
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
