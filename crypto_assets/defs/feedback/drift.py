"""Feature drift asset: PSI of each feature of the model in use, live window against its training
window, per horizon; its measures feed the feature drift sensor."""

import math
from collections.abc import Iterator
from functools import cache

import dagster as dg
import numpy as np
import pandas as pd

from crypto_assets.defs.feedback.common import (
    MEASURES_KEY,
    MODELS_DEP,
    daily,
    measure_check,
    models_in_use,
    ts,
)
from crypto_assets.defs.partitions import Partitions, partition_days
from crypto_assets.feedback import drift as drift_measures
from crypto_assets.feedback.model_in_use import ModelInUse
from crypto_assets.frames import pin_dtypes, utc_columns
from crypto_assets.horizons import HORIZONS, TIMEFRAMES
from crypto_assets.resources.feedback_policy import FeedbackPolicyResource
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.resources.storage import DuckDBStore

PSI_COLUMNS = ["day", "horizon", "model_version", *drift_measures.PSI_TABLE_COLUMNS]
KEYS = {"symbol", "date", "timeframe"}


class FeatureReader:
    """Reads of ``feature_table`` for one run, each window read once (1h and 24h share the
    hourly features). A long training window is thinned to every k-th candle time, so its read
    stays near ``max_rows`` whatever the stored history (every coin of a kept time is kept)."""

    def __init__(self, duckdb: DuckDBStore, max_rows: int) -> None:
        self.duckdb, self.max_rows = duckdb, max_rows
        self.read = cache(self._read)

    def _read(self, timeframe: str, start: pd.Timestamp, end: pd.Timestamp, coins: int):
        seconds = int(TIMEFRAMES[timeframe].total_seconds())
        times = max(1, int((end - start).total_seconds() // seconds))
        every = max(1, math.ceil(times * max(coins, 1) / self.max_rows)) if coins else 1
        where = "timeframe = ? and date >= ? and date < ?"
        params = [timeframe, ts(start), ts(end)]
        if every > 1:
            where += " and (epoch(date)::bigint // ?) % ? = 0"
            params += [seconds, every]
        return utc_columns(self.duckdb.read_table("feature_table", where, params), "date")


def _feature_names(model: ModelInUse, live: pd.DataFrame) -> list[str]:
    """The model's features (its features.json), else every numeric stored feature."""
    if model.features:
        return model.features
    return [c for c in live.columns if c not in KEYS and pd.api.types.is_numeric_dtype(live[c])]


def _drift_for_horizon(
    reader: FeatureReader,
    model: ModelInUse | None,
    horizon: str,
    day: pd.Timestamp,
    policy: FeedbackPolicyResource,
) -> tuple[pd.DataFrame, drift_measures.DriftMeasure]:
    """The PSI table and the feature drift measure of one horizon on one day."""
    common = {"horizon": horizon, "day": str(day.date()), "policy": policy}
    empty = pd.DataFrame(columns=drift_measures.PSI_TABLE_COLUMNS)
    why_not = None
    if model is None:
        why_not = "no model in use for this horizon"
    elif model.trained_from is None or model.trained_to is None:
        why_not = f"{model.name} v{model.version} records no training window (data_from/data_to)"
    if why_not is not None:
        version = model.version if model else None
        return empty, drift_measures.feature_drift(
            empty, model_version=version, why_not=why_not, **common
        )
    timeframe = HORIZONS[horizon].timeframe
    end = day + pd.Timedelta(days=1)
    live = reader.read(timeframe, end - pd.Timedelta(days=policy.psi_live_days), end, 0)
    coins = int(live["symbol"].nunique()) if len(live) else 0
    training_end = model.trained_to + TIMEFRAMES[timeframe]
    reference = reader.read(timeframe, model.trained_from, training_end, coins) if coins else live
    features = _feature_names(model, live)
    present = [f for f in features if f in reference.columns and f in live.columns]
    table = drift_measures.feature_psi(
        reference, live, present, policy.psi_bins, block_days=policy.psi_live_days
    )
    return table, drift_measures.feature_drift(table, model_version=model.version, **common)


def feature_drift(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    duckdb: DuckDBStore,
    mlflow_tracking: MlflowTracking,
    feedback_policy: FeedbackPolicyResource,
) -> Iterator:
    """Population stability index of each feature of the model in use: the live window against
    the model's training window (bins from its quantiles), per horizon. Its measures feed the
    feature drift sensor."""
    in_use = models_in_use(mlflow_tracking, settings)
    reader = FeatureReader(duckdb, feedback_policy.psi_reference_max_rows)
    tables, measures = [], []
    for day in partition_days(context.partition_time_window):
        for horizon in HORIZONS:
            model = in_use.get(horizon)
            table, measure = _drift_for_horizon(reader, model, horizon, day, feedback_policy)
            measures.append(measure)
            if len(table):
                tables.append(
                    table.assign(day=day, horizon=horizon, model_version=measure.model_version)
                )
    frame = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=PSI_COLUMNS)
    frame = _typed_psi(frame)
    yield measure_check("features_stable", measures, "feature")
    yield dg.Output(frame, metadata=_drift_metadata(frame, measures))


def _typed_psi(frame: pd.DataFrame) -> pd.DataFrame:
    texts = ("horizon", "model_version", "feature")
    return pin_dtypes(frame, PSI_COLUMNS, times=("day",), texts=texts).reset_index(drop=True)


def _drift_metadata(frame: pd.DataFrame, measures: list) -> dict:
    lines = [f"| {m.horizon} | {m.day} | {m.status} | {m.reason} |" for m in measures]
    top = frame.sort_values("psi", ascending=False).head(15) if len(frame) else frame
    return {
        "rows": len(frame),
        "max_psi": float(np.nanmax(frame["psi"])) if frame["psi"].notna().any() else 0.0,
        "drift": dg.MetadataValue.md(
            "| horizon | day | status | reason |\n|---|---|---|---|\n" + "\n".join(lines)
        ),
        "largest_psi": dg.MetadataValue.md(
            top[["horizon", "feature", "psi", "baseline", "reference_rows", "live_rows"]]
            .round(4)
            .to_markdown(index=False)
            if len(top)
            else "no features measured"
        ),
        MEASURES_KEY: dg.MetadataValue.json([m.to_dict() for m in measures]),
    }


def build_drift_asset(partitions: Partitions) -> dg.AssetsDefinition:
    # reads the training window of the model in use (any stored day) and the live window
    return dg.asset(
        deps=[dg.AssetDep("feature_table", partition_mapping=dg.AllPartitionMapping()), MODELS_DEP],
        kinds={"duckdb"},
        check_specs=[dg.AssetCheckSpec("features_stable", asset="feature_drift")],
        **daily(partitions, "day"),
    )(feature_drift)
