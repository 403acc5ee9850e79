"""Serving the dashboard: uvicorn on the configured host and port (127.0.0.1:8765 by default)."""

from __future__ import annotations

import uvicorn

from crypto_assets.dashboard.app import create_app
from crypto_assets.settings import Settings


def serve(settings: Settings) -> None:
    """Serve until interrupted; refuses (``security.StartRefused``) a non-loopback host without
    a token before anything listens."""
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.dashboard_host,
        port=settings.dashboard_port,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        access_log=False,
    )
