"""Predictions meet what happened: the append-only outcome log.

A prediction is made from the latest candle of its day (``as_of`` = that candle's close time), so
it is judged by that candle's stored label: the realised NET forward return ``fwd_ret_<h>`` of
the candle opened at ``as_of - timeframe``, known at ``label_end_<h>``. An outcome is recorded
once the label is known at ``known_by`` (never earlier: a replay sees only what was public).

Outcomes are never edited. When a candle behind a label is revised (a late or corrected candle,
a changed cost), the label changes and the log gains a NEW row for the same prediction with the
next ``revision`` number and a reason; consumers take the latest revision as of their day
(``latest_outcomes``), so the history of what was believed when stays readable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_assets.frames import pin_dtypes, utc_columns
from crypto_assets.horizons import HORIZONS, TIMEFRAMES

PREDICTION_KEY = ["day", "symbol", "horizon", "model_version"]
PREDICTION_COLUMNS = [*PREDICTION_KEY, "as_of", "expected_return", "probability"]
OUTCOME_COLUMNS = [
    "recorded_day",  # the daily partition that recorded the row
    *PREDICTION_KEY,
    "as_of",
    "candle_date",
    "timeframe",
    "expected_return",
    "probability",
    "realised_return",  # NaN only in a "label withdrawn" row
    "label_end",
    "revision",
    "reason",
    "recorded_at",
]
TIME_COLUMNS = ("recorded_day", "day", "as_of", "candle_date", "label_end", "recorded_at")
TEXT_COLUMNS = ("symbol", "horizon", "model_version", "timeframe", "reason")
# Two float64 labels from the same candles are bit-identical; this only absorbs storage round
# trips, far below any real revision (a price tick moves a return by >= 1e-8).
REVISION_TOLERANCE = 1e-12


def typed_outcomes(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with exactly ``OUTCOME_COLUMNS`` and fixed dtypes (also when empty), so the first
    write never types a storage column as NULL."""
    out = pin_dtypes(frame, OUTCOME_COLUMNS, times=TIME_COLUMNS, texts=TEXT_COLUMNS)
    out["revision"] = out["revision"].astype("int64")
    return out.reset_index(drop=True)


def _checked_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lack columns {missing}; have {list(predictions.columns)}")
    frame = predictions[PREDICTION_COLUMNS].copy()
    unknown = sorted(set(frame["horizon"].dropna().astype(str)) - set(HORIZONS))
    if unknown or frame["horizon"].isna().any():
        raise ValueError(f"predictions with unknown horizon(s) {unknown or ['<null>']}")
    utc_columns(frame, "day", "as_of")
    for column in ("day", "as_of"):
        if frame[column].isna().any():
            raise ValueError(f"{int(frame[column].isna().sum())} predictions have no {column}")
    frame["model_version"] = frame["model_version"].astype("string")
    duplicated = frame.duplicated(PREDICTION_KEY, keep=False)
    if duplicated.any():
        sample = frame.loc[duplicated, PREDICTION_KEY].head(3).to_dict("records")
        raise ValueError(f"{int(duplicated.sum())} predictions share a key, e.g. {sample}")
    frame["timeframe"] = frame["horizon"].map({h: v.timeframe for h, v in HORIZONS.items()})
    frame["candle_date"] = frame["as_of"] - pd.to_timedelta(frame["timeframe"].map(TIMEFRAMES))
    return frame


LONG_LABEL_COLUMNS = [
    "symbol",
    "candle_date",
    "timeframe",
    "horizon",
    "realised_return",
    "label_end",
]


def long_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """The stored wide labels as one row per candle and horizon:
    symbol, candle_date, timeframe, horizon, realised_return, label_end."""
    parts = []
    for name, horizon in HORIZONS.items():
        ret, end = f"fwd_ret_{name}", f"label_end_{name}"
        if labels.empty or ret not in labels.columns or end not in labels.columns:
            continue
        rows = labels[labels["timeframe"] == horizon.timeframe]
        parts.append(
            rows[["symbol", "date", ret, end]]
            .rename(columns={"date": "candle_date", ret: "realised_return", end: "label_end"})
            .assign(timeframe=horizon.timeframe, horizon=name)
        )
    frame = pin_dtypes(
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(),
        LONG_LABEL_COLUMNS,
        times=("candle_date", "label_end"),
        texts=("symbol", "timeframe", "horizon"),
    )
    duplicated = frame.duplicated(["symbol", "candle_date", "timeframe", "horizon"])
    if duplicated.any():
        raise ValueError(f"labels hold {int(duplicated.sum())} duplicate candle rows")
    return frame


