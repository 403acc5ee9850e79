"""Fine-tune a pretrained encoder (all-MiniLM-L6-v2 by default) into a 3-class sentiment model.

Why a plain torch loop rather than transformers.Trainer: it is short, deterministic under fixed
seeds, needs no accelerate, and runs unchanged on CPU or CUDA. The full preset fine-tunes on the
masked MEAN of the token vectors (how all-MiniLM-L6-v2 was pretrained), with a faster-learning
head and square-root class weights (neutral is 62 %). The best epoch is chosen on a dev split
carved from the TRAIN part; the validation split is stratified, seeded, never trained on and
selects nothing, so its macro-F1 (the metric the registry compares) stays unbiased.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sklearn.model_selection import train_test_split

from crypto_assets.sentiment.evaluation import (
    CRYPTO_TEST_FILE,
    CRYPTO_TUNE_FILE,
    evaluate_scorer,
    metrics,
    read_labels,
)
from crypto_assets.sentiment.model import (
    LABELS,
    META_FILE,
    SentimentScorer,
    base_model_path,
    pick_device,
    resolve_model,
)
from crypto_assets.settings import SHARED_DATA_DIR

log = logging.getLogger(__name__)

DEFAULT_TRAIN_FILE = SHARED_DATA_DIR / "sentiment" / "twitter_financial_news_train.csv.gz"
LEXICON_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


class TrainConfig(BaseModel):
    """How to fine-tune. ``full`` (default) is the product model; ``tiny`` is for tests."""

    preset: Literal["full", "tiny", "custom"] = "full"
    base_model: str | None = None  # None: bundled all-MiniLM-L6-v2
    data_path: Path = DEFAULT_TRAIN_FILE
    max_length: int = Field(64, ge=8, le=512)
    epochs: int = Field(4, ge=1, le=20)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(1.5e-4, gt=0)
    weight_decay: float = 0.01
    warmup_ratio: float = Field(0.06, ge=0, le=0.5)
    val_fraction: float = Field(0.15, gt=0, lt=0.5)
    seed: int = 42
    max_train_rows: int | None = Field(None, ge=6)  # stratified subsample of the train split
    max_val_rows: int | None = Field(None, ge=3)
    # "sqrt": square root of the inverse-frequency weights. Full balancing over-predicted the
    # minority classes (lower precision, lower macro-F1 in the dev-split proxy runs).
    class_weighting: Literal["balanced", "sqrt", "none"] = "sqrt"
    # "mean": masked mean of the last layer (how all-MiniLM-L6-v2 was pretrained); "cls": the
    # stock BertForSequenceClassification head on [CLS] + pooler.
    pooling: Literal["mean", "cls"] = "mean"
    lr_schedule: Literal["linear", "cosine"] = "linear"
    head_lr_multiplier: float = Field(20.0, gt=0)  # the fresh linear head learns faster
    layer_lr_decay: float = Field(1.0, gt=0, le=1)  # lr x decay**depth-from-top per layer
    label_smoothing: float = Field(0.0, ge=0, lt=0.5)
    # Epoch selection: a stratified inner dev split carved from the TRAIN part (never from the
    # validation split, which stays an unbiased estimate); the best epoch's weights are kept.
    dev_fraction: float = Field(0.1, ge=0, lt=0.5)
    early_stopping_patience: int = Field(2, ge=1)
    # Freezing the 30k x 384 word-embedding matrix halves the optimizer's work per step on CPU
    # at little cost: the contextual layers, not the vocabulary table, learn the task.
    freeze_word_embeddings: bool = True
    length_buckets: int = Field(50, ge=1)  # batches per length-sorted chunk (less padding)
    num_threads: int | None = Field(None, ge=1)  # torch CPU threads; None: torch's default
    device: str = "auto"
    tune_lexicon: bool = True  # pick the crypto-lexicon blend weight on the disjoint tune set
    max_val_drop_for_lexicon: float = 0.005  # the blend may cost at most this much val macro-F1

    @classmethod
    def full(cls, **overrides: object) -> TrainConfig:
        return cls(**{"preset": "full", **overrides})

    @classmethod
    def tiny(cls, **overrides: object) -> TrainConfig:
        """A few dozen texts, one short epoch: exercises every step in seconds."""
        defaults = {
            "preset": "tiny",
            "max_length": 32,
            "epochs": 1,
            "batch_size": 16,
            "max_train_rows": 48,
            "max_val_rows": 30,
        }
        return cls(**{**defaults, **overrides})

    @classmethod
    def preset_named(cls, name: str, **overrides: object) -> TrainConfig:
        if name not in ("full", "tiny"):
            raise ValueError(f"unknown training preset {name!r}; use 'full' or 'tiny'")
        return cls.full(**overrides) if name == "full" else cls.tiny(**overrides)


@dataclass
class TrainResult:
    model_dir: Path
    metrics: dict  # flat metric name -> float, incl. macro_f1 on the validation split
    params: dict
    data_info: dict
    train_seconds: float
    device: str
    report: dict  # nested metrics (val, crypto test before/after lexicon)


def seed_everything(seed: int) -> None:
    """Same seed -> same split, same initial head, same batches, same model."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def load_training_data(path: Path) -> pd.DataFrame:
    """The labelled finance tweets, validated (text non-empty, label in {0, 1, 2})."""
    frame = read_labels(path)
    frame = frame[frame["text"].str.strip().str.len() > 0]
    return frame[["text", "label"]].reset_index(drop=True)


