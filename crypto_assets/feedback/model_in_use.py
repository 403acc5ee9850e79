"""What the registry says about the model version in use for a horizon: which version, the
window it was trained on, its own walk-forward fold results and its feature list.

Drift is measured against exactly these: features against the training window, live rank IC
against the folds' band. Read from MLflow (the run behind the version the registry alias points
at), as ``ml.tracking`` logs them: params ``data_from`` / ``data_to``, per-fold metrics
``fold_rank_ic_mean`` / ``fold_hit_rate_at_80`` (one step per fold) and ``features.json``. As in
``ml.tracking.load_champion``, a version behind the alias that did not pass its checks (tag
``checks_passed``) is not in use: nothing predicts with it, so there is nothing to judge.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from crypto_assets.ml import registry
from crypto_assets.ml.tracking import CHECKS_TAG

log = logging.getLogger(__name__)

FOLD_RANK_IC = "fold_rank_ic_mean"
FOLD_HIT_RATE = "fold_hit_rate_at_80"


@dataclass(frozen=True)
class ModelInUse:
    name: str
    horizon: str
    version: str
    run_id: str
    trained_from: pd.Timestamp | None
    trained_to: pd.Timestamp | None
    fold_rank_ics: list[float] = field(default_factory=list)
    fold_hit_rates: list[float] = field(default_factory=list)
    features: list[str] = field(default_factory=list)


def _timestamp(value: str | None) -> pd.Timestamp | None:
    if not value:
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _fold_series(client: MlflowClient, run_id: str, metric: str) -> list[float]:
    history = client.get_metric_history(run_id, metric)
    return [m.value for m in sorted(history, key=lambda m: (m.step, m.timestamp))]


def _features(artifact_uri: str) -> list[str]:
    try:
        return list(mlflow.artifacts.load_dict(f"{artifact_uri}/features.json")["features"])
    except (MlflowException, OSError, KeyError, ValueError) as exc:
        log.info("no features.json under %s (%s)", artifact_uri, exc)
        return []


def model_in_use(name: str, horizon: str) -> ModelInUse | None:
    """The version in use of ``name`` (behind the champion alias and passed its checks), or
    None when there is none."""
    version = registry.champion_version(name)
    if version is None:
        return None
    client = MlflowClient()
    registered = client.get_model_version(name, version)
    if registered.tags.get(CHECKS_TAG) != "true":
        log.info("%s v%s holds the alias but did not pass its checks: not in use", name, version)
        return None
    run_id = registered.run_id
    run = client.get_run(run_id)
    params = run.data.params
    return ModelInUse(
        name=name,
        horizon=horizon,
        version=str(version),
        run_id=run_id,
        trained_from=_timestamp(params.get("data_from")),
        trained_to=_timestamp(params.get("data_to")),
        fold_rank_ics=_fold_series(client, run_id, FOLD_RANK_IC),
        fold_hit_rates=_fold_series(client, run_id, FOLD_HIT_RATE),
        features=_features(run.info.artifact_uri),
    )
