"""Signal models: one static partition per horizon, evaluated walk-forward, tracked in MLflow,
registered, and promoted only when better than the model in use. The training internals live in
``crypto_assets.ml``; this asset reads the stored data, calls them, and reports.
"""

import subprocess
from collections.abc import Iterator

import dagster as dg
import mlflow
import numpy as np
import pandas as pd

from crypto_assets.defs.features.assets import clean_candles, feature_names
from crypto_assets.defs.partitions import Partitions
from crypto_assets.frames import finite_floats, pin_dtypes, utc_columns
from crypto_assets.horizons import HORIZONS
from crypto_assets.ml import registry
from crypto_assets.ml.training import (
    InsufficientDataError,
    TrainConfig,
    build_dataset,
    train_final,
    walk_forward_evaluate,
)
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.settings import PROJECT_ROOT

MODELS_GROUP = "models"


class ModelConfig(dg.Config):
    retrain_every_days: float = 30.0
    optuna_trials: int = 0
    n_estimators: int | None = None  # None: settings.model_n_estimators, else the default (300)
    min_improvement: float = 0.0  # rank-IC gain a retrain needs to replace the model in use


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def models(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    settings: PipelineSettings,
    duckdb: DuckDBStore,
    mlflow_tracking: MlflowTracking,
) -> Iterator:
    """Per horizon: LightGBM regressor (expected net return) + calibrated classifier
    (P(net return > 0)), evaluated walk-forward with purge and embargo, logged to MLflow and
    registered; the alias moves only if rank IC beats the model in use."""
    horizon = HORIZONS[context.partition_key]
    candles = clean_candles(duckdb, horizon.timeframe)
    features = duckdb.read_table("technical_features", "timeframe = ?", [horizon.timeframe])
    empty = pd.DataFrame(
        {
            "horizon": pd.Series(dtype=str),
            "fold": pd.Series(dtype="int64"),
            "rank_ic_mean": pd.Series(dtype=float),
        }
    )
    if candles.empty or features.empty:
        context.log.warning(f"{horizon.name}: no clean candles/features stored yet; skipped")
        yield from _skipped_model(empty, "no clean candles or features stored")
        return
    features = utc_columns(features, "date")[["symbol", "date", *feature_names(horizon.timeframe)]]
    train_config = TrainConfig(
        retrain_every_days=config.retrain_every_days,
        optuna_trials=config.optuna_trials,
        confidence_threshold=settings.confidence_threshold,
    )
    trees = config.n_estimators or settings.model_n_estimators
    if trees:
        train_config.lgbm.n_estimators = trees
    try:
        dataset = build_dataset(
            {horizon.timeframe: candles},
            horizon,
            settings.round_trip_cost,
            features=features,
        )
        report = walk_forward_evaluate(dataset, horizon, train_config)
        model = train_final(dataset, horizon, train_config, report.oof)
    except InsufficientDataError as exc:
        context.log.warning(f"{horizon.name}: {exc}")
        yield from _skipped_model(empty, str(exc))
        return
    model.metrics = report.overall
    experiment_id = mlflow_tracking.experiment_id(settings.signal_experiment())
    name = settings.signal_model_name(horizon.name)
    local_root = settings.models_dir / "signals"
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{name}") as run:
        mlflow.set_tags(
            {
                "horizon": horizon.name,
                "git_commit": _git_commit(),
                "device": train_config.resolved_device(),
                "dagster_run_id": context.run_id,
            }
        )
        mlflow.log_params(
            {
                "horizon": horizon.name,
                "timeframe": horizon.timeframe,
                "retrain_every_days": config.retrain_every_days,
                "round_trip_cost": settings.round_trip_cost,
                "confidence_threshold": settings.confidence_threshold,
                "n_features": len(dataset.features),
                "data_from": str(dataset.labelled["date"].min()),
                "data_to": str(dataset.labelled["date"].max()),
                "coins": int(dataset.labelled["symbol"].nunique()),
                **{f"lgbm_{k}": v for k, v in model.params.items()},
            }
        )
        for fold in report.folds:
            mlflow.log_metrics(
                {f"fold_{k}": v for k, v in finite_floats(fold).items() if k != "fold"},
                step=int(fold["fold"]),
            )
        mlflow.log_metrics(finite_floats(report.overall))
        mlflow.log_dict({"features": dataset.features}, "features.json")
        local_dir = model.save(local_root / run.info.run_id)
        mlflow.log_artifacts(str(local_dir), artifact_path="model")
        version = registry.register_model_dir(
            name, run.info.run_id, run.info.artifact_uri, local_dir, "model"
        )
    decision = registry.promote_if_better(
        name, version, "rank_ic_mean", min_improvement=config.min_improvement
    )
    folds = pd.DataFrame(report.folds).assign(horizon=horizon.name, model_version=version)
    folds = pin_dtypes(
        folds,
        ["horizon", "model_version", *[c for c in folds if c not in ("horizon", "model_version")]],
        times=("train_end", "test_start", "test_end"),
        texts=("horizon", "model_version", "calibrator", "calibration_source"),
    )
    overall = report.overall
    yield dg.Output(
        folds,
        metadata={
            "model": f"{name} v{version}",
            "in_use": f"v{decision.champion_version}",
            "promoted": decision.promoted,
            "decision": decision.reason,
            "mlflow_run_id": run.info.run_id,
            "n_folds": report.n_folds,
            "rows": len(dataset.labelled),
            **{k: dg.MetadataValue.float(float(v)) for k, v in finite_floats(overall).items()},
        },
    )
    yield _skill_check(overall)


MAX_ECE = 0.10


def _skill_check(overall: dict) -> dg.AssetCheckResult:
    """Warn when the walk-forward says the model does not beat momentum or is miscalibrated."""
    ic, momentum = overall.get("rank_ic_mean"), overall.get("momentum_rank_ic_mean")
    ece = overall.get("ece")
    problems = []
    if ic is None or not np.isfinite(ic) or (momentum is not None and ic <= momentum):
        problems.append(f"rank IC {ic} does not beat momentum {momentum}")
    if ece is None or not np.isfinite(ece) or ece > MAX_ECE:
        problems.append(f"ECE {ece} above {MAX_ECE}")
    return dg.AssetCheckResult(
        check_name="skill_and_calibration",
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or "beats momentum, calibrated within the bound",
        metadata=finite_floats(
            {k: overall.get(k) for k in ("rank_ic_mean", "momentum_rank_ic_mean", "ece", "brier")}
        ),
    )


def _skipped_model(empty: pd.DataFrame, reason: str) -> Iterator:
    yield dg.Output(empty, metadata={"skipped": reason})
    yield dg.AssetCheckResult(
        check_name="skill_and_calibration",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"no model trained: {reason}",
    )


def build_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """The models asset, one partition per horizon."""
    return [
        dg.asset(
            name="models",
            group_name=MODELS_GROUP,
            partitions_def=partitions.horizons,
            deps=[
                dg.AssetDep("feature_table", partition_mapping=dg.AllPartitionMapping()),
                dg.AssetDep("labels", partition_mapping=dg.AllPartitionMapping()),
            ],
            metadata={"partition_expr": "horizon"},
            kinds={"lightgbm", "mlflow", "duckdb"},
            check_specs=[dg.AssetCheckSpec("skill_and_calibration", asset="models")],
        )(models)
    ]
