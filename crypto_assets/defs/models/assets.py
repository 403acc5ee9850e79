"""Signal models: one static partition per horizon. The asset reads the stored ``feature_table``
and ``labels`` it declares, and ``crypto_assets.ml.tracking.train_and_register`` runs the model
zoo (every family in the settings' ``model_families`` on the same purged walk-forward folds, and
their ensemble), selects one (the first family unless a candidate passing the checks beats its
out-of-sample rank IC by more than noise; ``ml.zoo``), fits it, logs everything to one MLflow
run (a nested run per family), registers a version tagged with its family and the reason, and
applies the rule that decides which version is in use (it must pass its checks and beat the one
in use). The metadata shows every family's figures and the choice; the ``features_current``
check says whether every stored feature row it learned from was computed by this version's
feature set.
"""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import Partitions
from crypto_assets.features.pipeline import feature_names, stale_feature_rows
from crypto_assets.frames import finite_floats, pin_dtypes, utc_columns
from crypto_assets.horizons import HORIZONS, Horizon
from crypto_assets.market.snapshot import snapshot_source_name
from crypto_assets.ml import tracking
from crypto_assets.ml.backtest import SnapshotFrames, sanitized_snapshot
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import (
    STORED_DAYS,
    Dataset,
    InsufficientDataError,
    build_dataset,
    with_history,
)
from crypto_assets.ml.model import json_safe
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.settings import PROJECT_ROOT

MODELS_GROUP = "models"
# Run tags a retrain request carries (e.g. the drift that triggered it) are copied to MLflow.
FORWARDED_TAG_PREFIX = "crypto_assets/"


class ModelConfig(dg.Config):
    retrain_every_days: float = 30.0
    # Optuna's trials per search; None: the default (20), within settings.model_tuning_seconds
    optuna_trials: int | None = None
    n_estimators: int | None = None  # None: settings.model_n_estimators, else the default
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


def dataset_with_history(
    duckdb: DuckDBStore,
    horizon: Horizon,
    settings: PipelineSettings,
    added: dict,
    stale: dict | None = None,
) -> Dataset:
    """The stored dataset, and for a daily horizon with ``training_history_dir`` set, the
    older rows of that folder's candles (``ml.dataset.with_history``); ``added`` receives
    what was added (the asset's metadata), ``stale`` what of the stored features another
    feature set computed (``stored_dataset``)."""
    dataset = stored_dataset(duckdb, horizon, stale)
    if not settings.training_history_dir or horizon.timeframe != "1d":
        return dataset
    directory = Path(settings.training_history_dir)
    source = snapshot_source_name(directory)
    frames = SnapshotFrames(sanitized_snapshot(directory), settings.round_trip_cost)
    try:
        history = frames.dataset(horizon)
    except InsufficientDataError as exc:
        added.update(source=source, rows=0, reason=str(exc), folder=str(directory))
        return dataset
    combined, info = with_history(dataset, history, source)
    added.update(info, folder=str(directory))
    return combined


def stored_dataset(duckdb: DuckDBStore, horizon: Horizon, stale: dict | None = None) -> Dataset:
    """The horizon's dataset from the stored feature table and labels (the asset's inputs).
    ``stale`` receives what of the stored features another feature set computed
    (``features.pipeline.stale_feature_rows``: rows of an older version, on which a feature
    added since is missing); the model still learns from them, and the check says so."""
    timeframe = horizon.timeframe
    names = feature_names(timeframe)
    features = duckdb.read_table("feature_table", "timeframe = ?", [timeframe])
    if stale is not None:
        stale.update(stale_feature_rows(features, timeframe) or {})
    labels = duckdb.read_table("labels", "timeframe = ?", [timeframe])
    if features.empty or labels.empty:
        hint = " (a daily-only snapshot has no hourly candles)" if timeframe == "1h" else ""
        raise InsufficientDataError(
            f"{horizon.name}: no stored {timeframe} features or labels{hint}"
        )
    features = utc_columns(features, "date")
    labels = utc_columns(labels, "date", *[c for c in labels.columns if c.startswith("label_end_")])
    return build_dataset(features, labels, horizon, [n for n in names if n in features])


def models(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    settings: PipelineSettings,
    duckdb: DuckDBStore,
    mlflow_tracking: MlflowTracking,
) -> Iterator:
    """Per horizon: the ranking model, its calibrated P(net return > 0) and expected net return
    (``crypto_assets.ml``), evaluated walk-forward with purge and embargo, logged to MLflow and
    registered; a version is used only if it passes its checks and beats the version in use."""
    horizon = HORIZONS[context.partition_key]
    overrides = {"optuna_trials": config.optuna_trials} if config.optuna_trials is not None else {}
    train_config = TrainConfig.from_settings(
        settings,
        retrain_every_days=config.retrain_every_days,
        min_improvement=config.min_improvement,
        **overrides,
    )
    if config.n_estimators:
        for family in ("lightgbm", "xgboost"):  # the tree families
            train_config.family_params.setdefault(family, {})["n_estimators"] = config.n_estimators
    tags = {
        "git_commit": _git_commit(),
        "dagster_run_id": context.run_id,
        **{k: v for k, v in context.run.tags.items() if k.startswith(FORWARDED_TAG_PREFIX)},
    }
    mlflow_tracking.configure()
    added: dict = {}
    stale: dict = {}
    try:
        run = tracking.train_and_register(
            horizon.name,
            lambda: dataset_with_history(duckdb, horizon, settings, added, stale),
            train_config,
            profile=settings.profile,
            experiment_id=mlflow_tracking.experiment_id(settings.signal_experiment()),
            models_dir=settings.models_dir / "signals",
            tags=tags,
        )
    except InsufficientDataError as exc:
        context.log.warning(f"{horizon.name}: {exc}")
        yield from _skipped_model(horizon.name, str(exc))
        yield _features_current(horizon, stale)
        return
    metadata = _metadata(run)
    if added:
        metadata["training_history"] = dg.MetadataValue.json(added)
    if run.stored_days is not None:
        metadata["on_stored_days"] = dg.MetadataValue.json(json_safe(run.stored_days))
    description, figures = check_summary(run)
    yield dg.Output(_fold_table(run), metadata=metadata)
    yield dg.AssetCheckResult(
        check_name="skill_and_calibration",
        passed=run.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=finite_floats(figures),
    )
    yield _features_current(horizon, stale)


