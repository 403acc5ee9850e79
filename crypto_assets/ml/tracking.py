"""The MLflow lifecycle of the signal models: one run per horizon's training (the model zoo's
walk-forward of every family and the final fit happen INSIDE it, so its duration is the
training's), with one nested run per candidate family (its out-of-sample figures, cost, params
and Optuna trials), the selected candidate's params, per-fold and overall metrics, diagnostic
plots (reliability, feature importance, SHAP summaries of the score and of the probability),
the model folder as artifacts, the training's resource use (process memory / CPU; GPU
utilisation and memory when a GPU is there, else the tag ``gpu`` says why not), a registered
version per run tagged with its family and the reason it was selected, and the rule that
decides which version is in use.

The rule (``promotion``): a version is used only if it passes its own checks — out-of-sample
rank IC above zero and above plain momentum, expected calibration error within
``TrainConfig.max_ece`` — AND its rank IC beats the version in use by ``min_improvement`` (a
version in use that fails the checks, e.g. one registered before the checks existed, is
replaced by any passing one). A version that fails
never becomes the one in use; with no passing version a horizon has no model, and predictions
and the top list say so. The verdict is stored on the version as tags (``checks_passed``,
``checks``), so the registry shows why a version is or is not in use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from crypto_assets.horizons import HORIZONS
from crypto_assets.ml import registry
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import STORED_DAYS, stored_from
from crypto_assets.ml.model import META_FILE, HorizonModel, json_safe
from crypto_assets.ml.walkforward import EvaluationReport, figures_since
from crypto_assets.ml.zoo import MAX_ECE, ZooResult, check_problems

log = logging.getLogger(__name__)

EXPERIMENT = "crypto_assets_signals"
PROMOTION_METRIC = "rank_ic_mean"
CHECKS_TAG = "checks_passed"


def model_name(horizon: str, profile: str = "live") -> str:
    """Registered model of a horizon; other profiles (demo) register their own, never live's."""
    return f"crypto_assets_{'' if profile == 'live' else profile + '_'}signal_{horizon}"


def experiment_name(profile: str = "live") -> str:
    return EXPERIMENT if profile == "live" else f"{EXPERIMENT}_{profile}"


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
    zoo: ZooResult | None = None  # every candidate's figures and the selection
    stored_days: dict[str, Any] | None = None  # ``Trained.stored_days``


@dataclass(frozen=True)
class Trained:
    """What a training hands to ``log_training``."""

    zoo: ZooResult
    model: HorizonModel
    sample: pd.DataFrame  # feature rows for the SHAP plots (the latest date, history before)
    rows: np.ndarray  # boolean mask of ``sample``'s rows to explain (the others are history)
    # With older rows of another source: the selected model's figures on the stored days alone.
    stored_days: dict[str, Any] | None = None


def log_training(
    *,
    name: str,
    experiment_id: str,
    train: Callable[[], Trained],
    params: dict[str, Any],
    tags: dict[str, str],
    models_dir: Path,
    description: str,
    max_ece: float = MAX_ECE,
    min_improvement: float = 0.0,
) -> TrainingRun:
    """Run ``train`` inside an MLflow run, log everything, register, decide promotion."""
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"{name} {pd.Timestamp.now('UTC'):%Y-%m-%d %H:%M}"
    ) as run:
        mlflow.set_tags({**tags, "mlflow.note.content": description})
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        with registry.resource_usage_logged():  # GPU / memory use of the training, in the run
            trained = train()
        zoo, model = trained.zoo, trained.model
        report = zoo.selected
        _log_candidates(zoo, experiment_id, tags.get("horizon", zoo.horizon))
        mlflow.set_tags(_selection_tags(zoo, report))
        mlflow.log_params({f"model_{k}": str(v)[:500] for k, v in model.params.items()})
        for fold in report.folds:
            metrics = {f"fold_{k}": v for k, v in numeric_metrics(fold).items() if k != "fold"}
            mlflow.log_metrics(metrics, step=int(fold["fold"]))
        mlflow.log_metrics(numeric_metrics(report.overall))
        for family, figures in zoo.figures().items():
            mlflow.log_metrics({f"{family}_{k}": v for k, v in numeric_metrics(figures).items()})
        if trained.stored_days is not None:
            stored = numeric_metrics(trained.stored_days)
            mlflow.log_metrics({f"{STORED_DAYS}{k}": v for k, v in stored.items()})
        problems = check_problems(report.overall, max_ece)
        mlflow.set_tag(CHECKS_TAG, str(not problems).lower())
        mlflow.set_tag("checks", "; ".join(problems) or "passed")
        mlflow.log_dict({"features": model.features}, "features.json")
        mlflow.log_dict(json_safe(report.folds), "folds.json")
        mlflow.log_dict(json_safe(zoo.figures()), "zoo.json")
        _log_plots(report, model, trained.sample, trained.rows)
        local_dir = model.save(Path(models_dir) / run.info.run_id)
        mlflow.log_artifacts(str(local_dir), artifact_path="model")
    version = registry.register_model_dir(
        name,
        run.info.run_id,
        run.info.artifact_uri,
        local_dir,
        "model",
        tags={
            CHECKS_TAG: str(not problems).lower(),
            "checks": "; ".join(problems) or "passed",
            **_selection_tags(zoo, report),
        },
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
        zoo,
        trained.stored_days,
    )


