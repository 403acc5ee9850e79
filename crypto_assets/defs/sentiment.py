"""Sentiment assets: the fine-tuned scorer (tracked in MLflow) and scores of the real texts.

``sentiment_model`` trains, evaluates and registers a version; the "champion" alias moves only
when validation macro-F1 improves, so a worse retrain never reaches ``text_sentiment``, which
scores with whatever the alias points at and stamps each row with that version.
"""

import dagster as dg
import pandas as pd

from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.sentiment.service import configured_scorer, models_dir, score_table
from crypto_assets.sentiment.texts import SOURCE_FILES, load_texts
from crypto_assets.sentiment.tracking import EXPERIMENT_NAME, MODEL_NAME, train_and_register
from crypto_assets.sentiment.training import TrainConfig
from crypto_assets.settings import get_settings

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
    batch_size: int = 64
    device: str = "auto"


@dg.asset(group_name=SENTIMENT_GROUP, kinds={"pytorch", "mlflow"})
def sentiment_model(
    context: dg.AssetExecutionContext, config: SentimentModelConfig, mlflow: MlflowTracking
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
    experiment_id = mlflow.experiment_id(EXPERIMENT_NAME)
    registered = train_and_register(train_config, models_dir(get_settings()), experiment_id)
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


@dg.asset(group_name=SENTIMENT_GROUP, deps=[sentiment_model], kinds={"pytorch", "pandas"})
def text_sentiment(
    context: dg.AssetExecutionContext, config: TextSentimentConfig, mlflow: MlflowTracking
) -> dg.Output[pd.DataFrame]:
    """Scores of the real recorded social and news texts (source, id, time, text, label, score,
    probabilities), each row stamped with the model name and registry version that scored it."""
    mlflow.configure()
    texts = load_texts(config.sources, limit_per_source=config.limit_per_source)
    scorer = configured_scorer(
        models_dir(get_settings()), device=config.device, batch_size=config.batch_size
    )
    scores = score_table(texts, scorer)
    context.log.info(
        f"scored {len(scores)} texts with {scorer.name} v{scorer.version} on {scorer.device} "
        f"at {scorer.stats.texts_per_second:.0f} texts/s"
    )
    by_source = scores.groupby("source")["score"].agg(["size", "mean"]).round(4)
    return dg.Output(
        scores,
        metadata={
            "rows": len(scores),
            "model": f"{scorer.name} v{scorer.version}",
            "device": scorer.device,
            "texts_per_second": dg.MetadataValue.float(float(scorer.stats.texts_per_second)),
            "sources": dg.MetadataValue.md(by_source.to_string()),
            "label_counts": dg.MetadataValue.json(scores["label"].value_counts().to_dict()),
            "known_sources": list(SOURCE_FILES),
        },
    )


sentiment_assets = [sentiment_model, text_sentiment]