def split_train_val(
    frame: pd.DataFrame, val_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified, seeded split; the validation part is never trained on."""
    train, val = train_test_split(
        frame, test_size=val_fraction, random_state=seed, stratify=frame["label"]
    )
    return train.reset_index(drop=True), val.reset_index(drop=True)


def _subsample(frame: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    if rows is None or rows >= len(frame):
        return frame
    sub, _ = train_test_split(frame, train_size=rows, random_state=seed, stratify=frame["label"])
    return sub.reset_index(drop=True)


def class_weights(labels: np.ndarray) -> np.ndarray:
    """Inverse-frequency weights (sklearn's 'balanced'): each class counts equally in the loss."""
    counts = np.bincount(labels, minlength=3).astype(float)
    counts[counts == 0] = 1.0
    return len(labels) / (3 * counts)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _build_model(config: TrainConfig, source: str):
    from transformers import AutoModelForSequenceClassification

    id2label = dict(enumerate(LABELS))
    if config.pooling == "mean":
        from crypto_assets.sentiment.pooling import MeanPoolClassifier

        return MeanPoolClassifier.from_encoder(source, id2label)
    return AutoModelForSequenceClassification.from_pretrained(
        source,
        num_labels=3,
        id2label=id2label,
        label2id={name: i for i, name in id2label.items()},
        ignore_mismatched_sizes=True,
    )


def _layer_depth(name: str, num_layers: int) -> int:
    """0 for the classifier head, 1 for the top encoder layer, ..., num_layers + 1 for the
    embeddings: the exponent of the layer-wise learning-rate decay."""
    import re

    found = re.search(r"\.layer\.(\d+)\.", name)
    if found:
        return num_layers - int(found.group(1))
    if "embeddings" in name:
        return num_layers + 1
    return 0  # classifier, pooler, dropout-free heads


def _param_groups(model, config: TrainConfig) -> list[dict]:
    """AdamW groups: no decay on biases/LayerNorm; per-depth lr (head x multiplier, LLRD)."""
    no_decay = ("bias", "LayerNorm.weight", "layer_norm")
    num_layers = int(getattr(model.config, "num_hidden_layers", 0))
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        depth = _layer_depth(name, num_layers)
        lr = config.learning_rate * config.layer_lr_decay**depth
        if depth == 0:
            lr = config.learning_rate * config.head_lr_multiplier
        decay = not any(k in name for k in no_decay)
        group = groups.setdefault(
            (depth, decay),
            {"params": [], "lr": lr, "weight_decay": config.weight_decay if decay else 0.0},
        )
        group["params"].append(param)
    return list(groups.values())


def _fit(
    config: TrainConfig,
    train: pd.DataFrame,
    device: str,
    source: str,
    dev: pd.DataFrame | None = None,
):
    """Train; with a dev frame, keep the weights of the epoch with the best dev macro-F1.

    Returns (model, tokenizer, history) where history lists per-epoch loss and dev scores.
    """
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    model = _build_model(config, source).to(device)
    if config.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    labels = train["label"].to_numpy()
    loss_fn = _loss(config, labels, device)
    steps_per_epoch = -(-len(train) // config.batch_size)
    total = steps_per_epoch * config.epochs
    optimizer, scheduler = _optimizer(model, config, total)
    texts = train["text"].tolist()
    lengths = np.array([len(t) for t in texts])
    rng = np.random.default_rng(config.seed)
    history: list[dict] = []
    best_f1, best_state, stale = -1.0, None, 0
    step = 0
    for epoch in range(config.epochs):
        model.train()
        running, epoch_loss = 0.0, 0.0
        for idx in _batches(lengths, config.batch_size, config.length_buckets, rng):
            batch = tokenizer(
                [texts[i] for i in idx],
                truncation=True,
                max_length=config.max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            target = torch.tensor(labels[idx], dtype=torch.long, device=device)
            loss = loss_fn(model(**batch).logits, target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running += loss.item()
            epoch_loss += loss.item()
            step += 1
            if step % 50 == 0:
                log.info("epoch %d step %d/%d loss %.4f", epoch + 1, step, total, running / 50)
                running = 0.0
        entry = {"epoch": epoch + 1, "train_loss": epoch_loss / steps_per_epoch}
        if dev is not None and len(dev):
            dev_metrics = _dev_scores(model, tokenizer, config, device, dev)
            entry.update(dev_macro_f1=dev_metrics["macro_f1"], dev_accuracy=dev_metrics["accuracy"])
            log.info("epoch %d dev macro-F1 %.4f", epoch + 1, dev_metrics["macro_f1"])
            if dev_metrics["macro_f1"] > best_f1:
                best_f1, stale = dev_metrics["macro_f1"], 0
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                entry["kept"] = True
            else:
                stale += 1
        history.append(entry)
        if stale >= config.early_stopping_patience and epoch + 1 < config.epochs:
            log.info("early stop after epoch %d (no dev gain for %d epochs)", epoch + 1, stale)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, tokenizer, history


def _loss(config: TrainConfig, labels: np.ndarray, device: str):
    """Cross-entropy with the configured class weights and label smoothing."""
    import torch

    if config.class_weighting == "balanced":
        weights = class_weights(labels)
    elif config.class_weighting == "sqrt":
        weights = np.sqrt(class_weights(labels))
    else:
        weights = np.ones(3)
    return torch.nn.CrossEntropyLoss(
        weight=torch.tensor(weights, dtype=torch.float32),
        label_smoothing=config.label_smoothing,
    ).to(device)


def _optimizer(model, config: TrainConfig, total_steps: int):
    """AdamW over the layer-wise parameter groups, with a warm-up then cosine/linear decay."""
    import torch
    from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

    optimizer = torch.optim.AdamW(_param_groups(model, config), lr=config.learning_rate)
    make_schedule = (
        get_cosine_schedule_with_warmup
        if config.lr_schedule == "cosine"
        else get_linear_schedule_with_warmup
    )
    return optimizer, make_schedule(optimizer, int(config.warmup_ratio * total_steps), total_steps)


def _scorer(model, tokenizer, config: TrainConfig, device: str, name: str) -> SentimentScorer:
    """The model being trained, behind the scorer interface (for evaluation)."""
    return SentimentScorer(
        model=model,
        tokenizer=tokenizer,
        order=[0, 1, 2],
        device=device,
        name=name,
        batch_size=config.eval_batch_size,
        max_length=config.max_length,
    )


def _dev_scores(model, tokenizer, config: TrainConfig, device: str, dev: pd.DataFrame) -> dict:
    """Accuracy and macro-F1 of the model as it is now on the dev split."""
    model.eval()
    scorer = _scorer(model, tokenizer, config, device, "dev")
    return metrics(dev["label"], scorer.model_proba(dev["text"].tolist()).argmax(1))


def _batches(
    lengths: np.ndarray, batch_size: int, bucket: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of similar-length texts: a random permutation is cut into chunks of
    ``bucket`` batches, each chunk is sorted by length, and the batch order is shuffled again."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * bucket
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def choose_lexicon_weight(
    scorer: SentimentScorer, val: pd.DataFrame, tune: pd.DataFrame, max_val_drop: float
) -> tuple[float, dict]:
    """Largest-gain blend weight on the crypto TUNE set whose val macro-F1 drop stays small.

    Never looks at the crypto test set, so the before/after measured there is honest.
    """
    val_proba = scorer.model_proba(val["text"].tolist())
    tune_proba = scorer.model_proba(tune["text"].tolist())
    from crypto_assets.sentiment.lexicon import blend

    table = {}
    for w in LEXICON_WEIGHTS:
        v = metrics(val["label"], blend(val_proba, val["text"].tolist(), w).argmax(1))
        t = metrics(tune["label"], blend(tune_proba, tune["text"].tolist(), w).argmax(1))
        table[w] = {"val_macro_f1": v["macro_f1"], "tune_macro_f1": t["macro_f1"]}
    base_val = table[0.0]["val_macro_f1"]
    allowed = [w for w in LEXICON_WEIGHTS if base_val - table[w]["val_macro_f1"] <= max_val_drop]
    best = max(allowed, key=lambda w: (round(table[w]["tune_macro_f1"], 6), -w))
    return best, {str(k): v for k, v in table.items()}


def _best_epoch(history: list[dict]) -> int:
    kept = [h["epoch"] for h in history if h.get("kept")]
    return kept[-1] if kept else len(history)


def _evaluate(
    config: TrainConfig, scorer: SentimentScorer, val: pd.DataFrame
) -> tuple[dict, dict, float]:
    """(flat metrics, full report, chosen lexicon weight): the held-out split and the crypto
    test set, before and after blending the lexicon in (its weight tuned on the TUNE set)."""
    val_report = evaluate_scorer(scorer, val, lexicon_weight=0.0)
    crypto_test = read_labels(CRYPTO_TEST_FILE)
    lexicon_weight, lexicon_table = 0.0, {}
    if config.tune_lexicon:
        lexicon_weight, lexicon_table = choose_lexicon_weight(
            scorer, val, read_labels(CRYPTO_TUNE_FILE), config.max_val_drop_for_lexicon
        )
    crypto_before = evaluate_scorer(scorer, crypto_test, lexicon_weight=0.0)
    crypto_after = evaluate_scorer(scorer, crypto_test, lexicon_weight=lexicon_weight)
    val_after = evaluate_scorer(scorer, val, lexicon_weight=lexicon_weight)
    flat = {
        "macro_f1": val_report["macro_f1"],
        "accuracy": val_report["accuracy"],
        **{f"f1_{k}": v for k, v in val_report["per_class_f1"].items()},
        "val_macro_f1_with_lexicon": val_after["macro_f1"],
        "crypto_macro_f1_model_only": crypto_before["macro_f1"],
        "crypto_macro_f1": crypto_after["macro_f1"],
        "crypto_accuracy": crypto_after["accuracy"],
        "lexicon_weight": lexicon_weight,
        "eval_texts_per_second": val_report["texts_per_second"],
    }
    report = {
        "val": val_report,
        "val_with_lexicon": val_after,
        "crypto_test_model_only": crypto_before,
        "crypto_test_with_lexicon": crypto_after,
        "lexicon_weights_tried": lexicon_table,
    }
    return flat, report, lexicon_weight


def _data_info(
    config: TrainConfig,
    data: pd.DataFrame,
    train: pd.DataFrame,
    val: pd.DataFrame,
    dev: pd.DataFrame | None,
) -> dict:
    """Where the training data came from and how it was split (logged to MLflow)."""
    return {
        "train_file": str(config.data_path),
        "train_file_sha256_16": _file_digest(config.data_path),
        "rows_total": len(data),
        "rows_train": len(train),
        "rows_val": len(val),
        "rows_dev": 0 if dev is None else len(dev),
        "label_counts_train": {LABELS[k]: int(v) for k, v in train["label"].value_counts().items()},
        "split": f"stratified val_fraction={config.val_fraction} seed={config.seed}"
        + ("" if dev is None else f"; dev carved from train: dev_fraction={config.dev_fraction}"),
        "crypto_test_file": CRYPTO_TEST_FILE.name,
        "crypto_tune_file": CRYPTO_TUNE_FILE.name,
    }


def _splits(
    config: TrainConfig,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(all labelled rows, train, val, dev or None) as the config asks."""
    data = load_training_data(config.data_path)
    train, val = split_train_val(data, config.val_fraction, config.seed)
    train = _subsample(train, config.max_train_rows, config.seed)
    val = _subsample(val, config.max_val_rows, config.seed)
    dev = None
    if config.dev_fraction > 0:
        train, dev = split_train_val(train, config.dev_fraction, config.seed)
    return data, train, val, dev


def train_model(config: TrainConfig, output_dir: Path) -> TrainResult:
    """Fine-tune, evaluate on the held-out split and the crypto sets, save model + metadata."""
    import torch

    seed_everything(config.seed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = pick_device(config.device)
    source = resolve_model(config.base_model or base_model_path())
    data, train, val, dev = _splits(config)
    log.info(
        "training %s on %d texts (dev %d, val %d) on %s",
        source,
        len(train),
        0 if dev is None else len(dev),
        len(val),
        device,
    )

    started = time.perf_counter()
    model, tokenizer, history = _fit(config, train, device, source, dev)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    train_seconds = time.perf_counter() - started
    log.info("trained in %.1f s", train_seconds)

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    scorer = _scorer(model, tokenizer, config, device, "crypto_assets_sentiment")
    flat, report, lexicon_weight = _evaluate(config, scorer, val)
    flat |= {
        "train_seconds": train_seconds,
        "epochs_run": len(history),
        "best_epoch": _best_epoch(history),
    }
    report["epochs"] = history
    data_info = _data_info(config, data, train, val, dev)
    params = config.model_dump(mode="json") | {"resolved_base_model": source, "device": device}
    meta = {
        "name": "crypto_assets_sentiment",
        "labels": list(LABELS),
        "max_length": config.max_length,
        "lexicon_weight": lexicon_weight,
        "params": params,
        "metrics": flat,
        "data": data_info,
        "report": report,
    }
    (output_dir / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return TrainResult(output_dir, flat, params, data_info, train_seconds, device, report)