def _selection_tags(zoo: ZooResult, report: EvaluationReport) -> dict[str, str]:
    """Which family this version is and why it was selected (run and registry tags)."""
    return {
        "family": zoo.selection.family,
        "selection_reason": zoo.selection.reason[:4000],
        "candidates": ", ".join(zoo.reports),
        "device": report.device,
    }


def _log_candidates(zoo: ZooResult, experiment_id: str, horizon: str) -> None:
    """One nested run per candidate: its out-of-sample figures, cost, last fold's params and
    every Optuna trial (value per trial as a metric series, the trials as a JSON artifact)."""
    figures = zoo.figures()
    for family, report in zoo.reports.items():
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"{horizon} {family}", nested=True
        ):
            mine = figures[family]
            mlflow.set_tags(
                {
                    "family": family,
                    "device": report.device,
                    "selected": str(family == zoo.selection.family).lower(),
                    CHECKS_TAG: str(mine["passed"]).lower(),
                    "checks": "; ".join(mine["problems"]) or "passed",
                }
            )
            last = report.params[-1] if report.params else {}
            mlflow.log_params({k: str(v)[:500] for k, v in last.items()})
            mlflow.log_metrics(numeric_metrics({**report.overall, **mine}))
            for step, trial in enumerate(report.trials):
                mlflow.log_metric("optuna_trial_rank_ic", trial["value"], step=step)
            if report.trials:
                mlflow.log_dict(
                    {"summary": json_safe(report.tuning), "trials": json_safe(report.trials)},
                    "optuna_trials.json",
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


def _log_plots(
    report: EvaluationReport, model: HorizonModel, sample: pd.DataFrame, rows: np.ndarray
) -> None:
    """Reliability curve of the out-of-fold probabilities; mean |SHAP| of the ranking score;
    SHAP summaries (beeswarm) of the score and of the probability model on ``sample``."""
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
    if not len(sample) or not np.any(rows):
        return
    frame = sample.reset_index(drop=True)
    shown = frame[np.asarray(rows, dtype=bool)][model.features]
    score = model.estimator.explain(frame, "score", rows)[model.features]
    importance = score.abs().mean().sort_values().tail(20)
    fig, ax = plt.subplots(figsize=(6, 6))
    importance.plot.barh(ax=ax)
    ax.set(title="Mean |SHAP| of the ranking score (top 20)", xlabel="score units")
    fig.tight_layout()
    mlflow.log_figure(fig, "plots/feature_importance.png")
    plt.close(fig)
    proba = model.estimator.explain(frame, "proba", rows)[model.features]
    for values, what, file in (
        (score, "ranking score", "shap_summary_score"),
        (proba, "log-odds of P(net return > 0)", "shap_summary_probability"),
    ):
        mlflow.log_figure(_shap_summary(values, shown, what), f"plots/{file}.png")
        plt.close("all")


def _shap_summary(values: pd.DataFrame, shown: pd.DataFrame, what: str) -> Any:
    """shap's beeswarm summary of ``values`` (one dot per coin, coloured by feature value)."""
    import warnings

    import matplotlib.pyplot as plt

    with warnings.catch_warnings():  # shap's colour maps warn about matplotlib at import
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap

    shap.summary_plot(
        values.to_numpy(),
        shown.to_numpy(dtype=float),
        feature_names=list(shown.columns),
        max_display=15,
        show=False,
    )
    fig = plt.gcf()
    fig.suptitle(f"SHAP values of the {what}, latest date")
    fig.tight_layout()
    return fig


def train_and_register(
    horizon: str,
    dataset_builder: Callable[[], Any],
    config: TrainConfig,
    *,
    profile: str,
    experiment_id: str,
    models_dir: Path,
    tags: dict[str, str] | None = None,
) -> TrainingRun:
    """The model zoo's walk-forward of every family, the selection and the final fit of one
    horizon inside one MLflow run, then registration and the promotion rule.
    ``dataset_builder`` returns the ``ml.dataset.Dataset`` (called inside the run, so the
    run's duration includes building it)."""
    from crypto_assets.ml.zoo import train_horizon

    def train() -> Trained:
        dataset = dataset_builder()
        zoo, model = train_horizon(dataset, config)
        labelled = dataset.labelled
        mlflow.log_params(
            {
                "data_from": str(labelled["date"].min()),
                "data_to": str(labelled["date"].max()),
                "rows": len(labelled),
                "coins": int(labelled["symbol"].nunique()),
                "n_features": len(dataset.features),
            }
        )
        if "source" in labelled:  # older rows of another source (``ml.dataset.with_history``)
            counts = labelled.groupby("source")["date"].agg(["size", "min", "max"])
            mlflow.log_param(
                "rows_by_source",
                "; ".join(
                    f"{name}: {r['size']} rows {r['min']:%Y-%m-%d}..{r['max']:%Y-%m-%d}"
                    for name, r in counts.iterrows()
                ),
            )
        since = stored_from(labelled)  # None: no older rows of another source
        stored_days = None
        if since is not None:
            stored_days = figures_since(zoo.selected, since, config.confidence_threshold)
        sample, rows = latest_with_context(labelled, model.context_bars)
        return Trained(zoo, model, sample[["symbol", "date", *dataset.features]], rows, stored_days)

    families = config.families_for(HORIZONS[horizon])
    name = model_name(horizon, profile)
    chooser = (
        f"selected from {', '.join(families)}"
        f"{' and their ensemble' if config.ensemble else ''}: the first is the champion, "
        f"displaced only by a candidate passing the checks whose out-of-sample rank IC beats "
        f"it by more than noise"
        if len(families) > 1
        else families[0]
    )
    slow = config.slow_target(HORIZONS[horizon])
    learns = f" (it also learns the rank of the {slow} return)" if slow else ""
    description = (
        f"{horizon} signal model, {chooser} (tags `family`, `selection_reason`): ranking "
        f"score{learns}, expected net return and a conservatively "
        f"calibrated P(net return > 0); purged walk-forward evaluation (retrain every "
        f"{config.retrain_every_days:g} days, embargo >= horizon), round-trip cost "
        f"{config.round_trip_cost:.2%}. In use only if it passes its checks (rank IC > 0 and > "
        f"momentum, ECE <= {config.max_ece}) and beats the version in use."
    )
    return log_training(
        name=name,
        experiment_id=experiment_id,
        train=train,
        params={
            "horizon": horizon,
            "families": ",".join(families),
            "ensemble": config.ensemble,
            **_config_params(config, horizon),
        },
        tags={**(tags or {}), "horizon": horizon, "profile": profile},
        models_dir=models_dir,
        description=description,
        max_ece=config.max_ece,
        min_improvement=config.min_improvement,
    )


def latest_with_context(frame: pd.DataFrame, context_bars: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of ``frame``'s latest date preceded by ``context_bars - 1`` earlier dates (what
    a sequence family reads), and the mask of the latest date's rows."""
    dates = np.sort(frame["date"].unique())
    if not len(dates):
        return frame, np.zeros(0, dtype=bool)
    start = dates[max(0, len(dates) - max(1, context_bars))]
    window = frame[frame["date"] >= start].reset_index(drop=True)
    return window, (window["date"] == dates[-1]).to_numpy()


def _config_params(config: TrainConfig, horizon: str) -> dict[str, Any]:
    keep = (
        "retrain_every_days",
        "max_folds",
        "max_train_rows",
        "round_trip_cost",
        "confidence_threshold",
        "optuna_trials",
        "optuna_regrow",
        "calibration_bound_quantile",
        "calibration_prior_periods",
        "max_ece",
        "min_improvement",
    )
    return {
        **{k: getattr(config, k) for k in keep},
        "optuna_budget_s": config.tuning_budget(HORIZONS[horizon]),
    }
