"""Model health asset: live figures per horizon and model version, logged to MLflow against the
version in use, with plots in its metadata and the performance / calibration drift measures the
sensors read."""

import json
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from crypto_assets.defs.feedback.common import (
    FEEDBACK_EXPERIMENT,
    HEALTH_LOOKBACK_DAYS,
    MEASURES_KEY,
    MODELS_DEP,
    daily,
    looking_back,
    measure_check,
    models_in_use,
    ts,
    window,
)
from crypto_assets.defs.partitions import Partitions, partition_days
from crypto_assets.feedback import drift as drift_measures
from crypto_assets.feedback.health import model_health as measure_health
from crypto_assets.feedback.health import typed_health
from crypto_assets.feedback.model_in_use import ModelInUse
from crypto_assets.feedback.outcomes import latest_outcomes
from crypto_assets.feedback.plots import markdown_image, rank_ic_png, reliability_png
from crypto_assets.feedback.tracking import log_health
from crypto_assets.feedback.verdicts import current_verdicts, validate_verdicts
from crypto_assets.horizons import HORIZONS
from crypto_assets.resources.feedback_policy import FeedbackPolicyResource
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.resources.storage import DuckDBStore


def _read_verdicts(duckdb: DuckDBStore, context: dg.AssetExecutionContext) -> pd.DataFrame:
    """Users' current verdicts (valid rows; rejected ones are logged with their reason)."""
    raw = duckdb.read_table("user_verdicts")
    valid, rejected = validate_verdicts(raw)
    if len(rejected):
        examples = rejected.head(3).to_dict("records")
        context.log.warning(f"user_verdicts: {len(rejected)} rows rejected, e.g. {examples}")
    return current_verdicts(valid)


def _health_measures(
    health: pd.DataFrame, in_use: dict[str, ModelInUse], day: pd.Timestamp, policy
) -> list[drift_measures.DriftMeasure]:
    out = []
    for horizon in HORIZONS:
        model = in_use.get(horizon)
        version = model.version if model else None
        rows = health[(health["horizon"] == horizon) & (health["model_version"] == version)]
        row = rows.iloc[0].to_dict() if len(rows) else None
        if model is None:
            row = {"status": "insufficient", "reason": "no model in use for this horizon"}
        common = {"horizon": horizon, "model_version": version, "day": str(day.date())}
        ic_band = hit_band = None
        if model is not None:
            ic_band = drift_measures.performance_band(
                model.fold_rank_ics, policy.band_k, policy.min_folds
            )
            hit_band = drift_measures.performance_band(
                model.fold_hit_rates, policy.band_k, policy.min_folds
            )
        out.append(
            drift_measures.performance_drift(row, ic_band, hit_band, policy=policy, **common)
        )
        out.append(drift_measures.calibration_drift(row, policy=policy, **common))
    return out


def model_health(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    duckdb: DuckDBStore,
    mlflow_tracking: MlflowTracking,
    feedback_policy: FeedbackPolicyResource,
) -> Iterator:
    """Live health per horizon and model version over rolling windows of known outcomes: rank
    IC, hit rate of calls >= the threshold, ECE and reliability curve, Brier, top decile vs
    equal weight, users' verdicts apart; logged to MLflow against the version in use. Its
    performance and calibration drift measures feed the drift sensors."""
    start, end = window(context)
    in_use = models_in_use(mlflow_tracking, settings)
    longest = max(feedback_policy.health_window(h) for h in HORIZONS)
    outcomes = duckdb.read_table(
        "prediction_outcomes",
        "label_end > ? and recorded_day < ?",
        [ts(start - pd.Timedelta(days=longest)), ts(end)],
    )
    verdicts = _read_verdicts(duckdb, context)
    frames, measures = [], []
    for day in partition_days(context.partition_time_window):
        health = measure_health(
            latest_outcomes(outcomes, as_of_day=day),
            verdicts,
            day=day,
            policy=feedback_policy,
            versions={h: m.version for h, m in in_use.items()},
        )
        frames.append(health)
        measures += _health_measures(health, in_use, day, feedback_policy)
    frame = typed_health(pd.concat(frames, ignore_index=True))
    plots = _log_and_plot(mlflow_tracking, duckdb, frame, in_use, measures)
    last = frame[frame["day"] == frame["day"].max()]
    yield measure_check("performance_within_band", measures, "performance")
    yield measure_check("calibration_within_bound", measures, "calibration")
    yield dg.Output(frame, metadata=_health_metadata(last, measures, plots))


