"""Sentiment scorer benchmark: one full fine-tune beside three baselines, in one run.

Usage (project root):
    .venv/bin/python benchmarks/sentiment.py [--reuse] [--out results.json]

It trains the full preset through the product path (MLflow run, registry, champion rule) unless
--reuse is given (then it scores with the current champion), and measures on the SAME stratified
validation split of the finance tweets:
  * majority class, VADER (compound >= 0.05 bullish, <= -0.05 bearish), frozen MiniLM mean-pooled
    embeddings + logistic regression (class-balanced), and the fine-tuned scorer;
  * the hand-checked crypto test set: each of the above, the fine-tuned model alone, with the
    crypto-lexicon prior (weight chosen on the disjoint tune set), and the lexicon alone;
  * scoring throughput (texts/s) of the fine-tuned scorer on the real social/news texts at
    several batch sizes, with VADER's texts/s in the same run as the reference.
Progress goes to stderr; a JSON summary to stdout (and --out).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from crypto_assets.sentiment import service
from crypto_assets.sentiment.evaluation import (
    CRYPTO_TEST_FILE,
    evaluate_scorer,
    metrics,
    read_labels,
)
from crypto_assets.sentiment.lexicon import lexicon_proba
from crypto_assets.sentiment.model import base_model_path
from crypto_assets.sentiment.texts import load_texts
from crypto_assets.sentiment.training import (
    TrainConfig,
    load_training_data,
    split_train_val,
)
from crypto_assets.settings import Settings

log = logging.getLogger("benchmarks.sentiment")


def vader_predict(texts: list[str]) -> tuple[np.ndarray, float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    started = time.perf_counter()
    compound = np.array([analyzer.polarity_scores(t)["compound"] for t in texts])
    seconds = time.perf_counter() - started
    pred = np.where(compound >= 0.05, 1, np.where(compound <= -0.05, 0, 2))
    return pred, len(texts) / seconds


def embed(texts: list[str], max_length: int = 64, batch_size: int = 128) -> np.ndarray:
    """Frozen all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2-normalised)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = base_model_path()
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="score with the current champion")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (1 helps on a busy machine)"
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s", force=True
    )

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    config = TrainConfig.full(num_threads=args.threads)
    settings = Settings()
    result: dict = {"config": config.model_dump(mode="json"), "cpu_count": os.cpu_count()}
    if not args.reuse:
        registered = service.train(settings, config=config)
        result["training"] = {
            "run_id": registered.run_id,
            "version": registered.version,
            "promoted": registered.promoted,
            "reason": registered.reason,
            "train_seconds": registered.result.train_seconds,
            "device": registered.result.device,
            "rows_train": registered.result.data_info["rows_train"],
            "rows_dev": registered.result.data_info.get("rows_dev", 0),
            "epochs": registered.result.report.get("epochs", []),
            "best_epoch": registered.result.metrics.get("best_epoch"),
            "lexicon_weights_tried": registered.result.report["lexicon_weights_tried"],
        }
    scorer = service.load_scorer(settings, batch_size=128)
    result["scorer"] = {"model": scorer.name, "version": scorer.version, "device": scorer.device}

    data = load_training_data(config.data_path)
    train, val = split_train_val(data, config.val_fraction, config.seed)
    crypto = read_labels(CRYPTO_TEST_FILE)
    sets = {"val": val, "crypto_test": crypto}
    table: dict[str, dict] = {name: {} for name in sets}

    majority = int(train["label"].mode()[0])
    for name, frame in sets.items():
        table[name]["majority"] = metrics(frame["label"], np.full(len(frame), majority))

    vader_tps = 0.0
    for name, frame in sets.items():
        pred, tps = vader_predict(frame["text"].tolist())
        vader_tps = max(vader_tps, tps) if name == "val" else vader_tps
        table[name]["vader"] = metrics(frame["label"], pred)

    log.info("embedding %d train texts for the frozen-MiniLM baseline", len(train))
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000, class_weight="balanced", C=4.0)
    clf.fit(embed(train["text"].tolist()), train["label"])
    for name, frame in sets.items():
        table[name]["frozen_minilm_logreg"] = metrics(
            frame["label"], clf.predict(embed(frame["text"].tolist()))
        )

    for name, frame in sets.items():
        table[name]["finetuned_model_only"] = evaluate_scorer(scorer, frame, lexicon_weight=0.0)
        table[name]["finetuned_with_lexicon"] = evaluate_scorer(scorer, frame)
        lex, _ = lexicon_proba(frame["text"].tolist())
        table[name]["lexicon_only"] = metrics(frame["label"], lex.argmax(1))
    result["metrics"] = table

    texts = load_texts()["text"].tolist()
    sample = texts[:: max(1, len(texts) // 2000)][:2000]
    throughput = {}
    for batch_size in (8, 64, 256):
        scorer.batch_size = batch_size
        started = time.perf_counter()
        scorer.predict_proba(sample)
        throughput[str(batch_size)] = len(sample) / (time.perf_counter() - started)
        log.info("batch %d: %.1f texts/s", batch_size, throughput[str(batch_size)])
    _, vader_social_tps = vader_predict(sample)
    result["throughput"] = {
        "texts": len(sample),
        "source": "real social/news texts (every k-th of load_texts())",
        "device": scorer.device,
        "finetuned_texts_per_second_by_batch": throughput,
        "vader_texts_per_second": vader_social_tps,
        "ratio_best_finetuned_vs_vader": max(throughput.values()) / vader_social_tps,
    }
    summary = json.dumps(result, indent=2, default=str)
    if args.out:
        args.out.write_text(summary)
    print(summary)
    rows = []
    for name in sets:
        for method, m in table[name].items():
            rows.append(
                {
                    "set": name,
                    "method": method,
                    "n": m["n"],
                    "macro_f1": round(m["macro_f1"], 4),
                    "accuracy": round(m["accuracy"], 4),
                    **{f"f1_{k}": round(v, 3) for k, v in m["per_class_f1"].items()},
                }
            )
    print(pd.DataFrame(rows).to_string(index=False), file=sys.stderr)


if __name__ == "__main__":
    main()
