"""The MLflow lifecycle of the signal models: one run per training (the walk-forward and the
final fit happen INSIDE it, so its duration is the training's), params, per-fold and overall
metrics, diagnostic plots, the model folder as artifacts, a registered version per run, and the
rule that decides which version is in use.

The rule (``promotion``): a version is used only if it passes its own checks — out-of-sample
rank IC above zero and above plain momentum, expected calibration error within ``MAX_ECE`` —
AND its rank IC beats the version in use (a version in use that fails the checks, e.g. one
registered before the checks existed, is replaced by any passing one). A version that fails
never becomes the one in use; with no passing version a horizon has no model, and predictions
and the top list say so. The verdict is stored on the version as tags (``checks_passed``,
``checks``), so the registry shows why a version is or is not in use.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from crypto_assets.ml import registry
from crypto_assets.ml.model import META_FILE, HorizonModel, json_safe
from crypto_assets.ml.walkforward import EvaluationReport

log = logging.getLogger(__name__)

EXPERIMENT = "crypto_assets_signals"
PROMOTION_METRIC = "rank_ic_mean"
MAX_ECE = 0.10
CHECKS_TAG = "checks_passed"


def model_name(horizon: str, profile: str = "live") -> str:
    """Registered model of a horizon; other profiles (demo) register their own, never live's."""
    return f"crypto_assets_{'' if profile == 'live' else profile + '_'}signal_{horizon}"


def experiment_name(profile: str = "live") -> str:
    return EXPERIMENT if profile == "live" else f"{EXPERIMENT}_{profile}"


def check_problems(overall: dict[str, Any], max_ece: float = MAX_ECE) -> list[str]:
    """Why a walk-forward result must not be used (empty: it passes)."""
    ic, momentum = overall.get("rank_ic_mean"), overall.get("momentum_rank_ic_mean")
    ece = overall.get("ece")
    problems = []
    if ic is None or not math.isfinite(ic) or ic <= 0:
        problems.append(f"rank IC {_fmt(ic)} is not above 0")
    elif momentum is not None and math.isfinite(momentum) and ic <= momentum:
        problems.append(f"rank IC {_fmt(ic)} does not beat momentum {_fmt(momentum)}")
    if ece is None or not math.isfinite(ece) or ece > max_ece:
        problems.append(f"ECE {_fmt(ece)} above {max_ece}")
    return problems


def _fmt(value: Any) -> str:
    return "n/a" if value is None or not math.isfinite(float(value)) else f"{float(value):.4f}"


def numeric_metrics(values: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a metrics dict (what MLflow can log)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
            continue
        if np.isfinite(value):
            out[key] = float(value)
    return out


@dataclass(frozen=True)
class TrainingRun:
    name: str
    version: str
    run_id: str
    passed: bool
    problems: list[str]
    promoted: bool
    in_use: str | None  # version holding the alias after the decision
    reason: str
    report: EvaluationReport
    model: HorizonModel


def log_training(
    *,
    name: str,
    experiment_id: str,
    train: Callable[[], tuple[EvaluationReport, HorizonModel, pd.DataFrame]],
    params: dict[str, Any],
    tags: dict[str, str],
    models_dir: Path,
    description: str,
    max_ece: float = MAX_ECE,
    min_improvement: float = 0.0,
) -> TrainingRun:
    """Run ``train`` inside an MLflow run, log everything, register, decide promotion.

    ``train`` returns the walk-forward report, the final model and a sample of feature rows
    (symbol, date, features) for the importance plot."""
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"{name} {pd.Timestamp.now('UTC'):%Y-%m-%d %H:%M}"
    ) as run:
        mlflow.set_tags({**tags, "mlflow.note.content": description})
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        report, model, sample = train()
        mlflow.set_tag("device", report.device)
        mlflow.log_params({f"model_{k}": str(v)[:500] for k, v in model.params.items()})
        for fold in report.folds:
            metrics = {f"fold_{k}": v for k, v in numeric_metrics(fold).items() if k != "fold"}
            mlflow.log_metrics(metrics, step=int(fold["fold"]))
        mlflow.log_metrics(numeric_metrics(report.overall))
        problems = check_problems(report.overall, max_ece)
        mlflow.set_tag(CHECKS_TAG, str(not problems).lower())
        mlflow.set_tag("checks", "; ".join(problems) or "passed")
        mlflow.log_dict({"features": model.features}, "features.json")
        mlflow.log_dict(json_safe(report.folds), "folds.json")
        _log_plots(report, model, sample)
        model.metrics = report.overall
        local_dir = model.save(Path(models_dir) / run.info.run_id)
        mlflow.log_artifacts(str(local_dir), artifact_path="model")
    version = registry.register_model_dir(
        name,
        run.info.run_id,
        run.info.artifact_uri,
        local_dir,
        "model",
        tags={CHECKS_TAG: str(not problems).lower(), "checks": "; ".join(problems) or "passed"},
        description=description,
    )
    decision = promote(name, version, passed=not problems, min_improvement=min_improvement)
    return TrainingRun(
        name,
        version,
        run.info.run_id,
        not problems,
        problems,
        decision.promoted,
        decision.champion_version,
        decision.reason,
        report,
        model,
    )


