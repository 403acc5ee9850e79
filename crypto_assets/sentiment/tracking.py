"""MLflow side of the sentiment model: log a training run, register it, load the champion.

The model folder is logged as run artifacts and registered as "crypto_assets_sentiment"; the
"champion" alias moves only when the new version's validation macro-F1 beats the holder's
(crypto_assets.ml.registry.promote_if_better). Loading prefers the local copy under
data_dir/models/sentiment/<run_id>/ and falls back to downloading the artifacts, so any machine
that sees the MLflow store can score with the exact registered version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd

from crypto_assets.ml import registry
from crypto_assets.sentiment.model import META_FILE, SentimentScorer
from crypto_assets.sentiment.training import TrainConfig, TrainResult, train_model

log = logging.getLogger(__name__)

MODEL_NAME = "crypto_assets_sentiment"
EXPERIMENT_NAME = "crypto_assets_sentiment"
PROMOTION_METRIC = "macro_f1"


class NoChampionError(RuntimeError):
    """No sentiment model has been trained and registered in this MLflow store yet."""


@dataclass(frozen=True)
class RegisteredModel:
    run_id: str
    version: str
    promoted: bool
    champion_version: str | None
    reason: str
    result: TrainResult


def train_and_register(
    config: TrainConfig, models_dir: Path, experiment_id: str
) -> RegisteredModel:
    """Train in an MLflow run, log params/metrics/data range/model, register, maybe promote.

    The run is named by model, preset and start time (not MLflow's random name), so the list
    of runs reads as a training history."""
    started = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    run_name = f"{MODEL_NAME} {config.preset} {started}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        run_id = run.info.run_id
        result = train_model(config, Path(models_dir) / run_id)
        mlflow.log_params({k: str(v)[:500] for k, v in result.params.items()})
        mlflow.log_metrics(result.metrics)
        mlflow.log_dict(result.data_info, "data_range.json")
        mlflow.log_dict(result.report, "evaluation.json")
        mlflow.set_tags(
            {
                "preset": config.preset,
                "device": result.device,
                "train_rows": str(result.data_info["rows_train"]),
                "train_file_sha256_16": result.data_info["train_file_sha256_16"],
            }
        )
        mlflow.log_artifacts(str(result.model_dir), artifact_path="model")
        artifact_uri = run.info.artifact_uri
    version = registry.register_model_dir(
        MODEL_NAME, run_id, artifact_uri, result.model_dir, "model"
    )
    version = str(version)
    decision = registry.promote_if_better(MODEL_NAME, version, PROMOTION_METRIC)
    log.info("sentiment model v%s: %s", version, decision.reason)
    return RegisteredModel(
        run_id,
        version,
        decision.promoted,
        None if decision.champion_version is None else str(decision.champion_version),
        decision.reason,
        result,
    )


def champion_model_dir(models_dir: Path) -> tuple[Path, str]:
    """(local folder, version) of the champion; downloads the artifacts if not on disk."""
    found = registry.champion_dir(MODEL_NAME, Path(models_dir) / "downloads", META_FILE)
    if found is None:
        raise NoChampionError(
            f"no trained sentiment model: MLflow ({mlflow.get_tracking_uri()}) has no "
            f"'{MODEL_NAME}@{registry.CHAMPION_ALIAS}'. Run `crypto-assets sentiment train` "
            "or materialize the `sentiment_model` asset first."
        )
    folder, version = found
    return folder, str(version)


def load_champion(
    models_dir: Path, *, device: str = "auto", batch_size: int = 64
) -> SentimentScorer:
    """The scorer behind the champion alias, labelled with its registry version."""
    model_dir, version = champion_model_dir(models_dir)
    return SentimentScorer.load(model_dir, device=device, batch_size=batch_size, version=version)
