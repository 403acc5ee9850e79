"""Local alert endpoints on 127.0.0.1 that record what arrives: an HTTP server for apprise's
``json://`` target (and any webhook) and an SMTP server (aiosmtpd) for ``mailto://``."""

from __future__ import annotations

import email
import json
import socket
import threading
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RecordingHttpServer:
    """Records every request (path, headers, JSON body); ``fail_next`` answers HTTP 500."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length).decode("utf-8")
                if recorder.fail_next:
                    recorder.fail_next -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                recorder.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)}
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def apprise_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/alerts"

    def __enter__(self) -> RecordingHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    subject: str
    text: str


@dataclass
class _MailHandler:
    received: list[ReceivedMail] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        self.received.append(
            ReceivedMail(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                str(message["Subject"]),
                body.get_content() if body is not None else "",
            )
        )
        return "250 OK"


class RecordingSmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self._handler = _MailHandler()
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)

    @property
    def received(self) -> list[ReceivedMail]:
        return self._handler.received

    @property
    def apprise_url(self) -> str:
        return (
            f"mailto://127.0.0.1:{self.port}?from=alerts@example.org&to=ops@example.org"
            "&mode=insecure&format=text"
        )

    def __enter__(self) -> RecordingSmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
