"""The one helper for each small chore: UTC times, pinned dtypes, finite floats, JSON-safe."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from crypto_assets.frames import finite_floats, json_safe, objects_as_text, pin_dtypes, utc


def test_utc_takes_naive_as_utc_and_converts_aware() -> None:
    assert utc("2024-01-01 10:00") == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    paris = pd.Timestamp("2024-01-01 11:00", tz="Europe/Paris")
    assert utc(paris) == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    assert str(utc(paris).tz) == "UTC"


def test_pin_dtypes_types_even_empty_and_all_null_columns() -> None:
    pinned = pin_dtypes(
        pd.DataFrame({"day": [], "symbol": []}),
        ["day", "symbol", "value"],
        times=("day",),
        texts=("symbol",),
    )
    assert list(pinned.columns) == ["day", "symbol", "value"]
    assert [str(t) for t in pinned.dtypes] == ["datetime64[ns, UTC]", "string", "float64"]
    nulls = pin_dtypes(pd.DataFrame({"value": [None, "1.5"]}), ["value"])
    assert nulls["value"].isna().iloc[0] and nulls["value"].iloc[1] == 1.5


def test_objects_as_text() -> None:
    frame = objects_as_text(pd.DataFrame({"a": [None, None], "b": [1, 2]}))
    assert str(frame["a"].dtype) == "string" and str(frame["b"].dtype) == "int64"


def test_finite_floats_and_json_safe() -> None:
    values = {"ic": np.float64(0.1), "n": 3, "flag": True, "bad": math.nan, "text": "x"}
    assert finite_floats(values) == {"ic": 0.1, "n": 3.0}
    nested = {"a": [np.int64(2), math.inf], "t": pd.Timestamp("2024-01-01", tz="UTC")}
    safe = json_safe(nested)
    assert safe == {"a": [2, None], "t": "2024-01-01T00:00:00+00:00"}
    json.dumps(safe, allow_nan=False)
