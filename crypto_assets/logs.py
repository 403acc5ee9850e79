"""Structured JSON logs (one object per line, ELK-compatible) with secrets masked."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

_SECRET = re.compile(r"(?i)(api[_-]?key|token|secret|password)(['\"]?\s*[:=]\s*['\"]?)([^\s'\",]+)")


def redact(text: str) -> str:
    """Mask values that look like credentials, so a careless message cannot leak one."""
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...extra}``; Dagster run ids pass through."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key in ("dagster_meta", "run_id", "step_key", "asset", "symbol", "horizon"):
            value = getattr(record, key, None)
            if value is not None:
                payload[key] = value if isinstance(value, str | int | float) else str(value)
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class JsonFileHandler(logging.FileHandler):
    """JSON lines in ``filename``: an absolute path (what the runner writes into a new
    instance's dagster.yaml), or a name under ``$DAGSTER_HOME/logs/`` (default: the project's
    ``.dagster_home``, the instance the CLI opens, whatever the working directory)."""

    def __init__(self, filename: str = "crypto_assets.jsonl", level: int = logging.INFO) -> None:
        import os
        from pathlib import Path

        project_home = Path(__file__).resolve().parent.parent / ".dagster_home"
        folder = Path(os.environ.get("DAGSTER_HOME") or project_home) / "logs"
        path = folder / filename  # an absolute filename replaces the folder
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, encoding="utf-8")
        self.setLevel(level)
        self.setFormatter(JsonFormatter())