def _features_current(horizon: Horizon, stale: dict) -> dg.AssetCheckResult:
    """Whether every stored feature row the model learned from was computed by this version's
    feature set (a store upgraded from an older version is not, until its days are recomputed)."""
    if not stale:
        return dg.AssetCheckResult(
            check_name="features_current",
            passed=True,
            description=f"every stored {horizon.timeframe} feature row was computed by this "
            "version's feature set",
        )
    first, last = stale["first"], stale["last"]
    back = (pd.Timestamp.now(tz="UTC").normalize() - first).days
    return dg.AssetCheckResult(
        check_name="features_current",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{stale['rows']} stored {horizon.timeframe} feature rows on {stale['days']} days "
            f"({first:%Y-%m-%d}..{last:%Y-%m-%d}) were computed by another version's feature "
            f"set: a feature added since is missing there, and the model learned from them as "
            f"they are; recompute those days (materialize technical_features and "
            f"feature_table for them; on the live profile `crypto-assets run --days {back}` "
            f"reaches back to {first:%Y-%m-%d})"
        ),
        metadata={
            "rows": stale["rows"],
            "days": stale["days"],
            "first": f"{first:%Y-%m-%d}",
            "last": f"{last:%Y-%m-%d}",
        },
    )


def _fold_table(run: tracking.TrainingRun) -> pd.DataFrame:
    folds = pd.DataFrame(run.report.folds).assign(
        horizon=run.report.horizon, model_version=run.version
    )
    return pin_dtypes(
        folds,
        ["horizon", "model_version", *[c for c in folds if c not in ("horizon", "model_version")]],
        times=("train_end", "test_start", "test_end"),
        texts=("horizon", "model_version", "calibrator", "calibration_source"),
    )


CHECK_FIGURES = ("rank_ic_mean", "momentum_rank_ic_mean", "ece", "brier")


def check_summary(run: tracking.TrainingRun) -> tuple[str, dict]:
    """The ``skill_and_calibration`` check's text and figures. A model trained with older
    history is judged over its days too; the text then gives the stored days' figures beside
    the span's, so a calibration that holds over years but not over the recent months shows."""
    text = "; ".join(run.problems) or "rank IC above 0 and above momentum, ECE within the bound"
    figures = {k: run.report.overall.get(k) for k in CHECK_FIGURES}
    stored = run.stored_days
    if stored is not None:
        text += (
            f" (judged over {_span(run.report.overall)}, the older history included); on the "
            f"stored days alone ({_span(stored)}): rank IC {stored['rank_ic_mean']:.3f}, "
            f"ECE {stored['ece']:.3f}"
        )
        figures.update({f"{STORED_DAYS}{k}": stored.get(k) for k in CHECK_FIGURES})
    return text, figures


def _span(figures: dict) -> str:
    """The test span of out-of-fold figures, as days."""
    if not figures.get("n_predictions"):
        return "no test rows"
    start, end = (pd.Timestamp(figures[k]) for k in ("test_start", "test_end"))
    return f"{start:%Y-%m-%d}..{end:%Y-%m-%d}"


def _metadata(run: tracking.TrainingRun) -> dict:
    overall = run.report.overall
    return {
        "model": f"{run.name} v{run.version}",
        "family": run.model.family,
        "selection": run.zoo.selection.reason if run.zoo else "",
        "candidates": dg.MetadataValue.md(run.zoo.markdown() if run.zoo else run.model.family),
        "in_use": f"v{run.in_use}" if run.in_use else "none (no version passes its checks)",
        "checks": "; ".join(run.problems) or "passed",
        "promoted": run.promoted,
        "decision": run.reason,
        "mlflow_run_id": run.run_id,
        "device": run.report.device,
        "n_folds": run.report.n_folds,
        "rows": int(overall.get("n_predictions", 0)),
        **{k: dg.MetadataValue.float(float(v)) for k, v in finite_floats(overall).items()},
    }


def _skipped_model(horizon: str, reason: str) -> Iterator:
    empty = pd.DataFrame(
        {
            "horizon": pd.Series(dtype="string"),
            "model_version": pd.Series(dtype="string"),
            "fold": pd.Series(dtype="float64"),
            "rank_ic_mean": pd.Series(dtype="float64"),
        }
    )
    yield dg.Output(empty, metadata={"skipped": reason, "horizon": horizon})
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
            check_specs=[
                dg.AssetCheckSpec("skill_and_calibration", asset="models"),
                dg.AssetCheckSpec("features_current", asset="models"),
            ],
        )(models)
    ]