def _log_and_plot(
    mlflow: MlflowTracking, duckdb: DuckDBStore, frame: pd.DataFrame, in_use: dict, measures
) -> dict[str, str]:
    """Log each day's row of the versions in use to MLflow (the reliability plot of the last
    day with it); markdown plots of the last day per horizon for the UI."""
    experiment = mlflow.experiment_id(FEEDBACK_EXPERIMENT)
    last_day = frame["day"].max()
    history = pd.concat([_health_history(duckdb, frame), frame], ignore_index=True)
    plots = {}
    for horizon, model in in_use.items():
        mine = frame[(frame["horizon"] == horizon) & (frame["model_version"] == model.version)]
        png = None
        for row in mine.sort_values("day").to_dict("records"):
            curve = json.loads(row["reliability"] or "[]")
            title = f"{model.name} v{model.version}, {pd.Timestamp(row['day']).date()}"
            last = row["day"] == last_day
            png = reliability_png(curve, f"reliability: {title}") if last and curve else None
            log_health(experiment, model.name, model.version, row, row["day"], png)
        band = next(
            (
                m.bound
                for m in reversed(measures)
                if m.kind == "performance" and m.horizon == horizon
            ),
            None,
        )
        past = history[
            (history["horizon"] == horizon) & (history["model_version"] == model.version)
        ].drop_duplicates("day", keep="last")
        parts = [markdown_image(png, "reliability curve")] if png else []
        if past["rank_ic"].notna().sum() > 1:
            title = f"rank IC: {model.name} v{model.version}"
            parts.append(markdown_image(rank_ic_png(past.sort_values("day"), band, title), "IC"))
        if parts:
            plots[f"plots_{horizon}"] = "\n\n".join(parts)
    return plots


def _health_history(duckdb: DuckDBStore, frame: pd.DataFrame) -> pd.DataFrame:
    """Stored health rows of the 120 days before ``frame`` (for the rolling rank IC plot)."""
    if frame.empty:
        return typed_health(pd.DataFrame())
    first = frame["day"].min()
    earlier = duckdb.read_table(
        "model_health",
        "day >= ? and day < ?",
        [ts(first - pd.Timedelta(days=120)), ts(first)],
    )
    return typed_health(earlier)


def _health_metadata(last: pd.DataFrame, measures: list, plots: dict[str, str]) -> dict:
    columns = [
        "horizon",
        "model_version",
        "status",
        "n_outcomes",
        "n_dates",
        "rank_ic",
        "hit_rate",
        "n_calls",
        "ece",
        "brier",
        "top_decile_return",
        "equal_weight_return",
        "user_verdicts",
        "user_good_share",
    ]
    table = last[columns].round(4).to_markdown(index=False) if len(last) else "no health rows"
    last_day = max((m.day for m in measures), default="-")
    drift_lines = [
        f"| {m.kind} | {m.horizon} | {m.status} | {m.reason} |"
        for m in measures
        if m.day == last_day
    ]
    return {
        "rows": len(last),
        "day": last_day,
        "health": dg.MetadataValue.md(table),
        "drift": dg.MetadataValue.md(
            "| drift | horizon | status | reason |\n|---|---|---|---|\n" + "\n".join(drift_lines)
        ),
        MEASURES_KEY: dg.MetadataValue.json([m.to_dict() for m in measures]),
        **{key: dg.MetadataValue.md(md) for key, md in plots.items()},
    }


def build_health_asset(partitions: Partitions) -> dg.AssetsDefinition:
    return dg.asset(
        deps=[
            looking_back("prediction_outcomes", HEALTH_LOOKBACK_DAYS),
            "user_verdicts",
            MODELS_DEP,
        ],
        kinds={"mlflow", "duckdb"},
        check_specs=[
            dg.AssetCheckSpec("performance_within_band", asset="model_health"),
            dg.AssetCheckSpec("calibration_within_bound", asset="model_health"),
        ],
        **daily(partitions, "day"),
    )(model_health)
