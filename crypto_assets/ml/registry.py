"""MLflow tracking and the model registry: one registered model per purpose, an alias for the
version in use, and a promotion rule so that a worse retrain never replaces a better model.

Plain functions over the MLflow client (no Dagster), shared by the signal models and the
sentiment scorer.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"


def configure_tracking(tracking_uri: str, artifact_root: Path | str) -> None:
    """Point MLflow at the project's store, creating the local folders a sqlite URI needs."""
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    Path(artifact_root).mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)


def ensure_experiment(name: str, artifact_root: Path | str) -> str:
    """Experiment id for ``name``; new experiments keep artifacts under ``artifact_root``."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (Path(artifact_root).resolve() / name).as_uri()
    return client.create_experiment(name, artifact_location=location)


@dataclass(frozen=True)
class PromotionDecision:
    model_name: str
    version: str
    promoted: bool
    champion_version: str | None  # the version holding the alias after the decision
    metric: str
    new_value: float | None
    old_value: float | None
    reason: str


def _run_metric(client: MlflowClient, run_id: str | None, metric: str) -> float | None:
    if not run_id:
        return None
    value = client.get_run(run_id).data.metrics.get(metric)
    return None if value is None or math.isnan(value) else float(value)


def champion_version(model_name: str, alias: str = CHAMPION_ALIAS) -> str | None:
    """The version behind ``alias``, or None when the model or alias does not exist yet."""
    try:
        return str(MlflowClient().get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def promote_if_better(
    model_name: str,
    version: str,
    metric: str,
    *,
    higher_is_better: bool = True,
    alias: str = CHAMPION_ALIAS,
    min_improvement: float = 0.0,
) -> PromotionDecision:
    """Move ``alias`` to ``version`` only if its run's ``metric`` beats the current holder's.

    A candidate without the metric never replaces a champion; the first version of a model
    always becomes champion so that the model asset has something to load.
    """
    client = MlflowClient()
    candidate = client.get_model_version(model_name, version)
    new_value = _run_metric(client, candidate.run_id, metric)
    current = champion_version(model_name, alias)
    if current is None:
        client.set_registered_model_alias(model_name, alias, version)
        return PromotionDecision(
            model_name, version, True, version, metric, new_value, None, "first version"
        )
    old_value = _run_metric(client, client.get_model_version(model_name, current).run_id, metric)
    if new_value is None:
        better, reason = False, f"candidate has no {metric}"
    elif old_value is None:
        better, reason = True, f"champion v{current} has no {metric}"
    else:
        delta = new_value - old_value if higher_is_better else old_value - new_value
        better = delta > min_improvement
        reason = (
            f"{metric} {new_value:.4f} vs champion v{current} {old_value:.4f}: "
            f"{'better' if better else 'not better'}"
        )
    if better:
        client.set_registered_model_alias(model_name, alias, version)
    log.info("registry %s v%s: %s", model_name, version, reason)
    return PromotionDecision(
        model_name,
        version,
        better,
        version if better else current,
        metric,
        new_value,
        old_value,
        reason,
    )


def set_champion(model_name: str, version: str, alias: str = CHAMPION_ALIAS) -> None:
    """Point ``alias`` at ``version`` (the caller has decided it should be in use)."""
    MlflowClient().set_registered_model_alias(model_name, alias, version)


def register_model_dir(
    model_name: str,
    run_id: str,
    artifact_uri: str,
    local_dir: Path | str,
    artifact_path: str,
    tags: dict[str, str] | None = None,
    description: str | None = None,
) -> str:
    """Register ``<artifact_uri>/<artifact_path>`` (a model folder already logged to the run) as a
    new version of ``model_name``; returns the version. The local folder is remembered as a tag
    so the same machine loads it without a download."""
    import contextlib

    client = MlflowClient()
    with contextlib.suppress(MlflowException):  # already registered
        client.create_registered_model(model_name)
    return str(
        client.create_model_version(
            model_name,
            source=f"{artifact_uri}/{artifact_path}",
            run_id=run_id,
            tags={"local_dir": str(Path(local_dir).resolve()), **(tags or {})},
            description=description,
        ).version
    )


def champion_dir(
    model_name: str, download_root: Path | str, marker: str, alias: str = CHAMPION_ALIAS
) -> tuple[Path, str] | None:
    """(local folder, version) of the version behind ``alias``, or None when there is none."""
    version = champion_version(model_name, alias)
    if version is None:
        return None
    return version_dir(model_name, version, download_root, marker), version


def version_dir(model_name: str, version: str, download_root: Path | str, marker: str) -> Path:
    """Local folder of a registered version: its original folder when this machine has it (with
    ``marker`` inside), else a download of the logged artifacts under ``download_root``."""
    mv = MlflowClient().get_model_version(model_name, version)
    local = mv.tags.get("local_dir")
    if local and (Path(local) / marker).is_file():
        return Path(local)
    target = Path(download_root) / f"{model_name}_v{version}"
    if not (target / marker).is_file():
        target.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(target))
        nested = [p.parent for p in target.rglob(marker)]
        if nested:
            return nested[0]
    return target
