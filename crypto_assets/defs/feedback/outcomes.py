"""The outcome log asset: each stored prediction meets its realised net return once its horizon
has passed; append-only. (Users' verdicts are the ``user_verdicts`` asset of ``defs/verdicts``,
copied from the dashboard's store.)"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from crypto_assets.defs.feedback.common import (
    OUTCOME_LOOKBACK_DAYS,
    daily,
    looking_back,
    window,
)
from crypto_assets.defs.partitions import Partitions
from crypto_assets.feedback.outcomes import judge, record_outcomes, typed_outcomes
from crypto_assets.horizons import HORIZONS
from crypto_assets.resources.feedback_policy import FeedbackPolicyResource
from crypto_assets.resources.storage import DuckDBStore


def _outcome_inputs(
    duckdb: DuckDBStore, start: pd.Timestamp, end: pd.Timestamp, lookback: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Predictions and labels of the look-back, and the outcome log of those predictions."""
    first = start - pd.Timedelta(days=lookback)
    predictions = duckdb.read_window("predictions", "day", first, end)
    labels = duckdb.read_window("labels", "date", first, end)
    recorded = duckdb.read_window("prediction_outcomes", "day", first, end)
    return predictions, labels, typed_outcomes(recorded)


def _outcome_check(log: pd.DataFrame, pending: int, overdue: pd.DataFrame) -> dg.AssetCheckResult:
    if log.empty:
        return dg.AssetCheckResult(
            check_name="outcomes_recorded",
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"measured nothing: no prediction's horizon has passed yet "
            f"({pending} predictions waiting)",
            metadata={"pending": pending},
        )
    sample = ", ".join(
        f"{r.symbol} {r.horizon} {r.day.date()}" for r in overdue.head(5).itertuples()
    )
    return dg.AssetCheckResult(
        check_name="outcomes_recorded",
        passed=overdue.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(log)} outcomes recorded; every prediction past its horizon is judged"
            if overdue.empty
            else f"{len(overdue)} predictions past their horizon have no stored label "
            f"(labels not materialized, or the exit candle is missing), e.g. {sample}"
        ),
        metadata={"recorded": len(log), "pending": pending, "overdue": len(overdue)},
    )


def prediction_outcomes(
    context: dg.AssetExecutionContext, duckdb: DuckDBStore, feedback_policy: FeedbackPolicyResource
) -> Iterator:
    """Append-only log of each prediction's realised NET return once its horizon has passed
    (partition = the day the outcome became known). A revised label adds a new row with the
    next revision and its reason; rows already in the log are never changed."""
    start, end = window(context)
    predictions, labels, recorded = _outcome_inputs(
        duckdb, start, end, feedback_policy.outcome_lookback_days
    )
    in_range = (recorded["recorded_day"] >= start) & (recorded["recorded_day"] < end)
    new = record_outcomes(
        predictions,
        labels,
        recorded,
        start=start,
        end=end,
        recorded_at=pd.Timestamp.now(tz="UTC"),
    )
    frame = typed_outcomes(pd.concat([recorded[in_range], new], ignore_index=True))
    log = pd.concat([recorded, new], ignore_index=True)
    judged = judge(predictions, labels, end) if len(predictions) else pd.DataFrame()
    pending = int((~judged["known"]).sum()) if len(judged) else 0
    overdue = _overdue(judged, end)
    yield _outcome_check(log[log["recorded_day"] < end], pending, overdue)
    yield dg.Output(frame, metadata=_outcome_metadata(frame, new, pending, len(overdue)))


def _overdue(judged: pd.DataFrame, known_by: pd.Timestamp) -> pd.DataFrame:
    if judged.empty:
        return judged
    due = judged["as_of"] + judged["horizon"].map(lambda h: HORIZONS[h].duration)
    return judged[(due <= known_by) & ~judged["known"]]


def _outcome_metadata(frame: pd.DataFrame, new: pd.DataFrame, pending: int, overdue: int) -> dict:
    revisions = new[new["revision"] > 1]
    by_horizon = new.groupby("horizon", observed=True).size().to_dict() if len(new) else {}
    preview = revisions if len(revisions) else new
    columns = ["symbol", "horizon", "day", "realised_return", "revision", "reason"]
    return {
        "rows": len(frame),
        "new_outcomes": int((new["revision"] == 1).sum()),
        "revisions": len(revisions),
        "pending": pending,
        "overdue": overdue,
        **{f"new_{h}": int(n) for h, n in by_horizon.items()},
        "preview": dg.MetadataValue.md(
            preview.head(15)[columns].to_markdown(index=False) if len(preview) else "no new rows"
        ),
    }


def build_outcomes_asset(partitions: Partitions) -> dg.AssetsDefinition:
    return dg.asset(
        deps=[
            looking_back("predictions", OUTCOME_LOOKBACK_DAYS),
            looking_back("labels", OUTCOME_LOOKBACK_DAYS),
        ],
        kinds={"duckdb"},
        check_specs=[dg.AssetCheckSpec("outcomes_recorded", asset="prediction_outcomes")],
        **daily(partitions, "recorded_day"),
    )(prediction_outcomes)
