"""Sentiment assets: the fine-tuned scorer (tracked in MLflow) and scores of the real texts.

``sentiment_model`` trains, evaluates and registers a version; the "champion" alias moves only
when validation macro-F1 improves, so a worse retrain never reaches ``text_sentiment``, which
scores with whatever the alias points at and stamps each row with that version. With no scorer
yet, ``text_sentiment`` stores no rows and its check says so (training takes minutes, so it is
its own job, ``sentiment_training_job`` / ``make sentiment``, not part of every run).
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import Partitions
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.sentiment.model import ModelNotAvailableError, SentimentScorer
from crypto_assets.sentiment.service import SCORE_COLUMNS, configured_scorer, score_table
from crypto_assets.sentiment.texts import SOURCE_FILES, load_texts
from crypto_assets.sentiment.tracking import (
    EXPERIMENT_NAME,
    MODEL_NAME,
    NoChampionError,
    train_and_register,
)
from crypto_assets.sentiment.training import TrainConfig

SENTIMENT_GROUP = "sentiment"


class SentimentModelConfig(dg.Config):
    """Training preset ("full" for the product, "tiny" for tests) and optional overrides."""

    preset: str = "full"
    epochs: int | None = None
    max_train_rows: int | None = None
    device: str = "auto"


class TextSentimentConfig(dg.Config):
    sources: list[str] | None = None  # None: every recorded social/news source
    limit_per_source: int | None = None  # newest N per source (quick runs, tests)
    batch_size: int | None = None  # None: settings.sentiment_batch_size
    device: str | None = None  # None: settings.sentiment_device


def sentiment_model(
    context: dg.AssetExecutionContext,
    config: SentimentModelConfig,
    settings: PipelineSettings,
    mlflow_tracking: MlflowTracking,
) -> dg.MaterializeResult:
    """Fine-tune all-MiniLM-L6-v2 on labelled finance tweets into a 3-class (bearish, neutral,
    bullish) scorer; log params, metrics, data range and the model to MLflow; register it as
    "crypto_assets_sentiment" and promote it only if validation macro-F1 beats the champion."""
    overrides = {
        k: v
        for k, v in {"epochs": config.epochs, "max_train_rows": config.max_train_rows}.items()
        if v is not None
    }
    train_config = TrainConfig.preset_named(config.preset, device=config.device, **overrides)
    experiment_id = mlflow_tracking.experiment_id(EXPERIMENT_NAME)
    registered = train_and_register(train_config, settings.models_dir / "sentiment", experiment_id)
    result = registered.result
    context.log.info(f"{MODEL_NAME} v{registered.version} on {result.device}: {registered.reason}")
    return dg.MaterializeResult(
        metadata={
            "model": f"{MODEL_NAME} v{registered.version}",
            "in_use": f"v{registered.champion_version}",
            "promoted": registered.promoted,
            "decision": registered.reason,
            "mlflow_run_id": registered.run_id,
            "device": result.device,
            "rows_train": result.data_info["rows_train"],
            "rows_val": result.data_info["rows_val"],
            **{k: dg.MetadataValue.float(float(v)) for k, v in result.metrics.items()},
        }
    )


def scorer_in_use(
    settings: PipelineSettings,
    mlflow_tracking: MlflowTracking,
    device: str | None = None,
    batch_size: int | None = None,
) -> SentimentScorer:
    """The configured scorer (the HF override, else the MLflow champion): the one way every
    asset that scores text gets it. Raises NoChampionError / ModelNotAvailableError."""
    mlflow_tracking.configure()
    return configured_scorer(
        settings.models_dir / "sentiment",
        hf_model=settings.sentiment_hf_model,
        label_map=settings.sentiment_label_map,
        device=device or settings.sentiment_device,
        batch_size=batch_size or settings.sentiment_batch_size,
    )


def _no_scorer(reason: str) -> Iterator:
    """No rows, and a failed (WARN) check saying why: never scores from a model not in use."""
    empty = pd.DataFrame({c: pd.Series(dtype="string") for c in SCORE_COLUMNS})
    yield dg.Output(empty, metadata={"rows": 0, "status": "no_model", "reason": reason})
    yield dg.AssetCheckResult(
        check_name="scored_with_model_in_use",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=reason,
    )


def text_sentiment(
    context: dg.AssetExecutionContext,
    config: TextSentimentConfig,
    settings: PipelineSettings,
    mlflow_tracking: MlflowTracking,
) -> Iterator:
    """Scores of the real recorded social and news texts (source, id, time, text, label, score,
    probabilities), each row stamped with the model name and registry version that scored it."""
    try:
        scorer = scorer_in_use(settings, mlflow_tracking, config.device, config.batch_size)
    except (NoChampionError, ModelNotAvailableError) as exc:
        context.log.warning(str(exc))
        yield from _no_scorer(str(exc))
        return
    scores = score_table(
        load_texts(config.sources, limit_per_source=config.limit_per_source), scorer
    )
    context.log.info(
        f"scored {len(scores)} texts with {scorer.name} v{scorer.version} on {scorer.device} "
        f"at {scorer.stats.texts_per_second:.0f} texts/s"
    )
    by_source = scores.groupby("source")["score"].agg(["size", "mean"]).round(4)
    yield dg.Output(
        scores,
        metadata={
            "rows": len(scores),
            "model": f"{scorer.name} v{scorer.version}",
            "device": scorer.device,
            "texts_per_second": dg.MetadataValue.float(float(scorer.stats.texts_per_second)),
            "sources": dg.MetadataValue.md(by_source.to_markdown()),
            "label_counts": dg.MetadataValue.json(scores["label"].value_counts().to_dict()),
            "known_sources": list(SOURCE_FILES),
        },
    )
    yield dg.AssetCheckResult(
        check_name="scored_with_model_in_use",
        passed=True,
        description=f"scored with {scorer.name} v{scorer.version}",
    )


def build_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """The sentiment assets (unpartitioned: the recorded texts are one batch)."""
    del partitions  # the recorded texts are not partitioned yet
    return [
        dg.asset(group_name=SENTIMENT_GROUP, kinds={"pytorch", "mlflow"})(sentiment_model),
        dg.asset(
            group_name=SENTIMENT_GROUP,
            deps=["sentiment_model"],
            kinds={"pytorch", "duckdb"},
            check_specs=[dg.AssetCheckSpec("scored_with_model_in_use", asset="text_sentiment")],
        )(text_sentiment),
    ]
