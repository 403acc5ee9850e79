"""Structured JSON logs, one object per line, with the same fields from every entry point.

Dagster runs log through ``dagster.yaml``'s ``python_logs`` handler (:class:`JsonFileHandler`);
the CLI and the dashboard call :func:`setup_logging` once. Every line carries the fields a log
shipper (Filebeat / Logstash -> Elasticsearch) indexes without a custom parser:

``@timestamp`` (UTC ISO 8601), ``level``, ``logger``, ``message``, ``service`` (dagster / cli /
dashboard), ``run_id``, ``job``, ``step_key``, ``asset``, ``partition``, ``event`` (a Dagster
event type such as ``STEP_SUCCESS`` or a name given with ``extra={"event": ...}``),
``duration_ms``, ``exc`` for tracebacks and ``error`` for a failed step's exception with its stack
trace; extra context (``symbol``, ``horizon``,
``model_version`` ...) passes through. Fields without a value are left out.

Secrets are masked in every line twice over: ``key=value`` style credentials by pattern, and
the configured secret VALUES themselves (every ``SecretStr`` setting, the Postgres password,
and the token-like parts of alert URLs), wherever they appear in a message or traceback.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MASK = "***"
LOG_FILE = "crypto_assets.jsonl"
_SECRET = re.compile(
    r"(?i)(api[_-]?key|token|secret|password|passwd)(['\"]?\s*[:=]\s*['\"]?)([^\s'\",}]+)"
)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)")
_URL_PART = re.compile(r"[/:@?&=#,;\s]+")
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
_EXTRA_FIELDS = ("symbol", "horizon", "model_version", "source", "coins", "rows", "path")
SECRET_ENV_VARS = ("DAGSTER_PG_PASSWORD", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")

_secret_values: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()
_service = "dagster"


def register_secret_values(values: Iterable[str | None]) -> None:
    """Mask these exact strings (and the token-like parts of URL-shaped ones) from now on."""
    global _secret_pattern
    new = set()
    for value in values:
        if not value or len(value) < _MIN_SECRET_LENGTH:
            continue
        new.add(value)
        if "://" in value:  # apprise URLs: tokens and passwords travel inside the URL
            scheme_free = value.split("://", 1)[1]
            new.update(p for p in _URL_PART.split(scheme_free) if len(p) >= 8)
    with _lock:
        if new <= _secret_values:
            return
        _secret_values.update(new)
        ordered = sorted(_secret_values, key=len, reverse=True)  # longest first: whole URL wins
        _secret_pattern = re.compile("|".join(re.escape(v) for v in ordered))


def _settings_or_none() -> Any | None:
    """The settings from the environment / .env (this module is built by entry points:
    ``dagster.yaml``'s handler, the CLI), or None when they are invalid: a bad value must not
    stop logging (the command reports it), and secret env vars are still masked."""
    try:
        from crypto_assets.settings import load_settings

        return load_settings()
    except Exception:
        return None


def configured_secret_values(settings: Any | None = None) -> list[str]:
    """The values of every ``SecretStr`` setting (plus known secret env vars) that is set; the
    secret variables' raw values too, so they are masked even when the settings are invalid."""
    from pydantic import SecretStr

    from crypto_assets.settings import ENV_PREFIX, SECRET_FIELDS

    settings = settings if settings is not None else _settings_or_none()
    names = [*SECRET_ENV_VARS, *(f"{ENV_PREFIX}{field.upper()}" for field in SECRET_FIELDS)]
    values = [os.environ.get(name) for name in names]
    if settings is not None:
        for name in type(settings).model_fields:
            value = getattr(settings, name, None)
            if isinstance(value, SecretStr):
                values.append(value.get_secret_value())
    return [v for v in values if v]


def redact(text: str) -> str:
    """Mask configured secret values and anything that looks like a credential."""
    pattern = _secret_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


def _plain(value: Any) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact(value if isinstance(value, str) else str(value))


def _partition_from_tags(tags: Mapping[str, str]) -> str | None:
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    return f"{start}...{end}" if start and end else None


def _dagster_fields(meta: Mapping[str, Any]) -> dict[str, Any]:
    """run id, job, step, asset, partition, event and duration from Dagster's record metadata."""
    fields: dict[str, Any] = {
        "run_id": meta.get("run_id"),
        "job": meta.get("job_name"),
        "step_key": meta.get("step_key"),
        "asset": meta.get("op_name"),  # an asset's step is named after the asset
        "partition": _partition_from_tags(meta.get("job_tags") or {}),
    }
    event = meta.get("dagster_event")
    if event is not None:
        fields["event"] = event.event_type_value
        data = event.event_specific_data
        asset_key = getattr(event, "asset_key", None) or getattr(data, "asset_key", None)
        if asset_key is not None:
            fields["asset"] = asset_key.to_user_string()
        partition = getattr(event, "partition", None) or getattr(data, "partition", None)
        if partition:
            fields["partition"] = partition
        duration = getattr(data, "duration_ms", None)
        if duration is not None:
            fields["duration_ms"] = round(float(duration), 1)
        error = getattr(data, "error", None)  # a step failure's exception and stack trace
        if error is not None and hasattr(error, "to_string"):
            fields["error"] = redact(error.to_string())
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record with the fields named in the module docstring."""

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None)
        message = meta.get("orig_message") if isinstance(meta, Mapping) else None
        payload: dict[str, Any] = {
            "@timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(message if message is not None else record.getMessage()),
            "service": getattr(record, "service", None) or _service,
        }
        if isinstance(meta, Mapping):
            payload.update(_dagster_fields(meta))
        for key in ("run_id", "asset", "partition", "event", "duration_ms", *_EXTRA_FIELDS):
            value = getattr(record, key, None)
            if value is not None:
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(
            {k: _plain(v) for k, v in payload.items() if v is not None and v != ""}, default=str
        )


class StderrHandler(logging.StreamHandler):
    """A console handler that writes to whatever ``sys.stderr`` is at the time of the record
    (a test runner or a progress display may swap it after the setup)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        del value  # always the current sys.stderr


class RedactingFormatter(logging.Formatter):
    """The human-readable console format, with the same masking as the JSON lines."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def default_log_dir(settings: Any | None = None) -> Path:
    """The ``log_dir`` setting when set, else ``<dagster_home>/logs`` (next to the instance)."""
    if settings is not None:
        return Path(settings.log_dir or Path(settings.dagster_home) / "logs")
    from crypto_assets.settings import PROJECT_ROOT  # invalid settings: Dagster's own variable

    return Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home") / "logs"


class JsonFileHandler(logging.handlers.WatchedFileHandler):
    """JSON lines in the log folder (created on demand): what a log shipper tails.

    Dagster builds it from ``dagster.yaml`` with no arguments, so it finds the configured secret
    values itself. Dagster's own events (step start / success / failure, materializations) are
    logged at DEBUG; they pass whatever ``level`` says, so every step is traceable while DEBUG
    chatter stays out. A watched file, so ``logrotate`` can rotate it under running processes."""

    def __init__(
        self,
        filename: str = LOG_FILE,
        level: int | str = logging.INFO,
        log_dir: str | Path | None = None,
        settings: Any | None = None,
    ) -> None:
        settings = settings if settings is not None else _settings_or_none()
        folder = Path(log_dir) if log_dir else default_log_dir(settings)
        path = folder / filename  # an absolute filename (a run's own instance) replaces the folder
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, encoding="utf-8")
        self.setLevel(level)
        self.setFormatter(JsonFormatter())
        register_secret_values(configured_secret_values(settings))

    def setLevel(self, level: int | str) -> None:
        """Keep the handler itself at DEBUG (Dagster's events arrive at DEBUG) and apply the
        requested level in :meth:`filter`; ``dagster.yaml``'s ``level`` arrives through here."""
        self.min_level = logging.getLevelName(level) if isinstance(level, str) else level
        super().setLevel(logging.DEBUG)

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", None)
        is_event = isinstance(meta, Mapping) and meta.get("dagster_event") is not None
        if not ((is_event or record.levelno >= self.min_level) and super().filter(record)):
            return False
        # One line per record and file: in a CLI run the record reaches Dagster's handler (the
        # logger is managed by the run) and then the CLI's root handler, both on this file.
        written = record.__dict__.setdefault("_json_files", set())
        if self.baseFilename in written:
            return False
        written.add(self.baseFilename)
        return True


_OWN_HANDLER = "_crypto_assets_handler"


def setup_logging(
    service: str,
    settings: Any | None = None,
    *,
    console_level: int | str = logging.WARNING,
    stream: Any = None,
) -> Path:
    """The one logger setup for the CLI, the dashboard and scripts: JSON lines to the log folder,
    a short human format on stderr, secrets masked in both. Safe to call again (replaces its own
    handlers). Returns the JSON log file path."""
    global _service
    _service = service
    settings = settings if settings is not None else _settings_or_none()
    level = getattr(settings, "log_level", "INFO")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OWN_HANDLER, False)]:
        root.removeHandler(handler)
        handler.close()
    file_handler = JsonFileHandler(level=logging.DEBUG, settings=settings)  # loggers decide
    console = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    console.setLevel(console_level)
    console.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    for handler in (file_handler, console):
        setattr(handler, _OWN_HANDLER, True)
        root.addHandler(handler)
    root.setLevel(logging.WARNING)  # libraries: warnings and errors only
    logging.getLogger("crypto_assets").setLevel(level)
    return Path(file_handler.baseFilename)