def judge(predictions: pd.DataFrame, labels: pd.DataFrame, known_by: pd.Timestamp) -> pd.DataFrame:
    """Each prediction with its candle's label as known at ``known_by``.

    Adds ``realised_return``, ``label_end``, ``has_label_row`` (the labels hold the candle) and
    ``known`` (the horizon has passed by ``known_by`` and the return exists).
    """
    known_by = pd.Timestamp(known_by)
    if known_by.tzinfo is None:
        raise ValueError("known_by must be timezone-aware (UTC)")
    frame = _checked_predictions(predictions)
    if len(labels):  # only the candles predictions were made from (one a coin and day)
        dates = pd.to_datetime(labels["date"], utc=True)
        labels = labels[dates.isin(frame["candle_date"].unique())]
    long = long_labels(labels).assign(has_label_row=True)
    frame["symbol"] = frame["symbol"].astype("string")
    judged = frame.merge(
        long, on=["symbol", "candle_date", "timeframe", "horizon"], how="left", validate="m:1"
    )
    judged["has_label_row"] = judged["has_label_row"].fillna(False).astype(bool)
    passed = judged["label_end"].notna() & (judged["label_end"] <= known_by)
    judged["known"] = passed & np.isfinite(judged["realised_return"].astype(float))
    return judged


def latest_outcomes(outcomes: pd.DataFrame, as_of_day: pd.Timestamp | None = None) -> pd.DataFrame:
    """The newest revision of each prediction's outcome recorded on or before ``as_of_day``
    (all of them when None); a withdrawn label's prediction drops out (its latest row is NaN)."""
    if outcomes.empty:
        return typed_outcomes(outcomes)
    frame = typed_outcomes(outcomes)
    if as_of_day is not None:
        frame = frame[frame["recorded_day"] <= pd.Timestamp(as_of_day)]
    frame = frame.sort_values([*PREDICTION_KEY, "revision"], kind="stable")
    latest = frame.drop_duplicates(PREDICTION_KEY, keep="last")
    return latest[np.isfinite(latest["realised_return"])].reset_index(drop=True)


def _newest_recorded(recorded: pd.DataFrame) -> pd.DataFrame:
    if recorded.empty:
        return pd.DataFrame(columns=[*PREDICTION_KEY, "revision", "previous_return"])
    frame = typed_outcomes(recorded).sort_values([*PREDICTION_KEY, "revision"], kind="stable")
    newest = frame.drop_duplicates(PREDICTION_KEY, keep="last")
    return newest[[*PREDICTION_KEY, "revision", "realised_return"]].rename(
        columns={"realised_return": "previous_return"}
    )


def _changed(previous: pd.Series, current: pd.Series) -> pd.Series:
    both = previous.notna() & current.notna()
    moved = (previous - current).abs() > REVISION_TOLERANCE
    return (both & moved) | (previous.isna() != current.isna())


def record_outcomes(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    recorded: pd.DataFrame,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    recorded_at: pd.Timestamp,
) -> pd.DataFrame:
    """The NEW outcome rows for the days [start, end): first outcomes of predictions whose
    horizon passed by ``end``, and revisions where a stored label no longer matches the newest
    recorded outcome (including a label withdrawn from, or restored to, the stored labels).

    A first outcome is recorded on the day its label became known (``recorded_day``; the
    range's first day when it was known earlier but never recorded); a revision on the range's
    first day, when it is seen. ``recorded`` is the outcome log so far: nothing in it is changed
    or repeated, so a second run on the same inputs adds nothing.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if predictions.empty:  # no model in use yet, or no prediction stored in the look-back
        return typed_outcomes(pd.DataFrame())
    judged = judge(predictions, labels, end)
    newest = _newest_recorded(recorded)
    judged = judged.merge(newest, on=PREDICTION_KEY, how="left", validate="1:1")
    seen = judged["revision"].notna()
    current = judged["realised_return"].where(judged["known"])
    was_known = seen & judged["previous_return"].notna()
    missing = ~np.isfinite(judged["realised_return"].astype(float))
    withdrawn = was_known & judged["has_label_row"] & missing
    first = ~seen & judged["known"]
    revised = seen & judged["known"] & _changed(judged["previous_return"], current)
    rows = judged[first | revised | withdrawn].copy()
    if rows.empty:
        return typed_outcomes(pd.DataFrame())
    rows["revision"] = pd.to_numeric(rows["revision"]).fillna(0).astype("int64") + 1
    rows["realised_return"] = current[rows.index]
    rows["reason"] = [_reason(row) for row in rows.itertuples(index=False)]
    known_on = (rows["label_end"] - pd.Timedelta(1, "ns")).dt.floor("D")
    first_rows = rows["revision"] == 1
    rows["recorded_day"] = start
    rows.loc[first_rows, "recorded_day"] = known_on[first_rows].clip(lower=start)
    rows["recorded_at"] = pd.Timestamp(recorded_at)
    return typed_outcomes(rows)


def _reason(row: object) -> str:
    previous, current = row.previous_return, row.realised_return
    if row.revision == 1:
        return f"horizon passed: label known at {pd.Timestamp(row.label_end).isoformat()}"
    if pd.isna(current):
        return (
            f"label withdrawn: the stored labels no longer hold a return for this candle "
            f"(was {previous:+.6f})"
        )
    if pd.isna(previous):
        return f"label restored: {current:+.6f}"
    return f"label revised: {previous:+.6f} -> {current:+.6f} (a candle behind it changed)"
