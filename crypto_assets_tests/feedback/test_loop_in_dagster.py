"""The feedback loop in a real Dagster instance over a real DuckDB file and MLflow store: the
outcome log fills as days pass and is never rewritten, checks say "measured nothing" when there
is nothing to measure, and the three drift sensors fire on the real 2024 Q1 -> Q2 regime change,
stay quiet inside the training quarter and keep their cooldown."""

from __future__ import annotations

import dataclasses
import json

import dagster as dg
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource
from mlflow.tracking import MlflowClient

from crypto_assets.defs.feedback import defs as feedback_defs
from crypto_assets.defs.feedback.drift import feature_drift
from crypto_assets.defs.feedback.health import model_health
from crypto_assets.defs.feedback.outcomes import prediction_outcomes
from crypto_assets.defs.feedback.sensors import (
    DRIFT_DAY_TAG,
    DRIFT_TAG,
    DRIFT_VALUE_TAG,
    HORIZON_TAG,
    RETRAIN_JOB,
    SensorState,
    calibration_drift_sensor,
    feature_drift_sensor,
    performance_drift_sensor,
)
from crypto_assets.feedback.outcomes import PREDICTION_KEY
from crypto_assets.resources.feedback_policy import FeedbackPolicyResource
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.settings import Settings, get_settings
from crypto_assets_tests.feedback import world
from crypto_assets_tests.feedback.conftest import materialize

SENSORS = (feature_drift_sensor, performance_drift_sensor, calibration_drift_sensor)


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def tick(sensor, instance, cursor: str | None = None) -> dg.SensorResult:
    return sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def requests_by(result: dg.SensorResult) -> dict[str, dg.RunRequest]:
    return {r.partition_key: r for r in result.run_requests or []}


def test_outcome_log_fills_and_is_never_rewritten(stores, instance, real_world) -> None:
    early = materialize([prediction_outcomes], stores, instance, "2024-01-20")
    assert "measured nothing" in checks(early)["outcomes_recorded"].description
    assert not checks(early)["outcomes_recorded"].passed

    materialize([prediction_outcomes], stores, instance, "2024-01-21", "2024-02-10")
    first = stores.table("prediction_outcomes")
    assert set(first["horizon"]) == {"7d"} and len(first) == 20 * 20  # candles Jan 15..Feb 3
    run = materialize([prediction_outcomes], stores, instance, "2024-02-11", "2024-02-20")
    assert checks(run)["outcomes_recorded"].passed
    log = stores.table("prediction_outcomes")
    assert set(log["horizon"]) == {"7d", "30d"} and len(log) > len(first)
    key = [*PREDICTION_KEY, "revision"]
    kept = first.merge(log, on=key, suffixes=("", "_now"))
    assert len(kept) == len(first)
    assert (kept["realised_return"] == kept["realised_return_now"]).all()
    assert (kept["recorded_at"] == kept["recorded_at_now"]).all()

    # the labels asset re-ran a few days with a higher cost: revisions, with their reason
    first_day, end = pd.Timestamp("2024-01-20", tz="UTC"), pd.Timestamp("2024-01-26", tz="UTC")
    revised = world.stored_labels(real_world.candles, "1d", cost=0.005)
    revised = revised[(revised["date"] >= first_day) & (revised["date"] < end)]
    with DuckDBResource(database=str(stores.database)).get_connection() as conn:
        conn.execute(
            "delete from crypto.labels where date >= ? and date < ?",
            [first_day.to_pydatetime(), end.to_pydatetime()],
        )
        conn.register("revised", revised)
        conn.execute("insert into crypto.labels select * from revised")
    materialize([prediction_outcomes], stores, instance, "2024-02-21")
    log = stores.table("prediction_outcomes")
    second = log[log["revision"] == 2]
    assert len(second) == 20 * (6 + 2)  # 7d outcomes of candles Jan 20..25, 30d of Jan 20..21
    assert second["reason"].str.startswith("label revised:").all()
    assert (log[log["revision"] == 1].shape[0]) == len(log.drop_duplicates(PREDICTION_KEY))

    # re-materializing an old day keeps what it recorded, exactly
    before = log[log["recorded_day"] == pd.Timestamp("2024-01-25", tz="UTC")]
    materialize([prediction_outcomes], stores, instance, "2024-01-25")
    after = stores.table("prediction_outcomes")
    again = after[after["recorded_day"] == pd.Timestamp("2024-01-25", tz="UTC")]
    pd.testing.assert_frame_equal(
        before.sort_values(key).reset_index(drop=True),
        again.sort_values(key).reset_index(drop=True),
    )
    assert len(after) == len(log)


