"""Pandera schemas: the contract every candle frame must meet before anything uses it.

One canonical OHLCV layout for all layers: ``symbol`` ("BTC/USD"), ``date`` (candle open time,
UTC), ``open``/``high``/``low``/``close`` (quote currency), ``volume`` (base units).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from crypto_assets.frames import utc_columns
from crypto_assets.horizons import TIMEFRAMES

OHLCV_COLUMNS = ["symbol", "date", "open", "high", "low", "close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close"]


def _aligned(timeframe: str) -> pa.Check:
    step_ns = TIMEFRAMES[timeframe].value
    return pa.Check(
        lambda s: s.astype("int64") % step_ns == 0,
        element_wise=False,
        error=f"candle open time not aligned to {timeframe}",
    )


def ohlcv_schema(timeframe: str, now: pd.Timestamp | None = None) -> pa.DataFrameSchema:
    """Schema for one timeframe; with ``now``, a candle still forming or in the future fails."""
    date_checks = [_aligned(timeframe)]
    if now is not None:
        last_complete_open = pd.Timestamp(now) - TIMEFRAMES[timeframe]
        date_checks.append(
            pa.Check(
                lambda s: s <= last_complete_open,
                error=f"candle not complete at {pd.Timestamp(now).isoformat()} (future/forming)",
            )
        )
    positive = pa.Check.gt(0, error="price must be > 0")
    return pa.DataFrameSchema(
        {
            "symbol": pa.Column(str, pa.Check.str_matches(r"^[^/\s]+/[^/\s]+$"), nullable=False),
            "date": pa.Column(pd.DatetimeTZDtype(tz="UTC"), date_checks, nullable=False),
            "open": pa.Column(float, positive, nullable=False),
            "high": pa.Column(float, positive, nullable=False),
            "low": pa.Column(float, positive, nullable=False),
            "close": pa.Column(float, positive, nullable=False),
            "volume": pa.Column(float, pa.Check.ge(0, error="volume must be >= 0"), nullable=False),
        },
        checks=[
            pa.Check(
                lambda df: df["high"] >= df[["open", "close"]].max(axis=1),
                error="high < max(open, close)",
            ),
            pa.Check(
                lambda df: df["low"] <= df[["open", "close"]].min(axis=1),
                error="low > min(open, close)",
            ),
        ],
        unique=["symbol", "date"],
        report_duplicates="all",
        strict=False,
        coerce=False,
        name=f"ohlcv_{timeframe}",
    )


def validation_failures(
    frame: pd.DataFrame, timeframe: str, now: pd.Timestamp | None = None
) -> pd.DataFrame:
    """All schema violations as rows (check, column, index, failure_case); empty when valid."""
    try:
        ohlcv_schema(timeframe, now).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return cases[["check", "column", "index", "failure_case"]].reset_index(drop=True)
    return pd.DataFrame(columns=["check", "column", "index", "failure_case"])


def to_canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast a candle frame to the canonical dtypes (UTC ns dates, float64 prices).

    Raises ValueError naming the missing columns rather than guessing them.
    """
    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"candle frame lacks columns {missing}; has {list(frame.columns)}")
    out = frame[OHLCV_COLUMNS].copy()
    out["symbol"] = out["symbol"].astype(str)
    utc_columns(out, "date")
    for column in [*PRICE_COLUMNS, "volume"]:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
