"""Metrics and labelled-file reading for the sentiment scorer.

Labels follow the training data: 0 bearish, 1 bullish, 2 neutral. Label files may start with
'#' comment lines (the hand-checked crypto sets document their labelling rule that way).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from crypto_assets.sentiment.model import LABELS, SentimentScorer, decide

DATA_DIR = Path(__file__).resolve().parent / "data"
CRYPTO_TEST_FILE = DATA_DIR / "crypto_slang_checked.csv"
CRYPTO_TUNE_FILE = DATA_DIR / "crypto_slang_tune.csv"


class LabelFileError(ValueError):
    """A labelled file that cannot be evaluated (missing columns, bad labels, empty)."""


def _comment_lines(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    count = 0
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            count += 1
    return count


def read_labels(path: Path | str) -> pd.DataFrame:
    """CSV (optionally .gz) with `text` and `label` (0/1/2) -> validated frame; bad input raises."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(f"labels file not found: {path}")
    try:
        frame = pd.read_csv(path, skiprows=_comment_lines(path), dtype={"text": str})
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise LabelFileError(f"cannot read labels file {path}: {exc}") from exc
    missing = {"text", "label"} - set(frame.columns)
    if missing:
        raise LabelFileError(f"{path} lacks column(s) {sorted(missing)}; has {list(frame.columns)}")
    if frame.empty:
        raise LabelFileError(f"{path} has no rows")
    labels = pd.to_numeric(frame["label"], errors="coerce")
    bad = ~labels.isin([0, 1, 2])
    if bad.any():
        rows = list(frame.index[bad][:5])
        raise LabelFileError(f"{path}: labels must be 0, 1 or 2; bad rows (0-based) {rows}")
    if frame["text"].isna().any():
        raise LabelFileError(f"{path}: {int(frame['text'].isna().sum())} rows have no text")
    frame = frame.assign(label=labels.astype(int), text=frame["text"].astype(str))
    return frame.reset_index(drop=True)


def metrics(y_true: np.ndarray | pd.Series, y_pred: np.ndarray | pd.Series) -> dict:
    """Accuracy, macro-F1 and per-class F1 with the project's class names."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    per_class = f1_score(y_true, y_pred, labels=[0, 1, 2], average=None, zero_division=0)
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=[0, 1, 2], average="macro")),
        "per_class_f1": {name: float(v) for name, v in zip(LABELS, per_class, strict=True)},
    }


def evaluate_scorer(
    scorer: SentimentScorer, frame: pd.DataFrame, *, lexicon_weight: float | None = None
) -> dict:
    """Metrics of ``scorer`` on a labelled frame, plus model name, device and texts/s."""
    texts = frame["text"].astype(str).tolist()
    before = (scorer.stats.n, scorer.stats.seconds)
    proba = scorer.model_proba(texts)
    from crypto_assets.sentiment.lexicon import blend

    weight = scorer.lexicon_weight if lexicon_weight is None else lexicon_weight
    proba = blend(proba, texts, weight)
    n, seconds = scorer.stats.n - before[0], scorer.stats.seconds - before[1]
    result = metrics(frame["label"].to_numpy(), decide(proba, scorer.neutral_band))
    result.update(
        {
            "model": scorer.name if scorer.version is None else f"{scorer.name}@v{scorer.version}",
            "texts_per_second": float(n / seconds) if seconds > 0 else 0.0,
            "device": scorer.device,
            "lexicon_weight": float(weight),
        }
    )
    return result
