"""Users' verdicts on signals: a person marks a prediction good or bad, with an optional note.

A verdict is tied to the prediction it judges by the prediction key (day, symbol, horizon,
model_version), so it survives later predictions of the same coin. The dashboard writes them;
model health reads them and counts them apart from the market's verdict (the realised return),
because a user's opinion and the outcome are different evidence. Each row is validated here: a
bad row is reported with its reason and kept out, never silently dropped.
"""

from __future__ import annotations

import re
from datetime import datetime

import pandas as pd
from pydantic import BaseModel, Field, ValidationError, field_validator

from crypto_assets.feedback.outcomes import PREDICTION_KEY
from crypto_assets.horizons import HORIZONS

VERDICT_COLUMNS = [*PREDICTION_KEY, "verdict", "note", "author", "created_at"]
MAX_NOTE_CHARS = 1000
SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,19}/[A-Z0-9][A-Z0-9._-]{0,19}$")


class UserVerdict(BaseModel):
    """One user's mark on one prediction (the latest mark of an author on a key counts)."""

    day: datetime
    symbol: str
    horizon: str
    model_version: str = Field(min_length=1, max_length=40)
    verdict: str
    note: str = Field("", max_length=MAX_NOTE_CHARS)
    author: str = Field("anonymous", min_length=1, max_length=80)
    created_at: datetime

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        if not SYMBOL.match(value):
            raise ValueError(f"not a market symbol like BTC/USD: {value[:40]!r}")
        return value

    @field_validator("horizon")
    @classmethod
    def _horizon(cls, value: str) -> str:
        if value not in HORIZONS:
            raise ValueError(f"unknown horizon {value!r}; expected one of {list(HORIZONS)}")
        return value

    @field_validator("verdict")
    @classmethod
    def _verdict(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("good", "bad"):
            raise ValueError(f"verdict must be 'good' or 'bad', got {value[:20]!r}")
        return value

    @field_validator("day", "created_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware (UTC)")
        return value


def validate_verdicts(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(valid verdicts, rejected rows with a ``problem`` column) of a stored verdict table."""
    if frame.empty:
        return pd.DataFrame(columns=VERDICT_COLUMNS), pd.DataFrame(columns=["row", "problem"])
    valid, rejected = [], []
    for index, record in enumerate(frame.to_dict("records")):
        clean = {k: (None if _missing(v) else v) for k, v in record.items()}
        clean = {k: v for k, v in clean.items() if v is not None}
        if "model_version" in clean:
            clean["model_version"] = str(clean["model_version"])
        try:
            valid.append(UserVerdict(**clean).model_dump())
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            rejected.append({"row": index, "problem": problems})
    out = pd.DataFrame(valid, columns=VERDICT_COLUMNS)
    for column in ("day", "created_at"):
        out[column] = pd.to_datetime(out[column], utc=True)
    return out, pd.DataFrame(rejected, columns=["row", "problem"])


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def current_verdicts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Each author's latest verdict per prediction (a changed mind replaces the earlier mark in
    the count; the stored history keeps both)."""
    if verdicts.empty:
        return verdicts
    ordered = verdicts.sort_values("created_at", kind="stable")
    return ordered.drop_duplicates([*PREDICTION_KEY, "author"], keep="last").reset_index(drop=True)