def promote(
    name: str, version: str, *, passed: bool, min_improvement: float = 0.0
) -> registry.PromotionDecision:
    """The promotion rule of the module docstring."""
    current = registry.champion_version(name)
    if not passed:
        reason = (
            f"v{version} failed its checks; v{current} stays in use"
            if current
            else (f"v{version} failed its checks; no version of {name} is in use")
        )
        log.info("registry %s: %s", name, reason)
        return registry.PromotionDecision(
            name, version, False, current, PROMOTION_METRIC, None, None, reason
        )
    if current is not None and not _passed(name, current):
        registry.set_champion(name, version)
        reason = f"v{current} in use failed its checks; v{version} passes and replaces it"
        return registry.PromotionDecision(
            name, version, True, version, PROMOTION_METRIC, None, None, reason
        )
    return registry.promote_if_better(
        name, version, PROMOTION_METRIC, min_improvement=min_improvement
    )


def _passed(name: str, version: str) -> bool:
    tags = MlflowClient().get_model_version(name, version).tags
    return tags.get(CHECKS_TAG) == "true"


def load_champion(name: str, download_root: Path) -> tuple[HorizonModel, str] | None:
    """The version in use (it passed its checks) and its model, or None when there is none."""
    found = registry.champion_dir(name, download_root, META_FILE)
    if found is None:
        return None
    folder, version = found
    if not _passed(name, version):
        return None
    return HorizonModel.load(folder), version


def _log_plots(report: EvaluationReport, model: HorizonModel, sample: pd.DataFrame) -> None:
    """Reliability curve of the out-of-fold probabilities and the model's feature importance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crypto_assets.ml.metrics import reliability_curve

    oof = report.oof
    up = (oof["y_return"].to_numpy(dtype=float) > 0).astype(float)
    fig, ax = plt.subplots(figsize=(5, 5))
    for column, label in (("prob_calibrated", "calibrated (bound)"), ("prob_raw", "raw")):
        curve = reliability_curve(oof[column].to_numpy(dtype=float), up)
        ax.plot(curve["mean_probability"], curve["hit_rate"], marker="o", label=label)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="predicted P(net return > 0)", ylabel="observed share", title="Reliability")
    ax.legend()
    mlflow.log_figure(fig, "plots/reliability.png")
    plt.close(fig)
    if len(sample):
        shap = model.estimator.explain(sample.reset_index(drop=True))
        importance = shap[model.features].abs().mean().sort_values().tail(20)
        fig, ax = plt.subplots(figsize=(6, 6))
        importance.plot.barh(ax=ax)
        ax.set(title="Mean |SHAP| of the ranking score (top 20)", xlabel="score units")
        fig.tight_layout()
        mlflow.log_figure(fig, "plots/feature_importance.png")
        plt.close(fig)


def train_and_register(
    horizon: str,
    dataset_builder: Callable[[], Any],
    config: Any,
    *,
    profile: str,
    experiment_id: str,
    models_dir: Path,
    tags: dict[str, str] | None = None,
) -> TrainingRun:
    """Walk-forward evaluation and the final fit of one horizon inside one MLflow run, then
    registration and the promotion rule. ``dataset_builder`` returns the ``ml.dataset.Dataset``
    (called inside the run, so the run's duration includes building it)."""
    from crypto_assets.ml.model import train_final
    from crypto_assets.ml.walkforward import walk_forward_evaluate

    holder: dict[str, Any] = {}

    def train() -> tuple[EvaluationReport, HorizonModel, pd.DataFrame]:
        dataset = dataset_builder()
        holder["dataset"] = dataset
        report = walk_forward_evaluate(dataset, config)
        model = train_final(dataset, config, report.oof)
        recent = dataset.labelled[dataset.labelled["date"] >= dataset.labelled["date"].max()]
        mlflow.log_params(
            {
                "data_from": str(dataset.labelled["date"].min()),
                "data_to": str(dataset.labelled["date"].max()),
                "rows": len(dataset.labelled),
                "coins": int(dataset.labelled["symbol"].nunique()),
                "n_features": len(dataset.features),
            }
        )
        return report, model, recent[["symbol", "date", *dataset.features]]

    name = model_name(horizon, profile)
    description = (
        f"{horizon} signal model ({config.family}): ranking score, expected net return and a "
        f"conservatively calibrated P(net return > 0); purged walk-forward evaluation "
        f"(retrain every {config.retrain_every_days:g} days, embargo >= horizon), round-trip "
        f"cost {config.round_trip_cost:.2%}. In use only if it passes its checks "
        f"(rank IC > 0 and > momentum, ECE <= {config.max_ece}) and beats the version in use."
    )
    return log_training(
        name=name,
        experiment_id=experiment_id,
        train=train,
        params={"horizon": horizon, "family": config.family, **_config_params(config)},
        tags={**(tags or {}), "horizon": horizon, "profile": profile},
        models_dir=models_dir,
        description=description,
        max_ece=config.max_ece,
        min_improvement=config.min_improvement,
    )


def _config_params(config: Any) -> dict[str, Any]:
    keep = (
        "retrain_every_days",
        "max_folds",
        "max_train_rows",
        "round_trip_cost",
        "confidence_threshold",
        "optuna_trials",
        "calibration_bound_quantile",
        "calibration_prior_periods",
        "max_ece",
        "min_improvement",
    )
    return {k: getattr(config, k) for k in keep}
