"""The alert sensors on a real Dagster instance: real failed runs, real check evaluations, each
alert delivered to a local JSON webhook and SMTP server."""

from pathlib import Path

import dagster as dg

from crypto_assets.defs.ops import DRIFT_TAG
from crypto_assets.defs.ops.alerting import (
    asset_check_alerts,
    retrain_alerts,
    run_failure_alerts,
    source_outage_alerts,
)
from crypto_assets.resources.alerts import AlertChannels
from crypto_assets_tests.ops.conftest import UI
from crypto_assets_tests.ops.servers import RecordingHttpServer, RecordingSmtpServer


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2024-06-01"))
def clean_candles(context: dg.AssetExecutionContext) -> None:
    raise OSError(f"No space left on device while writing {context.partition_key}")


@dg.asset(
    check_specs=[
        dg.AssetCheckSpec("coins_complete", asset="universe"),
        dg.AssetCheckSpec("schema", asset="universe"),
        dg.AssetCheckSpec("fresh", asset="universe"),
    ]
)
def universe():
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(
        check_name="coins_complete",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description="3 coins missing",
        metadata={"missing_symbols": "ZK/USD, ARB/USD, OP/USD"},
    )
    yield dg.AssetCheckResult(check_name="schema", passed=False, metadata={"failures": 12})
    yield dg.AssetCheckResult(check_name="fresh", passed=True)


@dg.asset(
    check_specs=[
        dg.AssetCheckSpec("cryptopanic_status", asset="news_items"),
        dg.AssetCheckSpec("feed_status", asset="news_items"),
        dg.AssetCheckSpec("rss_source", asset="news_items"),
    ]
)
def news_items():
    """A source-backed asset following the status convention of crypto_assets.defs.ops."""
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(
        check_name="cryptopanic_status",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"source": "cryptopanic", "status": "no_key", "reason": "no API key set"},
    )
    yield dg.AssetCheckResult(  # recorded replay: healthy, no alert
        check_name="feed_status", passed=True, metadata={"source": "feed", "status": "replay"}
    )
    yield dg.AssetCheckResult(  # named freely but carrying a status: still a source outage
        check_name="rss_source",
        passed=True,
        metadata={"source": "coindesk-rss", "status": "unavailable", "reason": "HTTP 503"},
    )


@dg.asset
def models() -> int:
    return 1


retrain_job = dg.define_asset_job("retrain_job", selection=[models])
other_job = dg.define_asset_job("features_job", selection=[models])
JOBS = dg.Definitions(assets=[models], jobs=[retrain_job, other_job])


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, channels, cursor=None):
    """One evaluation as the daemon makes it: the code location's definitions, a cursor."""
    defs = dg.Definitions(
        assets=[clean_candles, universe, news_items],
        sensors=[sensor],
        resources={"alerts": channels},
    )
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources={"alerts": channels}
    )
    return sensor(context), context.cursor


def test_run_failure_alert_names_the_step_and_links_the_run(
    channels: AlertChannels, webhook: RecordingHttpServer, smtp: RecordingSmtpServer
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        # the sensor's own evaluation loop: the first tick starts after existing history
        first = run_failure_alerts.evaluate_tick(
            dg.build_sensor_context(instance=instance, resources={"alerts": channels})
        )
        assert "Initiating" in first.skip_message
        result = dg.materialize(
            [clean_candles], instance=instance, partition_key="2024-06-10", raise_on_error=False
        )
        assert not result.success
        tick = run_failure_alerts.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, cursor=first.cursor, resources={"alerts": channels}
            )
        )
    assert tick.cursor != first.cursor
    [request] = webhook.requests
    title, message = request["body"]["title"], request["body"]["message"]
    assert title.startswith("[crypto_assets] ERROR: run of __ephemeral_asset_job__ failed at step")
    assert "No space left on device while writing 2024-06-10" in title
    assert f"Run: {UI}/runs/{result.run_id}" in message
    assert "partition 2024-06-10" in message
    assert "What to do: open the run" in message
    assert smtp.received[0].subject == title


def test_run_failure_sensor_through_the_test_context(
    tmp_path: Path, webhook: RecordingHttpServer
) -> None:
    channels = AlertChannels(
        webhook_url=webhook.apprise_url, ui_base_url=UI, state_path=str(tmp_path / "s.sqlite")
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [clean_candles], instance=instance, partition_key="2024-06-11", raise_on_error=False
        )
        run = instance.get_run_by_id(result.run_id)
        failure = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0]
        for _ in range(2):  # the same failure twice: the second is held back
            context = dg.build_run_status_sensor_context(
                sensor_name="run_failure_alerts",
                dagster_event=failure.dagster_event,
                dagster_instance=instance,
                dagster_run=run,
                resources={"alerts": channels},
            ).for_run_failure()
            run_failure_alerts(context)
    assert len(webhook.requests) == 1
    assert "2024-06-11" in webhook.requests[0]["body"]["message"]


