"""Drift sensors: feature, performance and calibration drift ask ``retrain_job`` to retrain one
horizon (partition key = the horizon).

Each sensor reads the drift measures its asset recorded in new materializations (never the
database, so a tick is cheap and never waits on a DuckDB write lock), takes per horizon the
newest measured day (older ones, from a backfill or a re-run, describe the past), applies the
pure decision rule (``feedback.decisions.decide``) and yields a ``RunRequest`` tagged with which
drift, by how much and on which horizon. Storms are prevented
twice: the cursor remembers the day of each horizon's last request from this sensor, and the
instance's latest drift-tagged ``retrain_job`` run of the horizon (from any of the three sensors)
counts too; ``run_key`` makes the same (drift, horizon, day) request once at most. Whether the
retrained model is used is still decided by the registry's promotion rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import dagster as dg

from crypto_assets.defs.feedback.common import MEASURES_KEY
from crypto_assets.feedback.decisions import decide, later_day
from crypto_assets.feedback.drift import DriftMeasure

RETRAIN_JOB = "retrain_job"
DRIFT_TAG = "crypto_assets/drift"
DRIFT_VALUE_TAG = "crypto_assets/drift_value"
DRIFT_BOUND_TAG = "crypto_assets/drift_bound"
DRIFT_EXCESS_TAG = "crypto_assets/drift_excess"
DRIFT_DAY_TAG = "crypto_assets/drift_day"
DRIFT_REASON_TAG = "crypto_assets/drift_reason"
HORIZON_TAG = "crypto_assets/horizon"
JUDGED_VERSION_TAG = "crypto_assets/judged_model_version"
MAX_EVENTS_PER_TICK = 200


@dataclass
class SensorState:
    """The cursor: the last materialization read, and per horizon the day of the last request."""

    after_storage_id: int | None = None
    fired: dict[str, str] = field(default_factory=dict)  # horizon -> day of the last request
    judged: dict[str, str] = field(default_factory=dict)  # horizon -> newest day decided on

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SensorState:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(
            data.get("after_storage_id"), dict(data.get("fired", {})), dict(data.get("judged", {}))
        )

    def to_cursor(self) -> str:
        return json.dumps(
            {"after_storage_id": self.after_storage_id, "fired": self.fired, "judged": self.judged}
        )


def last_drift_retrain_day(instance: dg.DagsterInstance, horizon: str) -> str | None:
    """The measured day behind the newest drift-triggered retrain run of ``horizon``."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=RETRAIN_JOB, tags={HORIZON_TAG: horizon}), limit=1
    )
    return runs[0].tags.get(DRIFT_DAY_TAG) if runs else None


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def run_request(measure: DriftMeasure, magnitude: float | None, reason: str) -> dg.RunRequest:
    """The retrain request for one breach: the horizon's partition, tags saying why."""
    return dg.RunRequest(
        run_key=f"{measure.kind}-drift-{measure.horizon}-{measure.day}",
        partition_key=measure.horizon,
        tags={
            DRIFT_TAG: measure.kind,
            DRIFT_VALUE_TAG: _fmt(measure.value),
            DRIFT_BOUND_TAG: _fmt(measure.bound),
            DRIFT_EXCESS_TAG: _fmt(magnitude),
            DRIFT_DAY_TAG: measure.day,
            DRIFT_REASON_TAG: reason[:500],
            HORIZON_TAG: measure.horizon,
            JUDGED_VERSION_TAG: str(measure.model_version),
        },
    )


def _new_measures(
    context: dg.SensorEvaluationContext, asset: str, kind: str, state: SensorState
) -> list[DriftMeasure]:
    """Measures of ``kind`` in the asset's materializations after the cursor, oldest first."""
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(asset), after_storage_id=state.after_storage_id
        ),
        limit=MAX_EVENTS_PER_TICK,
        ascending=True,
    )
    measures = []
    for record in result.records:
        state.after_storage_id = record.storage_id
        entry = record.asset_materialization.metadata.get(MEASURES_KEY)
        for data in (entry.value if entry is not None else None) or []:
            if data.get("kind") == kind:
                measures.append(DriftMeasure.from_dict(data))
    return sorted(measures, key=lambda m: m.day)


def _current(measures: list[DriftMeasure], state: SensorState) -> tuple[list, list[str]]:
    """Per horizon only the newest measured day: older days in the same batch (a backfill, a
    daemon that was off) describe the past, and so does a re-run of a day older than one
    already decided on; neither may ask for a retrain now."""
    newest = {m.horizon: m for m in measures}  # measures are sorted by day
    current, notes = [], []
    for horizon, measure in newest.items():
        judged = state.judged.get(horizon)
        if judged is not None and measure.day < judged:
            notes.append(f"{horizon} {measure.day}: stale: {judged} was already judged")
            continue
        state.judged[horizon] = measure.day
        current.append(measure)
    return current, notes


def evaluate_drift(context: dg.SensorEvaluationContext, asset: str, kind: str) -> dg.SensorResult:
    """One tick of a drift sensor (shared by the three)."""
    state = SensorState.from_cursor(context.cursor)
    requests = []
    current, notes = _current(_new_measures(context, asset, kind, state), state)
    for measure in current:
        last = later_day(
            state.fired.get(measure.horizon),
            last_drift_retrain_day(context.instance, measure.horizon),
        )
        decision = decide(measure, last)
        notes.append(f"{measure.horizon} {measure.day}: {decision.answer}: {decision.reason}")
        if decision.fire:
            requests.append(run_request(measure, decision.magnitude, decision.reason))
            state.fired[measure.horizon] = measure.day
    for note in notes:
        context.log.info(note)
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=state.to_cursor())
    return dg.SensorResult(
        skip_reason="; ".join(notes[-4:]) or f"no new {asset} measurements",
        cursor=state.to_cursor(),
    )


def _sensor(kind: str, asset: str, description: str) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{kind}_drift_sensor",
        job_name=RETRAIN_JOB,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description=description,
    )
    def drift_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return evaluate_drift(context, asset, kind)

    return drift_sensor


feature_drift_sensor = _sensor(
    "feature",
    "feature_drift",
    "Retrains a horizon when the share of its model's features whose live distribution moved "
    "beyond the PSI bound (against the training window) reaches the configured share.",
)
performance_drift_sensor = _sensor(
    "performance",
    "model_health",
    "Retrains a horizon when the live rolling rank IC (or hit rate of confident calls) of the "
    "model in use falls below the band of its own walk-forward folds (mean - k x std).",
)
calibration_drift_sensor = _sensor(
    "calibration",
    "model_health",
    "Retrains a horizon when the live ECE of the model in use rises above the bound.",
)
drift_sensors = [feature_drift_sensor, performance_drift_sensor, calibration_drift_sensor]
