"""The sentiment scorer's entry points for the CLI and the assets: train, evaluate, score.

Which model scores is configuration, not code: by default the MLflow champion of
"crypto_assets_sentiment" (the fine-tuned MiniLM); with ``Settings.sentiment_hf_model`` set
(``CRYPTO_ASSETS_SENTIMENT_HF_MODEL``: a hub id in the local HF cache, e.g. ProsusAI/finbert or
ElKulako/cryptobert, or a folder) that model instead, through the same interface. Offline, a
configured model that is not on disk raises ModelNotAvailableError; there is no silent fallback.
Every function takes the settings it needs as arguments.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from crypto_assets.ml import registry
from crypto_assets.sentiment.evaluation import evaluate_scorer, read_labels
from crypto_assets.sentiment.model import LABELS, SentimentScorer
from crypto_assets.sentiment.texts import TEXT_COLUMNS
from crypto_assets.sentiment.tracking import (
    EXPERIMENT_NAME,
    NoChampionError,
    RegisteredModel,
    load_champion,
    train_and_register,
)
from crypto_assets.sentiment.training import TrainConfig
from crypto_assets.settings import Settings

log = logging.getLogger(__name__)


def models_dir(settings: Settings) -> Path:
    """Where trained sentiment models live: <data_dir>/models/sentiment/."""
    return settings.models_dir / "sentiment"


def _configure(settings: Settings) -> str:
    registry.configure_tracking(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    return registry.ensure_experiment(EXPERIMENT_NAME, settings.mlflow_artifact_root)


def train(
    settings: Settings, data: Path | None = None, config: TrainConfig | None = None
) -> RegisteredModel:
    """Fine-tune (full preset by default), register in MLflow, promote if better."""
    experiment_id = _configure(settings)
    config = config or TrainConfig.full()
    if data is not None:
        config = config.model_copy(update={"data_path": Path(data)})
    return train_and_register(config, models_dir(settings), experiment_id)


def configured_scorer(
    models: Path,
    *,
    hf_model: str | None = None,
    label_map: dict[str, str] | None = None,
    device: str = "auto",
    batch_size: int = 64,
) -> SentimentScorer:
    """The HF model ``hf_model`` if given, else the champion from the (already configured)
    MLflow registry."""
    if hf_model:
        log.info("sentiment model override: %s", hf_model)
        return SentimentScorer.load(
            hf_model, device=device, batch_size=batch_size, label_map=label_map
        )
    return load_champion(models, device=device, batch_size=batch_size)


def load_scorer(
    settings: Settings,
    *,
    train_if_missing: bool = False,
    device: str | None = None,
    batch_size: int | None = None,
) -> SentimentScorer:
    """The configured scorer: the HF override if set, else the MLflow champion.

    ``train_if_missing``: with no champion yet, train the full model first (minutes on CPU)
    instead of raising NoChampionError.
    """
    _configure(settings)

    def scorer() -> SentimentScorer:
        return configured_scorer(
            models_dir(settings),
            hf_model=settings.sentiment_hf_model,
            label_map=settings.sentiment_label_map,
            device=device or settings.sentiment_device,
            batch_size=batch_size or settings.sentiment_batch_size,
        )

    try:
        return scorer()
    except NoChampionError:
        if not train_if_missing:
            raise
        log.warning("no champion sentiment model yet: training the full model first")
        train(settings)
        return scorer()


SCORE_COLUMNS = [
    *TEXT_COLUMNS,
    "label",
    "score",
    "p_bearish",
    "p_bullish",
    "p_neutral",
    "model_name",
    "model_version",
    "scored_at",
]

SCORES_SCHEMA = pa.DataFrameSchema(
    {
        "source": pa.Column(str),
        "id": pa.Column(str, unique=True),
        "time": pa.Column("datetime64[ns, UTC]"),
        "text": pa.Column(str),
        "label": pa.Column(str, pa.Check.isin(list(LABELS))),
        "score": pa.Column(float, pa.Check.in_range(-1.0, 1.0)),
        "p_bearish": pa.Column(float, pa.Check.in_range(0.0, 1.0)),
        "p_bullish": pa.Column(float, pa.Check.in_range(0.0, 1.0)),
        "p_neutral": pa.Column(float, pa.Check.in_range(0.0, 1.0)),
        "model_name": pa.Column(str),
        "model_version": pa.Column(str),
        "scored_at": pa.Column("datetime64[ns, UTC]"),
    },
    strict=True,
    ordered=True,
)


def score_table(texts: pd.DataFrame, scorer: SentimentScorer) -> pd.DataFrame:
    """Score a (source, id, time, text) table; every row names the model version that scored it."""
    missing = set(TEXT_COLUMNS) - set(texts.columns)
    if missing:
        raise ValueError(f"texts table lacks column(s) {sorted(missing)}")
    scores = scorer.score_frame(texts["text"].astype(str).tolist())
    out = pd.concat([texts[TEXT_COLUMNS].reset_index(drop=True), scores], axis=1)
    out["model_name"] = scorer.name
    out["model_version"] = scorer.version or "external"
    out["scored_at"] = pd.Timestamp.now(tz="UTC").as_unit("ns")
    return SCORES_SCHEMA.validate(out[SCORE_COLUMNS])


def evaluate(
    settings: Settings,
    labels_file: Path,
    *,
    train_if_missing: bool = True,
    device: str | None = None,
    batch_size: int | None = None,
) -> dict:
    """Metrics of the configured scorer on a labelled CSV (text, label 0/1/2)."""
    frame = read_labels(labels_file)  # validate before any (slow) model work
    scorer = load_scorer(
        settings, train_if_missing=train_if_missing, device=device, batch_size=batch_size
    )
    return evaluate_scorer(scorer, frame)


def score(settings: Settings, text: str) -> tuple[str, float]:
    """(class, P(bullish) - P(bearish)) of one text with the configured scorer."""
    if not text or not text.strip():
        raise ValueError("text to score is empty")
    return load_scorer(settings).score(text)