def test_failed_checks_alert_once_each(
    channels: AlertChannels, webhook: RecordingHttpServer, smtp: RecordingSmtpServer
) -> None:
    with dg.instance_for_test() as instance:  # the default SQLite storage, run-sharded
        skip, cursor = _tick(asset_check_alerts, instance, channels)
        assert "started after check execution" in skip.skip_message
        dg.materialize([universe], instance=instance)
        skip, cursor = _tick(asset_check_alerts, instance, channels, cursor)
        assert skip.skip_message.startswith("2 alert(s): 2 sent")
        dg.materialize([universe], instance=instance)  # the same failures again: held back
        skip, cursor = _tick(asset_check_alerts, instance, channels, cursor)
        assert skip.skip_message.startswith("2 alert(s): 0 sent, 2 held back")
        skip, _ = _tick(asset_check_alerts, instance, channels, cursor)
        assert skip.skip_message == "nothing to alert"
    titles = sorted(r["body"]["title"] for r in webhook.requests)
    assert titles == [
        "[crypto_assets] ERROR: check schema failed on universe",
        "[crypto_assets] WARNING: check coins_complete failed on universe: 3 coins missing",
    ]
    warning = next(r for r in webhook.requests if "coins_complete" in r["body"]["title"])
    assert warning["body"]["type"] == "warning"
    assert "missing_symbols: ZK/USD, ARB/USD, OP/USD" in warning["body"]["message"]
    assert f"Asset: {UI}/assets/universe" in warning["body"]["message"]
    assert "downstream assets still ran" in warning["body"]["message"]
    assert len(smtp.received) == 2


def test_source_status_checks_alert_as_outages_only(
    channels: AlertChannels, webhook: RecordingHttpServer
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        _, check_cursor = _tick(asset_check_alerts, instance, channels)
        _, source_cursor = _tick(source_outage_alerts, instance, channels)
        dg.materialize([news_items], instance=instance)
        check_skip, _ = _tick(asset_check_alerts, instance, channels, check_cursor)
        source_skip, _ = _tick(source_outage_alerts, instance, channels, source_cursor)
    assert check_skip.skip_message == "nothing to alert"  # not twice: outages are not checks
    assert source_skip.skip_message.startswith("2 alert(s): 2 sent")
    by_title = {r["body"]["title"]: r["body"] for r in webhook.requests}
    assert set(by_title) == {
        "[crypto_assets] WARNING: source cryptopanic: no_key (no API key set)",
        "[crypto_assets] ERROR: source coindesk-rss: unavailable (HTTP 503)",
    }
    no_key = by_title["[crypto_assets] WARNING: source cryptopanic: no_key (no API key set)"]
    assert "What to do: set the source's key in .env" in no_key["message"]
    assert "check: cryptopanic_status" in no_key["message"]


def test_drift_retrain_runs_are_announced(
    channels: AlertChannels, webhook: RecordingHttpServer
) -> None:
    drift = "feature_psi=0.31 (band 0.25) horizon=30d"
    with dg.DagsterInstance.ephemeral() as instance:
        runs = [
            JOBS.resolve_job_def("retrain_job").execute_in_process(
                instance=instance, tags={DRIFT_TAG: drift, "crypto_assets/horizon": "30d"}
            ),
            JOBS.resolve_job_def("retrain_job").execute_in_process(instance=instance),  # monthly
            JOBS.resolve_job_def("features_job").execute_in_process(
                instance=instance, tags={DRIFT_TAG: drift}
            ),
        ]
        for result in runs:
            start = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_START)[0]
            retrain_alerts(
                dg.build_run_status_sensor_context(
                    sensor_name="retrain_alerts",
                    dagster_event=start.dagster_event,
                    dagster_instance=instance,
                    dagster_run=instance.get_run_by_id(result.run_id),
                    resources={"alerts": channels},
                )
            )
    [request] = webhook.requests
    assert request["body"]["type"] == "info"
    assert request["body"]["title"] == (
        f"[crypto_assets] INFO: drift detected ({drift}): retraining models"
    )
    assert f"Run: {UI}/runs/{runs[0].run_id}" in request["body"]["message"]
    assert "crypto_assets/horizon: 30d" in request["body"]["message"]


def test_check_sensors_need_no_channel(tmp_path: Path) -> None:
    quiet = AlertChannels(state_path=str(tmp_path / "s.sqlite"))
    with dg.DagsterInstance.ephemeral() as instance:
        cursors = {
            s: _tick(s, instance, quiet)[1] for s in (asset_check_alerts, source_outage_alerts)
        }
        dg.materialize([universe, news_items], instance=instance)
        for sensor, cursor in cursors.items():
            skip, _ = _tick(sensor, instance, quiet, cursor)
            assert skip.skip_message == "2 alert(s): 0 sent, 0 held back, 0 queued, 2 logged only"


FLAKY = {"fail": True}


@dg.asset(check_specs=[dg.AssetCheckSpec("rows_present", asset="flaky_feed")])
def flaky_feed():
    if FLAKY["fail"]:
        raise ConnectionError("feed down")  # the run fails: its planned check never runs
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="rows_present", passed=False, metadata={"rows": 0})


def test_a_check_whose_run_died_does_not_block_later_ones(channels, webhook) -> None:
    defs_assets = [flaky_feed]
    with dg.DagsterInstance.ephemeral() as instance:

        def tick(cursor):
            defs = dg.Definitions(assets=defs_assets, resources={"alerts": channels})
            context = dg.build_sensor_context(
                instance=instance, cursor=cursor, definitions=defs, resources={"alerts": channels}
            )
            return asset_check_alerts(context), context.cursor

        _, cursor = tick(None)
        FLAKY["fail"] = True
        assert not dg.materialize(defs_assets, instance=instance, raise_on_error=False).success
        skip, cursor = tick(cursor)
        assert skip.skip_message == "nothing to alert"
        FLAKY["fail"] = False
        dg.materialize(defs_assets, instance=instance)
        skip, _ = tick(cursor)
    assert skip.skip_message.startswith("1 alert(s): 1 sent")
    assert webhook.requests[-1]["body"]["title"].endswith("check rows_present failed on flaky_feed")