def test_fresh_project_measures_nothing_and_says_so(stores, instance, monkeypatch) -> None:
    """Nothing stored and no model registered under this profile's names: every asset still
    materializes, each check says it measured nothing, no sensor asks for anything."""
    monkeypatch.setenv("CRYPTO_ASSETS_PROFILE", "demo")  # demo model names: none registered
    get_settings.cache_clear()
    empty = dataclasses.replace(stores, database=stores.database.with_name("empty.duckdb"))
    try:
        runs = [
            materialize([prediction_outcomes], empty, instance, "2024-03-01"),
            materialize([model_health, feature_drift], empty, instance, "2024-03-01"),
        ]
    finally:
        get_settings.cache_clear()
    evaluations = {**checks(runs[0]), **checks(runs[1])}
    assert len(evaluations) == 4
    for evaluation in evaluations.values():
        assert not evaluation.passed and "measured nothing" in evaluation.description
    for sensor in SENSORS:
        result = tick(sensor, instance)
        assert not result.run_requests
        assert "no model in use" in result.skip_reason.skip_message


def test_too_few_outcomes_measures_nothing_and_fires_nothing(stores, instance) -> None:
    materialize([prediction_outcomes], stores, instance, "2024-01-15", "2024-01-25")
    run = materialize([model_health, feature_drift], stores, instance, "2024-01-25")
    evaluations = checks(run)
    for name in ("performance_within_band", "calibration_within_bound"):
        assert not evaluations[name].passed
        assert "measured nothing" in evaluations[name].description
        assert "measured too little" in evaluations[name].description
    health = stores.table("model_health").set_index("horizon")
    assert health.loc["7d", "status"] == "insufficient"
    for sensor in (performance_drift_sensor, calibration_drift_sensor):
        result = tick(sensor, instance)
        assert not result.run_requests
        assert "insufficient: not enough evidence yet" in result.skip_reason.skip_message


def test_sensors_quiet_in_training_quarter_fire_on_q2(stores, instance, real_world) -> None:
    materialize([prediction_outcomes], stores, instance, "2024-01-15", "2024-06-30")
    quiet = materialize([model_health, feature_drift], stores, instance, "2024-03-31")
    assert all(e.passed for e in quiet.get_asset_check_evaluations())
    cursors = {}
    for sensor in SENSORS:
        result = tick(sensor, instance)
        assert not result.run_requests, sensor.name
        assert "quiet" in result.skip_reason.skip_message
        cursors[sensor.name] = result.cursor

    verdicts = real_world.predictions[real_world.predictions["horizon"] == "7d"]
    verdicts = verdicts[verdicts["day"] == pd.Timestamp("2024-05-01", tz="UTC")].head(4)
    verdicts = verdicts[PREDICTION_KEY].assign(
        verdict=["good", "bad", "bad", "spam"],  # the last one is refused, not counted
        note="",
        author="tester",
        recorded_at=pd.Timestamp("2024-05-02", tz="UTC"),
    )
    world.write_tables(stores.database, user_verdicts=verdicts)
    fired = materialize([model_health, feature_drift], stores, instance, "2024-06-30")
    assert not checks(fired)["performance_within_band"].passed
    assert "rolling rank IC" in checks(fired)["performance_within_band"].description

    feature = requests_by(tick(feature_drift_sensor, instance, cursors["feature_drift_sensor"]))
    performance = requests_by(
        tick(performance_drift_sensor, instance, cursors["performance_drift_sensor"])
    )
    calibration = requests_by(
        tick(calibration_drift_sensor, instance, cursors["calibration_drift_sensor"])
    )
    assert set(feature) == {"7d", "30d"} and set(calibration) == {"7d", "30d"}
    assert set(performance) == {"7d"}  # 30d's rank IC stayed inside its (wide) band
    request = performance["7d"]
    assert request.run_key == "performance-drift-7d-2024-06-30"
    assert request.tags[DRIFT_TAG] == "performance" and request.tags[HORIZON_TAG] == "7d"
    assert float(request.tags[DRIFT_VALUE_TAG]) < -0.1
    assert float(calibration["30d"].tags[DRIFT_VALUE_TAG]) > 0.1

    health = stores.table("model_health")
    row = health[(health["horizon"] == "7d") & (health["day"] == health["day"].max())].iloc[0]
    assert (row["user_verdicts"], row["user_good"], row["user_bad"]) == (3, 1, 2)
    metadata = fired.asset_materializations_for_node("model_health")[0].metadata
    assert "data:image/png;base64" in metadata["plots_7d"].value
    client = MlflowClient(stores.tracking_uri)
    experiment = client.get_experiment_by_name("crypto_assets_feedback").experiment_id
    runs = client.search_runs(
        [experiment], filter_string="tags.model_name = 'crypto_assets_signal_7d'"
    )
    assert runs and runs[0].data.metrics["live_rank_ic"] < 0


