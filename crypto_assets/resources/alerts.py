"""Alert channels as a Dagster resource: apprise URLs (secrets, filled from ``dg.EnvVar``), the
Dagster UI base URL for links, the rate-limit state file and the repeat window."""

from __future__ import annotations

import dagster as dg

from crypto_assets.ops.alerts import Alert, AlertRouter, AlertState, Delivery


class AlertChannels(dg.ConfigurableResource):
    """Where alerts go. A channel left empty is not used; with none set, alerts are only logged."""

    telegram_url: str | None = None
    discord_url: str | None = None
    email_url: str | None = None
    webhook_url: str | None = None
    ui_base_url: str = "http://127.0.0.1:3000"
    state_path: str
    repeat_minutes: float = 60
    min_severity: str = "info"

    def router(self) -> AlertRouter:
        channels = {
            "telegram": self.telegram_url,
            "discord": self.discord_url,
            "email": self.email_url,
            "webhook": self.webhook_url,
        }
        return AlertRouter(
            channels,
            AlertState(self.state_path),
            self.ui_base_url,
            repeat_minutes=self.repeat_minutes,
            min_severity=self.min_severity,  # type: ignore[arg-type]
        )

    def send_all(self, alerts: list[Alert]) -> list[Delivery]:
        """Retry what an earlier outage left queued, then send these (rate-limited)."""
        router = self.router()
        router.retry_queued()
        return [router.send(alert) for alert in alerts]
