"""The one helper for each small chore every layer has: a time in UTC, fixed column dtypes, and
numbers fit for JSON / MLflow metrics. Pure pandas and numpy, importable from anywhere."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

UTC_DTYPE = "datetime64[ns, UTC]"


def utc(value: object) -> pd.Timestamp:
    """A tz-aware UTC timestamp; naive input is taken as UTC, never as local time."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def utc_columns(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """``frame`` with each named column (where present) as ``datetime64[ns, UTC]``, in place:
    DuckDB hands back naive or microsecond times depending on how a column was written."""
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True).astype(UTC_DTYPE)
    return frame


def pin_dtypes(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    times: Collection[str] = (),
    texts: Collection[str] = (),
) -> pd.DataFrame:
    """``frame`` with exactly ``columns``: ``times`` as UTC datetimes, ``texts`` as strings,
    everything else float64 (missing columns are added empty). Why: the first write of a table
    fixes its storage types, and an empty or all-null column must not become NULL-typed."""
    out = frame.reindex(columns=list(columns))
    for column in columns:
        if column in times:
            out[column] = pd.to_datetime(out[column], utc=True).astype(UTC_DTYPE)
        elif column in texts:
            out[column] = out[column].astype("string")
        else:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out


def objects_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns as pandas ``string`` (text stays text in storage even when all None)."""
    for column in frame.select_dtypes("object").columns:
        frame[column] = frame[column].astype("string")
    return frame


def finite_floats(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric entries as floats (bools, text, None, NaN and inf left out): what
    MLflow metrics and Dagster float metadata accept."""
    out: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
            continue
        if np.isfinite(value):
            out[key] = float(value)
    return out


def json_safe(value: Any) -> Any:
    """NaN/inf -> None, timestamps -> ISO strings, numpy scalars -> Python, recursively."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
