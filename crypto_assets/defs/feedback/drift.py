"""Feature drift asset: PSI of each feature of the model in use, live window against its training
window, per horizon; its measures feed the feature drift sensor."""

from collections.abc import Iterator

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from crypto_assets.defs.feedback.common import (
    DAILY,
    MEASURES_KEY,
    MODELS_DEP,
    measure_check,
    models_in_use,
    ts,
)
from crypto_assets.defs.partitions import partition_days
from crypto_assets.defs.storage import SCHEMA, read_table, table_exists
from crypto_assets.feedback import drift as drift_measures
from crypto_assets.feedback.model_in_use import ModelInUse
from crypto_assets.horizons import HORIZONS
from crypto_assets.resources.feedback_policy import FeedbackPolicyResource
from crypto_assets.resources.mlflow_tracking import MlflowTracking

PSI_COLUMNS = ["day", "horizon", "model_version", *drift_measures.PSI_TABLE_COLUMNS]


def _read_features(duckdb, timeframe: str, start, end, columns: list[str], limit: int | None):
    """Rows of ``feature_table`` for one timeframe in [start, end), at most ``limit`` (a
    repeatable reservoir sample, so a long training window costs a bounded read)."""
    if not table_exists(duckdb, "feature_table"):
        return pd.DataFrame(columns=columns)
    with duckdb.get_connection() as conn:
        present = set(
            conn.execute(
                "select column_name from information_schema.columns "
                "where table_schema=? and table_name='feature_table'",
                [SCHEMA],
            )
            .df()["column_name"]
            .tolist()
        )
        chosen = [c for c in columns if c in present]
        select = ", ".join(f'"{c}"' for c in chosen) or "*"
        sql = (
            f'select {select} from {SCHEMA}."feature_table" '
            "where timeframe = ? and date >= ? and date < ?"
        )
        if limit:
            sql = f"select * from ({sql}) using sample reservoir({int(limit)} rows) repeatable (7)"
        return conn.execute(sql, [timeframe, ts(start), ts(end)]).df()


def _feature_names(duckdb, model: ModelInUse) -> list[str]:
    if model.features:
        return model.features
    sample = read_table(duckdb, "feature_table", "false")
    keys = {"symbol", "date", "timeframe"}
    return [c for c in sample.columns if c not in keys and pd.api.types.is_numeric_dtype(sample[c])]


def _drift_for_horizon(duckdb, model: ModelInUse | None, horizon: str, day, policy) -> tuple:
    common = {"horizon": horizon, "day": str(day.date()), "policy": policy}
    empty = pd.DataFrame(columns=PSI_COLUMNS[3:])
    if model is None:
        measure = drift_measures.feature_drift(
            empty, model_version=None, why_not="no model in use for this horizon", **common
        )
        return empty, measure
    if model.trained_from is None or model.trained_to is None:
        why = f"{model.name} v{model.version} records no training window (data_from/data_to)"
        measure = drift_measures.feature_drift(
            empty, model_version=model.version, why_not=why, **common
        )
        return empty, measure
    timeframe = HORIZONS[horizon].timeframe
    features = _feature_names(duckdb, model)
    end = day + pd.Timedelta(days=1)
    reference = _read_features(
        duckdb,
        timeframe,
        model.trained_from,
        model.trained_to + pd.Timedelta(microseconds=1),
        ["date", *features],
        policy.psi_reference_max_rows,
    )
    live = _read_features(
        duckdb,
        timeframe,
        end - pd.Timedelta(days=policy.psi_live_days),
        end,
        ["date", *features],
        None,
    )
    present = [f for f in features if f in reference.columns and f in live.columns]
    table = drift_measures.feature_psi(
        reference, live, present, policy.psi_bins, block_days=policy.psi_live_days
    )
    measure = drift_measures.feature_drift(table, model_version=model.version, **common)
    return table, measure


@dg.asset(
    **DAILY,
    deps=["feature_table", MODELS_DEP],
    metadata={"partition_expr": "day"},
    kinds={"duckdb"},
    check_specs=[dg.AssetCheckSpec("features_stable", asset="feature_drift")],
)
def feature_drift(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    mlflow: MlflowTracking,
    feedback_policy: FeedbackPolicyResource,
) -> Iterator:
    """Population stability index of each feature of the model in use: the live window against
    the model's training window (bins from its quantiles), per horizon. Its measures feed the
    feature drift sensor."""
    in_use = models_in_use(mlflow)
    tables, measures = [], []
    for day in partition_days(context.partition_time_window):
        for horizon in HORIZONS:
            model = in_use.get(horizon)
            table, measure = _drift_for_horizon(duckdb, model, horizon, day, feedback_policy)
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
    out = frame.reindex(columns=PSI_COLUMNS)
    out["day"] = pd.to_datetime(out["day"], utc=True).astype("datetime64[ns, UTC]")
    for column in ("horizon", "model_version", "feature"):
        out[column] = out[column].astype("string")
    for column in PSI_COLUMNS[4:]:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out.reset_index(drop=True)


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
