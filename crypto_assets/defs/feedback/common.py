"""What the feedback assets share: the daily asset settings, lineage, the models in use, the
measures' metadata key and the check that says "measured nothing" instead of passing."""

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import Partitions
from crypto_assets.feedback.model_in_use import ModelInUse, model_in_use
from crypto_assets.horizons import HORIZONS
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.settings import FEEDBACK_HEALTH_WINDOW_DAYS, Settings

FEEDBACK_GROUP = "feedback"
FEEDBACK_EXPERIMENT = "crypto_assets_feedback"
MEASURES_KEY = "drift_measures"
# every horizon's model (static partitions) may be the one in use on any day
MODELS_DEP = dg.AssetDep("models", partition_mapping=dg.AllPartitionMapping())
# the look-backs the lineage shows are the defaults (a changed knob changes the read, not the graph)
OUTCOME_LOOKBACK_DAYS = int(Settings.model_fields["feedback_outcome_lookback_days"].default)
HEALTH_LOOKBACK_DAYS = max(FEEDBACK_HEALTH_WINDOW_DAYS.values())


def daily(partitions: Partitions, partition_expr: str) -> dict:
    """What the three assets share: one daily partition each; a backfill runs as one range run."""
    return {
        "group_name": FEEDBACK_GROUP,
        "partitions_def": partitions.daily,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "metadata": {"partition_expr": partition_expr},
    }


def looking_back(asset: str, days: int) -> dg.AssetDep:
    """Day D reads ``asset`` of the ``days`` days up to D (lineage of a rolling read)."""
    return dg.AssetDep(
        asset,
        partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=-days, end_offset=0, allow_nonexistent_upstream_partitions=True
        ),
    )


def ts(value: object) -> object:
    """A timestamp as DuckDB query parameters take it."""
    return pd.Timestamp(value).to_pydatetime()


def window(context: dg.AssetExecutionContext) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of the run's partition (range)."""
    span = context.partition_time_window
    return pd.Timestamp(span.start), pd.Timestamp(span.end)


def models_in_use(
    mlflow_tracking: MlflowTracking, settings: PipelineSettings
) -> dict[str, ModelInUse]:
    """The registry's version in use per horizon (horizons without one are left out)."""
    mlflow_tracking.configure()
    found = {h: model_in_use(settings.signal_model_name(h), h) for h in HORIZONS}
    return {h: m for h, m in found.items() if m is not None}


def measure_check(name: str, measures: list, kind: str) -> dg.AssetCheckResult:
    """Passes only when every horizon with a model in use was measured and is within bounds;
    a horizon measured with too little evidence says so instead of passing."""
    chosen = [m for m in measures if m.kind == kind and m.model_version is not None]
    lines = [f"{m.horizon} ({m.day}): {m.status}: {m.reason}" for m in chosen]
    breaches = [m for m in chosen if m.status == "breach"]
    unmeasured = [m for m in chosen if m.status == "insufficient"]
    if not chosen:
        description = "measured nothing: no model in use for any horizon"
    elif breaches:
        description = "drift: " + "; ".join(lines)
    elif unmeasured:
        description = "measured nothing for some horizons: " + "; ".join(lines)
    else:
        description = "within bounds: " + "; ".join(lines)
    return dg.AssetCheckResult(
        check_name=name,
        passed=bool(chosen) and not breaches and not unmeasured,
        severity=dg.AssetCheckSeverity.WARN,
        description=description[:2000],
        metadata={
            "breaches": len(breaches),
            "insufficient": len(unmeasured),
            "measured": len(chosen) - len(unmeasured),
        },
    )
