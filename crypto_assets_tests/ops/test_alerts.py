"""Alerts through apprise to real local endpoints: a JSON webhook and an SMTP server."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from crypto_assets.ops.alerts import Alert, AlertRouter, AlertState, asset_url, render, run_url
from crypto_assets_tests.ops.conftest import UI
from crypto_assets_tests.ops.servers import RecordingHttpServer, RecordingSmtpServer

FAILED_RUN = Alert(
    kind="run_failure",
    severity="error",
    what="run of daily_signals_job failed at step clean_ohlcv: disk full",
    action="free disk space, then re-execute from failure",
    asset="clean_ohlcv",
    partition="2024-06-10",
    run_id="0f3c2a9e-1111-2222-3333-444455556666",
    job="daily_signals_job",
    details={"rows_before": "1200"},
)


def _router(tmp_path: Path, **channels: str) -> AlertRouter:
    return AlertRouter(channels, AlertState(tmp_path / "state.sqlite"), UI, repeat_minutes=60)


def test_links_point_into_the_dagster_ui() -> None:
    assert run_url(UI + "/", "abc") == f"{UI}/runs/abc"
    assert asset_url(UI, "crypto/top coins") == f"{UI}/assets/crypto/top%20coins"
    assert asset_url(UI, "ohlcv_daily", "2024-06-10").endswith(
        "/assets/ohlcv_daily?view=partitions&partition=2024-06-10"
    )
    title, body = render(FAILED_RUN, UI, suppressed=2)
    assert title == f"[crypto_assets] ERROR: {FAILED_RUN.what}"
    assert (
        "Where: asset clean_ohlcv, partition 2024-06-10, job daily_signals_job, run 0f3c2a9e"
        in body
    )
    assert f"Run: {UI}/runs/{FAILED_RUN.run_id}" in body
    assert "rows_before: 1200" in body
    assert body.splitlines()[-2].startswith("What to do: free disk space")
    assert "2 repeat(s)" in body.splitlines()[-1]


def test_alert_arrives_at_webhook_and_mail(
    tmp_path: Path, webhook: RecordingHttpServer, smtp: RecordingSmtpServer
) -> None:
    router = _router(tmp_path, webhook=webhook.apprise_url, email=smtp.apprise_url)
    delivery = router.send(FAILED_RUN)
    assert sorted(delivery.sent_to) == ["email", "webhook"] and not delivery.failed
    [request] = webhook.requests
    assert request["path"] == "/alerts"
    assert request["body"]["type"] == "failure"
    assert request["body"]["title"] == f"[crypto_assets] ERROR: {FAILED_RUN.what}"
    message = request["body"]["message"]
    assert f"{UI}/runs/{FAILED_RUN.run_id}" in message
    assert f"{UI}/assets/clean_ohlcv?view=partitions&partition=2024-06-10" in message
    assert "What to do: free disk space" in message
    [mail] = smtp.received
    assert mail.sender == "alerts@example.org" and mail.recipients == ["ops@example.org"]
    assert mail.subject == request["body"]["title"]
    assert mail.text.replace("\r\n", "\n").strip() == message.strip()


def test_repeats_are_held_back_across_restarts(
    tmp_path: Path, webhook: RecordingHttpServer
) -> None:
    now = 1_800_000_000.0
    assert _router(tmp_path, webhook=webhook.apprise_url).send(FAILED_RUN, now=now).sent_to
    # a new router on the same state file is a restarted daemon: still within the window
    restarted = _router(tmp_path, webhook=webhook.apprise_url)
    assert restarted.send(FAILED_RUN, now=now + 60).suppressed
    assert restarted.send(FAILED_RUN, now=now + 120).suppressed
    other_partition = Alert(**{**FAILED_RUN.__dict__, "partition": "2024-06-11"})
    assert restarted.send(other_partition, now=now + 130).sent_to  # another key goes out
    assert len(webhook.requests) == 2
    later = restarted.send(FAILED_RUN, now=now + 3601)
    assert later.sent_to
    assert "2 repeat(s) of this alert were held back" in webhook.requests[-1]["body"]["message"]


def test_undelivered_alert_waits_in_the_outbox(
    tmp_path: Path, webhook: RecordingHttpServer
) -> None:
    webhook.fail_next = 1
    router = _router(tmp_path, webhook=webhook.apprise_url)
    delivery = router.send(FAILED_RUN)
    assert delivery.queued and delivery.failed == ["webhook"] and not webhook.requests
    assert len(router.state.pending()) == 1
    assert _router(tmp_path, webhook=webhook.apprise_url).retry_queued() == 1
    assert webhook.requests[0]["body"]["title"].endswith(FAILED_RUN.what)
    assert router.state.pending() == []


def test_bad_url_is_reported_without_echoing_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "tok-9f8e7d6c5b4a"
    router = _router(tmp_path, telegram=f"nosuchscheme://{secret}/123")
    with caplog.at_level(logging.INFO):
        delivery = router.send(FAILED_RUN)
    assert delivery.failed == ["telegram"] and delivery.queued
    assert "alert channel telegram failed: the URL is not a valid apprise URL" in caplog.text
    assert secret not in caplog.text


def test_severity_floor_and_no_channel(tmp_path: Path, webhook: RecordingHttpServer) -> None:
    info = Alert(kind="retrain", severity="info", what="retraining 30d", action="nothing")
    floor = AlertRouter(
        {"webhook": webhook.apprise_url},
        AlertState(tmp_path / "a.sqlite"),
        UI,
        min_severity="warning",
    )
    assert "below the minimum severity" in floor.send(info).note
    assert not webhook.requests
    unconfigured = AlertRouter({"webhook": None}, AlertState(tmp_path / "b.sqlite"), UI)
    delivery = unconfigured.send(FAILED_RUN)
    assert not delivery.sent_to and not delivery.queued
    assert "no alert channel configured" in delivery.note
