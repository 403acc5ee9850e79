"""The status page's figures, from the published read copy: freshness and completeness per
asset (``crypto_assets.status.asset_rows``, the same rows as ``crypto-assets status``), the
source status rows every source stores, model health per horizon (the feedback loop's
``model_health`` table once it is published) and the series behind the plots.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from crypto_assets import status, storage
from crypto_assets.dashboard.data import outcomes
from crypto_assets.frames import utc, utc_columns
from crypto_assets.horizons import HORIZON_NAMES, TIMEFRAMES
from crypto_assets.ml import metrics

STATUS_COLUMNS = {"source", "status", "reason", "as_of"}  # crypto_assets.sources.STATUS_COLUMNS
NOT_TIME_SERIES = {"user_verdicts"}  # keyed by the day judged, not by when it was written
HEALTH_SHOWN = ["status", "reason", "n_outcomes", "rank_ic", "hit_rate", "ece", "brier"]


def reference_time(conn: duckdb.DuckDBPyConnection, profile: str) -> pd.Timestamp:
    """What "now" is for freshness: the wall clock live; in the demo, the end of the newest
    stored candle (a recorded snapshot's present), so a replay of 2024 is not "stale" in 2026
    but an asset left behind by the replay is."""
    now = pd.Timestamp.now(tz="UTC")
    if profile != "demo" or not storage.table_exists(conn, "clean_ohlcv"):
        return now
    rows = conn.execute(
        f"select timeframe, max(date) from {storage.SCHEMA}.clean_ohlcv group by timeframe"
    ).fetchall()
    ends = [utc(d) + TIMEFRAMES[tf] for tf, d in rows if d is not None and tf in TIMEFRAMES]
    return max(ends) if ends else now


def freshness(
    conn: duckdb.DuckDBPyConnection, assets: list[str], reference: pd.Timestamp, stale_hours: float
) -> list[dict[str, Any]]:
    """``status.asset_rows`` plus a ``state``: missing, empty, stale (newest row older than
    ``stale_hours`` before ``reference``), fresh, or "-" when the asset has no time column."""
    rows = status.asset_rows(conn, assets, reference)
    for row in rows:
        age = row.get("age_hours")
        if row.get("note") == "not materialized yet":
            row["state"] = "missing"
        elif row.get("last_rows") == 0 and not row.get("rows"):
            row["state"] = "empty"
        elif age is None or row["asset"] in NOT_TIME_SERIES:
            row["state"] = "-"
        else:
            row["state"] = "stale" if age > stale_hours else "fresh"
    return rows


def source_rows(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The newest status rows of every published table shaped like the house's source status
    (source, status, reason, as_of ...): exchange books today, text and on-chain sources as
    their assets land."""
    tables = conn.execute(
        "select table_name, list(column_name) from information_schema.columns "
        "where table_schema = ? group by table_name order by table_name",
        [storage.SCHEMA],
    ).fetchall()
    parts = []
    for table, columns in tables:
        if not set(columns) >= STATUS_COLUMNS:
            continue
        newest = "day" if "day" in columns else "as_of"
        frame = conn.execute(
            f'select * from {storage.SCHEMA}."{table}" where "{newest}" = '
            f'(select max("{newest}") from {storage.SCHEMA}."{table}")'
        ).df()
        keep = [c for c in ("symbol", "source", "status", "reason", "as_of", "rows") if c in frame]
        parts.append(frame[keep].assign(table=table))
    if not parts:
        return pd.DataFrame(columns=["table", "symbol", "source", "status", "reason", "as_of"])
    frame = pd.concat(parts, ignore_index=True)
    return utc_columns(frame, "as_of")


def model_health(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    """The newest ``model_health`` row per horizon, or None while the table is not published."""
    if not storage.table_exists(conn, "model_health"):
        return None
    frame = storage.read_table(conn, "model_health")
    if frame.empty:
        return frame
    frame = utc_columns(frame, "day")
    newest = frame[frame["day"] == frame.groupby("horizon")["day"].transform("max")]
    return newest.drop_duplicates("horizon", keep="last").set_index("horizon")


def _outcomes(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    predictions = storage.read_table(conn, "predictions")
    if predictions.empty:
        return predictions
    labels = storage.read_table(conn, "labels")
    labels = utc_columns(labels, "date") if len(labels) else labels
    return outcomes(utc_columns(predictions, "day", "as_of"), labels)


HEALTH_SOURCE = "model_health (feedback loop)"
OUTCOMES_SOURCE = "published predictions with known outcomes"


def _health_curves(health: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The feedback loop's reliability points per horizon, only where it measured some (a
    horizon judged "insufficient" stores an empty curve)."""
    if health is None or not len(health) or "reliability" not in health:
        return {}
    curves = {str(h): pd.DataFrame(json.loads(r or "[]")) for h, r in health["reliability"].items()}
    return {h: c for h, c in curves.items() if len(c)}


def _sources(from_health: list[str], from_outcomes: list[str]) -> str:
    """Which figures a plot's horizons come from, in one line."""
    if not from_health:
        return OUTCOMES_SOURCE
    if not from_outcomes:
        return HEALTH_SOURCE
    return (
        f"{HEALTH_SOURCE} for {', '.join(from_health)}; "
        f"{OUTCOMES_SOURCE} for {', '.join(from_outcomes)}"
    )


def calibration(conn: duckdb.DuckDBPyConnection, health: pd.DataFrame | None) -> dict:
    """Per horizon, reliability points (mean probability, share that went up, n): from the
    feedback loop's ``model_health`` where it measured outcomes, else (not published yet, or a
    horizon it judged on too few outcomes) from the published predictions and their known
    outcomes. Returns {"source": str, "curves": {horizon: DataFrame}}."""
    curves = _health_curves(health)
    from_health = [h for h in HORIZON_NAMES if h in curves]
    missing = [h for h in HORIZON_NAMES if h not in curves]
    from_outcomes = []
    if missing:
        known = _outcomes(conn)
        known = known[known["outcome"] != "pending"] if len(known) else known
        for horizon in missing:
            rows = known[known["horizon"] == horizon] if len(known) else known
            if len(rows):
                up = (rows["realised_return"] > 0).astype(float).to_numpy()
                curves[horizon] = metrics.reliability_curve(rows["probability"].to_numpy(), up)
                from_outcomes.append(horizon)
    ordered = {h: curves[h] for h in HORIZON_NAMES if h in curves}
    return {"source": _sources(from_health, from_outcomes), "curves": ordered}


def rolling_ic(conn: duckdb.DuckDBPyConnection, window: int = 7) -> dict[str, pd.Series]:
    """Per horizon: the feedback loop's rank IC per day where ``model_health`` measured one;
    else the cross-sectional rank IC of each prediction day (expected vs realised return),
    averaged over a rolling ``window`` of days; days without known outcomes skipped."""
    health = (
        storage.read_table(conn, "model_health")
        if storage.table_exists(conn, "model_health")
        else pd.DataFrame()
    )
    series: dict[str, pd.Series] = {}
    if len(health) and "rank_ic" in health:
        health = utc_columns(health, "day")
        for h, rows in health.groupby("horizon"):
            ic = rows.set_index("day")["rank_ic"].dropna().sort_index()
            if len(ic):
                series[str(h)] = ic
    missing = [h for h in HORIZON_NAMES if h not in series]
    known = _outcomes(conn) if missing else pd.DataFrame()
    for horizon in missing if len(known) else []:
        rows = known[(known["horizon"] == horizon) & known["realised_return"].notna()]
        if rows.empty:
            continue
        ic = metrics.rank_ic_series(rows["expected_return"], rows["realised_return"], rows["day"])
        if len(ic):
            series[horizon] = ic.sort_index().rolling(window, min_periods=1).mean()
    return {h: series[h] for h in HORIZON_NAMES if h in series}


def coverage(conn: duckdb.DuckDBPyConnection) -> dict[str, pd.Series]:
    """Coins per day: with a clean daily candle, and with a 30d prediction."""
    out = {}
    if storage.table_exists(conn, "clean_ohlcv"):
        frame = conn.execute(
            f"select date, count(distinct symbol) n from {storage.SCHEMA}.clean_ohlcv "
            "where timeframe = '1d' group by date order by date"
        ).df()
        out["coins with a clean daily candle"] = _series(frame, "date")
    if storage.table_exists(conn, "predictions"):
        frame = conn.execute(
            f"select day, count(distinct symbol) n from {storage.SCHEMA}.predictions "
            "group by day order by day"
        ).df()
        out["coins predicted"] = _series(frame, "day")
    return {k: v for k, v in out.items() if len(v)}


def _series(frame: pd.DataFrame, column: str) -> pd.Series:
    if frame.empty:
        return pd.Series(dtype=float)
    index = pd.to_datetime(frame[column], utc=True)
    return pd.Series(frame["n"].to_numpy(dtype=float), index=index)


def finite(value: Any) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False
