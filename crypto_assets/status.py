"""What the stored assets hold right now: the run summary and ``crypto-assets status``."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from crypto_assets.defs.storage import SCHEMA
from crypto_assets.horizons import TIMEFRAMES
from crypto_assets.settings import Settings

STATUS_TABLES = [
    "kraken_markets",
    "ohlcv_hourly",
    "ohlcv_daily",
    "clean_ohlcv",
    "data_quality",
    "technical_features",
    "feature_table",
    "labels",
    "predictions",
    "top_coins",
    "text_sentiment",
]


def snapshot_days(
    frames: dict[str, pd.DataFrame], history_start: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day worth materializing: the last day is one that at least 95 % of the
    snapshot's coins cover completely (files recorded at different hours end unevenly)."""
    timeframe = "1h" if "1h" in frames else "1d"
    frame = frames[timeframe]
    last_open = frame.groupby("symbol")["date"].max()
    complete_through = (last_open + TIMEFRAMES[timeframe]).dt.floor("D") - pd.Timedelta(days=1)
    last = complete_through.quantile(0.05, interpolation="lower")
    first = max(frame["date"].min().floor("D"), history_start)
    return pd.Timestamp(first), pd.Timestamp(last)


def _connect(settings: Settings) -> duckdb.DuckDBPyConnection | None:
    path = settings.resolved_duckdb_path
    if not path.exists():
        return None
    return duckdb.connect(str(path), read_only=True)


def _tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute(
        "select table_name from information_schema.tables where table_schema = ?", [SCHEMA]
    ).fetchall()
    return {r[0] for r in rows}


def market_summary(settings: Settings) -> dict[str, Any]:
    """Universe size and candle coverage per timeframe, from the stored assets."""
    summary: dict[str, Any] = {
        "source": "live exchange"
        if settings.source == "live"
        else f"snapshot {settings.snapshot_dir}",
        "day": "-",
        "markets": 0,
        "universe": 0,
        "coverage": [],
    }
    conn = _connect(settings)
    if conn is None:
        return summary
    with conn:
        tables = _tables(conn)
        if "kraken_markets" in tables:
            day, markets, universe = conn.execute(
                f"select day, count(*), sum(in_universe::int) from {SCHEMA}.kraken_markets "
                f"where day = (select max(day) from {SCHEMA}.kraken_markets) group by day"
            ).fetchone()
            summary.update(day=str(pd.Timestamp(day).date()), markets=markets, universe=universe)
        if "clean_ohlcv" in tables:
            coverage = conn.execute(
                "select timeframe, count(distinct symbol) coins, count(*) candles, min(date) first,"
                f" max(date) last from {SCHEMA}.clean_ohlcv group by timeframe order by timeframe"
            ).df()
            excluded: dict[str, int] = {}
            if "data_quality" in tables:
                q = conn.execute(
                    f"select timeframe, count(*) n from {SCHEMA}.data_quality where excluded and "
                    f"day = (select max(day) from {SCHEMA}.data_quality) group by timeframe"
                ).fetchall()
                excluded = {tf: n for tf, n in q}
            for row in coverage.itertuples():
                summary["coverage"].append(
                    {
                        "timeframe": row.timeframe,
                        "coins": row.coins,
                        "candles": row.candles,
                        "first": str(row.first),
                        "last": str(row.last),
                        "excluded": excluded.get(row.timeframe, 0),
                    }
                )
    return summary


def asset_status(settings: Settings) -> list[dict[str, Any]]:
    """Freshness (newest row, its age) and size of every stored asset; missing ones say so."""
    conn = _connect(settings)
    now = pd.Timestamp.now(tz="UTC")
    rows: list[dict[str, Any]] = []
    tables = _tables(conn) if conn is not None else set()
    for table in STATUS_TABLES:
        if table not in tables:
            rows.append({"asset": table, "rows": 0, "note": "not materialized yet"})
            continue
        columns = {
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ?",
                [SCHEMA, table],
            ).fetchall()
        }
        time_col = next((c for c in ("date", "day", "as_of", "time") if c in columns), None)
        count = conn.execute(f'select count(*) from {SCHEMA}."{table}"').fetchone()[0]
        row: dict[str, Any] = {"asset": table, "rows": count, "note": ""}
        if "symbol" in columns:
            row["coins"] = conn.execute(
                f'select count(distinct symbol) from {SCHEMA}."{table}"'
            ).fetchone()[0]
        if time_col:
            newest = conn.execute(f'select max("{time_col}") from {SCHEMA}."{table}"').fetchone()[0]
            if newest is not None:
                newest_ts = pd.Timestamp(newest)
                newest_ts = newest_ts.tz_localize("UTC") if newest_ts.tzinfo is None else newest_ts
                row["newest"] = str(newest_ts)
                row["age_hours"] = round((now - newest_ts) / pd.Timedelta(hours=1), 1)
        rows.append(row)
    if conn is not None:
        conn.close()
    return rows


def latest_top_coins(settings: Settings) -> tuple[str, pd.DataFrame, str]:
    """(day, passing coins, the sentence saying why the list is what it is) for the newest day
    with predictions; the same selection function as the ``top_coins`` asset."""
    from crypto_assets.ml.selection import TOP_COLUMNS, select_top_coins

    empty = pd.DataFrame(columns=TOP_COLUMNS)
    conn = _connect(settings)
    if conn is None:
        return "-", empty, "nothing materialized yet: run `make demo` or `make run`"
    with conn:
        if "predictions" not in _tables(conn):
            return (
                "-",
                empty,
                (
                    "no predictions yet: no model in use for any horizon (models need at least "
                    "60 days of clean history, 90 for 30d; `crypto-assets backfill --kraken-csv` "
                    "loads Kraken's archive)"
                ),
            )
        frame = conn.execute(
            f"select * from {SCHEMA}.predictions where day = "
            f"(select max(day) from {SCHEMA}.predictions)"
        ).df()
    if frame.empty:
        return "-", empty, "no predictions stored: no model in use for any horizon yet"
    for column in ("day", "as_of"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    table, reason = select_top_coins(frame, settings.confidence_threshold)
    return str(frame["day"].max().date()), table, reason
