"""The users' verdicts on signals, stored by the dashboard in its OWN SQLite file.

A person marks a prediction good or bad (with an optional note); the verdict is keyed by the
prediction it judges, ``(day, symbol, horizon, model_version)``, so it stays attached to that
prediction whatever is predicted later. The file lives under the data directory
(``Settings.resolved_feedback_path``), never inside the pipeline's DuckDB: the dashboard only
reads the pipeline's published copy, and a dashboard write can never block or be lost to a
pipeline run. The ``user_verdicts`` asset copies this store into ``crypto.user_verdicts`` for
the feedback loop.

Durability: every verdict is one committed transaction in WAL mode with ``synchronous=FULL``
(fsync at commit), so an acknowledged verdict survives a crash or a restart. The store is
append-only: a changed mind is a new row, the latest per author counts (the feedback loop's
rule), and history stays readable.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from crypto_assets.feedback.outcomes import PREDICTION_KEY
from crypto_assets.feedback.verdicts import MAX_NOTE_CHARS, SYMBOL, VERDICT_COLUMNS
from crypto_assets.horizons import HORIZONS

# the feedback loop's columns for crypto.user_verdicts: one definition, in crypto_assets.feedback
__all__ = ["MAX_NOTE_CHARS", "PREDICTION_KEY", "SYMBOL", "VERDICT_COLUMNS"]
VERDICTS = ("good", "bad")
MAX_AUTHOR_CHARS = 80
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
VERSION = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

SCHEMA = """
create table if not exists verdicts (
    id integer primary key autoincrement,
    day text not null,
    symbol text not null,
    horizon text not null,
    model_version text not null,
    verdict text not null check (verdict in ('good', 'bad')),
    note text not null default '',
    author text not null,
    created_at text not null
);
create index if not exists verdicts_prediction on verdicts (day, symbol, horizon, model_version);
"""


class VerdictError(ValueError):
    """A verdict that cannot be stored, with the reason in one line (nothing was stored)."""


@dataclass(frozen=True)
class Verdict:
    day: str  # YYYY-MM-DD, the prediction's daily partition
    symbol: str
    horizon: str
    model_version: str
    verdict: str  # "good" | "bad"
    note: str
    author: str
    created_at: str  # ISO UTC time of the mark


def make_verdict(
    day: str,
    symbol: str,
    horizon: str,
    model_version: str,
    verdict: str,
    note: str = "",
    author: str = "",
    now: pd.Timestamp | None = None,
) -> Verdict:
    """A validated verdict, or ``VerdictError`` naming the first bad field."""
    if not DAY.match(day or ""):
        raise VerdictError("day must be a date YYYY-MM-DD")
    try:
        pd.Timestamp(day)
    except ValueError as exc:
        raise VerdictError(f"day {day!r} is not a calendar date") from exc
    if not SYMBOL.match(symbol or ""):
        raise VerdictError("symbol must be a market symbol like BTC/USD")
    if horizon not in HORIZONS:
        raise VerdictError(f"horizon must be one of {', '.join(HORIZONS)}")
    if not VERSION.match(model_version or ""):
        raise VerdictError("model_version must be 1-40 letters, digits, '.', '_' or '-'")
    verdict = (verdict or "").strip().lower()
    if verdict not in VERDICTS:
        raise VerdictError("verdict must be 'good' or 'bad'")
    note, author = (note or "").strip(), (author or "").strip() or "anonymous"
    if len(note) > MAX_NOTE_CHARS:
        raise VerdictError(f"note is {len(note)} characters; at most {MAX_NOTE_CHARS}")
    if len(author) > MAX_AUTHOR_CHARS:
        raise VerdictError(f"author is {len(author)} characters; at most {MAX_AUTHOR_CHARS}")
    if _CONTROL.search(note) or _CONTROL.search(author):
        raise VerdictError("note and author may not contain control characters")
    moment = (now or pd.Timestamp.now(tz="UTC")).tz_convert("UTC")
    return Verdict(day, symbol, horizon, model_version, verdict, note, author, moment.isoformat())


class VerdictStore:
    """The SQLite file of verdicts: ``add`` (one durable transaction) and reads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10.0)
        try:
            conn.execute("pragma journal_mode=wal")
            conn.execute("pragma synchronous=full")
            conn.executescript(SCHEMA)
            yield conn
        finally:
            conn.close()

    def add(self, verdict: Verdict) -> int:
        """Store one verdict (committed and synced before this returns); its row id."""
        row = asdict(verdict)
        with self._connect() as conn, conn:
            cursor = conn.execute(
                f"insert into verdicts ({', '.join(VERDICT_COLUMNS)}) "
                f"values ({', '.join('?' for _ in VERDICT_COLUMNS)})",
                [row[c] for c in VERDICT_COLUMNS],
            )
            return int(cursor.lastrowid or 0)

    def read(self, where: str = "", params: tuple = ()) -> pd.DataFrame:
        """Stored verdicts (oldest first), ``day`` and ``created_at`` as UTC times."""
        if not self.path.exists():
            return _typed(pd.DataFrame(columns=VERDICT_COLUMNS))
        with self._connect() as conn:
            sql = f"select {', '.join(VERDICT_COLUMNS)} from verdicts"
            frame = pd.read_sql_query(
                sql + (f" where {where}" if where else "") + " order by id", conn, params=params
            )
        return _typed(frame)

    def for_symbol(self, symbol: str) -> pd.DataFrame:
        return self.read("symbol = ?", (symbol,))

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            return int(conn.execute("select count(*) from verdicts").fetchone()[0])


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The table shape of ``crypto.user_verdicts`` (fixed dtypes, also when empty)."""
    out = frame.reindex(columns=VERDICT_COLUMNS)
    for column in ("day", "created_at"):
        out[column] = pd.to_datetime(out[column], utc=True).astype("datetime64[ns, UTC]")
    for column in ("symbol", "horizon", "model_version", "verdict", "note", "author"):
        out[column] = out[column].astype("string")
    return out.reset_index(drop=True)
