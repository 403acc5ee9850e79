"""Alerts: what happened, where (asset / partition / run, with links into the Dagster UI) and what
to do, delivered to every configured channel through apprise (one URL per channel: Telegram,
Discord, e-mail, a JSON webhook, or any other apprise target).

Repeats are rate-limited per alert key (kind + where) with the state in a small SQLite file, so a
restarted daemon neither resends what it already sent nor forgets what it suppressed; the next
alert of a key says how many repeats were held back. An alert that no channel accepted waits in
an outbox in the same file and is retried on the next call, so a channel outage loses nothing.

Pure: no Dagster here (the sensors in ``crypto_assets.defs.ops`` build :class:`Alert` objects).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "error"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2}
CHANNELS = ("telegram", "discord", "email", "webhook")
PRODUCT = "crypto_assets"


@dataclass(frozen=True)
class Alert:
    """One thing a person should know about. ``action`` is the next step, in words."""

    kind: str  # run_failure | check_failed | source_outage | overload | retrain | test
    severity: Severity
    what: str
    action: str
    asset: str | None = None
    partition: str | None = None
    run_id: str | None = None
    job: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    key: str | None = None  # repeats of one key are rate-limited; default: kind + where

    @property
    def dedup_key(self) -> str:
        return self.key or "|".join(
            str(part or "") for part in (self.kind, self.job, self.asset, self.partition)
        )


def run_url(ui_base_url: str, run_id: str) -> str:
    return f"{ui_base_url.rstrip('/')}/runs/{quote(run_id)}"


def asset_url(ui_base_url: str, asset: str, partition: str | None = None) -> str:
    """The asset's page; with a partition, its partitions view opened at that partition."""
    path = "/".join(quote(part, safe="") for part in asset.split("/"))
    url = f"{ui_base_url.rstrip('/')}/assets/{path}"
    return f"{url}?view=partitions&partition={quote(partition, safe='')}" if partition else url


def render(alert: Alert, ui_base_url: str, suppressed: int = 0) -> tuple[str, str]:
    """(title, body) in plain text: the same words on every channel."""
    title = f"[{PRODUCT}] {alert.severity.upper()}: {alert.what}"
    where = []
    if alert.asset:
        where.append(f"asset {alert.asset}")
    if alert.partition:
        where.append(f"partition {alert.partition}")
    if alert.job:
        where.append(f"job {alert.job}")
    if alert.run_id:
        where.append(f"run {alert.run_id[:8]}")
    lines = [f"What: {alert.what}", f"Where: {', '.join(where) or 'this installation'}"]
    if alert.run_id:
        lines.append(f"Run: {run_url(ui_base_url, alert.run_id)}")
    if alert.asset:
        lines.append(f"Asset: {asset_url(ui_base_url, alert.asset, alert.partition)}")
    for name, value in alert.details.items():
        lines.append(f"{name}: {value}")
    lines.append(f"What to do: {alert.action}")
    if suppressed:
        lines.append(f"({suppressed} repeat(s) of this alert were held back since the last one.)")
    return title, "\n".join(lines)


_SCHEMA = """
create table if not exists sent (
    key text primary key, last_sent real not null, suppressed integer not null default 0
);
create table if not exists outbox (
    id integer primary key autoincrement, key text not null, severity text not null,
    title text not null, body text not null, created real not null,
    attempts integer not null default 0, last_error text
);
"""