def test_cooldown_suppresses_a_second_request(stores, instance) -> None:
    materialize([prediction_outcomes], stores, instance, "2024-04-01", "2024-06-30")
    materialize([model_health], stores, instance, "2024-06-30")
    # this sensor asked for a 7d retrain five measured days earlier
    recent = SensorState(None, {"7d": "2024-06-25"}).to_cursor()
    result = tick(performance_drift_sensor, instance, recent)
    assert not result.run_requests and "cooldown" in result.skip_reason.skip_message
    assert json.loads(result.cursor)["fired"] == {"7d": "2024-06-25"}

    # another sensor's retrain of 7d (a run in the instance) counts too; 30d is not cooling
    instance.add_run(
        dg.DagsterRun(
            job_name=RETRAIN_JOB,
            tags={HORIZON_TAG: "7d", DRIFT_DAY_TAG: "2024-06-30", DRIFT_TAG: "performance"},
        )
    )
    result = tick(calibration_drift_sensor, instance)
    assert set(requests_by(result)) == {"30d"}
    # a second tick finds nothing new: the same breach is not asked for twice
    assert not tick(calibration_drift_sensor, instance, result.cursor).run_requests


def test_definitions_load_with_the_project_job_and_resources(tmp_path) -> None:
    from crypto_assets.defs.jobs import retrain_job
    from crypto_assets.defs.signals import models

    settings = Settings(_env_file=None, data_dir=tmp_path)
    policy = FeedbackPolicyResource.from_settings(settings)
    assert policy.cooldown_days == settings.feedback.cooldown_days
    assert policy.confidence_threshold == settings.confidence_threshold
    merged = dg.Definitions.merge(
        feedback_defs,
        dg.Definitions(
            assets=[models],
            jobs=[retrain_job],
            resources={
                "duckdb": DuckDBResource(database=str(tmp_path / "x.duckdb")),
                "mlflow": MlflowTracking(
                    tracking_uri=f"sqlite:///{tmp_path}/m.db", artifact_root=str(tmp_path)
                ),
                "feedback_policy": policy,
            },
        ),
    )
    dg.Definitions.validate_loadable(merged)
    sensors = {s.name: s for s in merged.sensors}
    assert set(sensors) == {s.name for s in SENSORS}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())


@pytest.mark.parametrize("env", [{"CRYPTO_ASSETS_FEEDBACK__COOLDOWN_DAYS": "7"}])
def test_feedback_knobs_come_from_settings(monkeypatch, env) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.feedback.cooldown_days == 7
    assert settings.feedback.health_window("7d") == 60  # untouched knobs keep their defaults