class AlertState:
    """Rate-limit and outbox state in one SQLite file (safe across processes and threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("pragma journal_mode=wal")
        return conn

    def claim(self, key: str, now: float, repeat_seconds: float) -> tuple[bool, int]:
        """(send?, repeats held back before this one). A claim counts as sent at once, so two
        evaluations racing on one key send it once."""
        with closing(self._connect()) as conn:
            conn.execute("begin immediate")
            row = conn.execute(
                "select last_sent, suppressed from sent where key=?", [key]
            ).fetchone()
            if row is not None and now - row[0] < repeat_seconds:
                conn.execute("update sent set suppressed = suppressed + 1 where key=?", [key])
                conn.execute("commit")
                return False, row[1] + 1
            conn.execute(
                "insert into sent(key, last_sent, suppressed) values (?, ?, 0) "
                "on conflict(key) do update set last_sent=excluded.last_sent, suppressed=0",
                [key, now],
            )
            conn.execute("commit")
            return True, row[1] if row is not None else 0

    def enqueue(self, key: str, severity: str, title: str, body: str, now: float, error: str):
        with closing(self._connect()) as conn:
            conn.execute(
                "insert into outbox(key, severity, title, body, created, attempts, last_error) "
                "values (?, ?, ?, ?, ?, 1, ?)",
                [key, severity, title, body, now, error],
            )

    def pending(self) -> list[tuple[int, str, str, str, str]]:
        with closing(self._connect()) as conn:
            return conn.execute(
                "select id, key, severity, title, body from outbox order by id"
            ).fetchall()

    def settle(self, outbox_id: int, delivered: bool, error: str = "") -> None:
        with closing(self._connect()) as conn:
            if delivered:
                conn.execute("delete from outbox where id=?", [outbox_id])
            else:
                conn.execute(
                    "update outbox set attempts = attempts + 1, last_error=? where id=?",
                    [error, outbox_id],
                )


@dataclass
class Delivery:
    """What happened to one alert: sent to which channels, held back, or queued for retry."""

    key: str
    sent_to: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    suppressed: bool = False
    queued: bool = False
    note: str = ""


def _notify_type(severity: str):
    import apprise

    return {
        "error": apprise.NotifyType.FAILURE,
        "warning": apprise.NotifyType.WARNING,
    }.get(severity, apprise.NotifyType.INFO)


def send_to_channel(url: str, title: str, body: str, severity: str) -> str | None:
    """Deliver through one apprise URL; None on success, else the reason (never the URL)."""
    import apprise

    target = apprise.Apprise()
    if not target.add(url):
        return "the URL is not a valid apprise URL"
    ok = target.notify(
        title=title,
        body=body,
        notify_type=_notify_type(severity),
        body_format=apprise.NotifyFormat.TEXT,
    )
    return None if ok else "the channel did not accept the message (see the apprise log)"


class AlertRouter:
    """Sends alerts to every configured channel whose turn it is, once per repeat window."""

    def __init__(
        self,
        channels: Mapping[str, str | None],
        state: AlertState,
        ui_base_url: str,
        repeat_minutes: float = 60,
        min_severity: Severity = "info",
    ) -> None:
        self.channels = {name: url for name, url in channels.items() if url}
        self.state = state
        self.ui_base_url = ui_base_url
        self.repeat_seconds = repeat_minutes * 60
        self.min_rank = SEVERITY_RANK[min_severity]

    def _deliver(self, title: str, body: str, severity: str) -> tuple[list[str], list[str]]:
        sent, failed = [], []
        for name, url in self.channels.items():
            reason = send_to_channel(url, title, body, severity)
            if reason is None:
                sent.append(name)
            else:
                failed.append(name)
                log.error("alert channel %s failed: %s", name, reason)
        return sent, failed

    def send(self, alert: Alert, now: float | None = None, queue: bool = True) -> Delivery:
        """Send (or hold back) one alert; with ``queue``, one no channel accepted is kept for
        :meth:`retry_queued`."""
        now = time.time() if now is None else now
        delivery = Delivery(key=alert.dedup_key)
        if SEVERITY_RANK[alert.severity] < self.min_rank:
            delivery.note = f"below the minimum severity ({alert.severity})"
            return delivery
        go, held_back = self.state.claim(alert.dedup_key, now, self.repeat_seconds)
        if not go:
            delivery.suppressed = True
            delivery.note = f"repeat within {self.repeat_seconds / 60:g} min: held back"
            return delivery
        title, body = render(alert, self.ui_base_url, held_back)
        log.warning("alert: %s", title, extra={"event": f"alert_{alert.kind}"})
        if not self.channels:
            delivery.note = "no alert channel configured (CRYPTO_ASSETS_ALERT_*_URL): logged only"
            return delivery
        delivery.sent_to, delivery.failed = self._deliver(title, body, alert.severity)
        if not delivery.sent_to and queue:
            self.state.enqueue(
                alert.dedup_key, alert.severity, title, body, now, "no channel accepted it"
            )
            delivery.queued = True
            delivery.note = "no channel accepted the alert: queued for retry"
        return delivery

    def retry_queued(self) -> int:
        """Re-send alerts that no channel accepted earlier; returns how many went out now."""
        if not self.channels:
            return 0
        delivered = 0
        for outbox_id, _key, severity, title, body in self.state.pending():
            sent, _failed = self._deliver(title, body, severity)
            self.state.settle(outbox_id, bool(sent), "" if sent else "no channel accepted it")
            delivered += bool(sent)
        return delivered
