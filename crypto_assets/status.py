"""What the stored assets hold right now: the run summary, ``crypto-assets status`` and ``top``.

Read-only, and only ever the PUBLISHED read copy of the profile's database
(``crypto_assets.storage.open_published``: tables and the IO manager's ``materialization_log``
as of the last successful run), never the pipeline's own file, so a reader never waits for or
breaks a running pipeline; and the MLflow registry. With nothing published yet the readers raise
``NothingPublished`` (one line). An asset that last materialized no rows says so
("materialized, 0 rows"), which differs from one that never ran.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from crypto_assets import storage
from crypto_assets.frames import utc, utc_columns
from crypto_assets.horizons import HORIZON_NAMES
from crypto_assets.ml.dataset import STORED_DAYS
from crypto_assets.settings import Settings
from crypto_assets.storage import SCHEMA

STORED_KIND = "duckdb"  # assets written through the DuckDB IO manager carry this kind


def stored_assets(settings: Settings) -> list[str]:
    """The assets stored in DuckDB, in dependency order (read from the definitions)."""
    from crypto_assets.definitions import build_definitions

    defs = build_definitions(settings.model_copy(update={"source": "live"}))
    order = {k: i for i, k in enumerate(defs.resolve_asset_graph().toposorted_asset_keys)}
    specs = [s for s in defs.resolve_all_asset_specs() if STORED_KIND in s.kinds]
    return [s.key.to_user_string() for s in sorted(specs, key=lambda s: order[s.key])]


def _connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The published copy of this profile's results (``NothingPublished`` when there is none;
    ``ProfileMismatch`` when the file holds the other profile's results)."""
    conn = storage.open_published(settings)
    owner = storage.stored_profile(conn)
    if owner not in (None, settings.profile):
        conn.close()
        raise storage.ProfileMismatch(
            f"{storage.published_path(settings)} holds the {owner} profile's results, not the "
            f"{settings.profile} profile's (see CRYPTO_ASSETS_DATA_DIR / CRYPTO_ASSETS_DUCKDB_PATH)"
        )
    return conn


def _connect_if_published(settings: Settings) -> duckdb.DuckDBPyConnection | None:
    """The published copy, or None before any run published one (summaries then say so)."""
    try:
        return _connect(settings)
    except storage.NothingPublished:
        return None


def publication(settings: Settings) -> storage.Publication:
    """When the results a reader sees were published, and by which run (``NothingPublished``
    when no run has finished yet)."""
    return storage.publication_info(settings)


def _tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute(
        "select table_name from information_schema.tables where table_schema = ?", [SCHEMA]
    ).fetchall()
    return {r[0] for r in rows}


def market_summary(settings: Settings) -> dict[str, Any]:
    """Universe size and candle coverage per timeframe, from the published results."""
    summary: dict[str, Any] = {
        "source": "live exchange"
        if settings.source == "live"
        else f"snapshot {settings.snapshot_dir}",
        "day": "-",
        "markets": 0,
        "universe": 0,
        "coverage": [],
    }
    with _connect(settings) as conn:
        tables = _tables(conn)
        if "exchange_markets" in tables:
            day, markets, universe = conn.execute(
                f"select day, count(*), sum(in_universe::int) from {SCHEMA}.exchange_markets "
                f"where day = (select max(day) from {SCHEMA}.exchange_markets) group by day"
            ).fetchone()
            summary.update(day=str(utc(day).date()), markets=markets, universe=universe)
        if "clean_ohlcv" in tables:
            summary["coverage"] = _coverage(conn, "data_quality" in tables)
    return summary


# --- onchain ---------------------------------------------------------------------------------
ONCHAIN_TABLES = (
    "coin_contracts",
    "whale_transfers",
    "exchange_flows",
    "holder_concentration",
    "network_activity",
)


def onchain_summary(settings: Settings) -> dict[str, Any]:
    """On-chain coverage of the newest stored day: which universe coins have on-chain data and
    which do not (``onchain_coverage``), which coins got on-chain features in the feature
    table (any day), and every source's status that day (the tables' status rows)."""
    from crypto_assets.onchain.features import COIN_COLUMNS

    summary: dict[str, Any] = {"day": "-", "covered": [], "uncovered": [], "sources": []}
    summary |= {"feature_coins": [], "feature_rows": 0}
    conn = _connect_if_published(settings)
    if conn is None:
        return summary | {"note": "not materialized yet"}
    with conn:
        tables = _tables(conn)
        if "onchain_coverage" not in tables:
            return summary | {"note": "not materialized yet"}
        coverage = conn.execute(
            f"select coin, has_onchain, day from {SCHEMA}.onchain_coverage "
            f"where day = (select max(day) from {SCHEMA}.onchain_coverage) order by coin"
        ).df()
        if len(coverage):
            summary["day"] = str(utc(coverage["day"].iloc[0]).date())
        have = coverage["has_onchain"].fillna(False).astype(bool)
        summary["covered"] = coverage.loc[have, "coin"].tolist()
        summary["uncovered"] = coverage.loc[~have, "coin"].tolist()
        summary["sources"] = _onchain_sources(conn, tables)
        summary |= _onchain_features(conn, tables, COIN_COLUMNS)
    return summary


def _onchain_sources(conn: duckdb.DuckDBPyConnection, tables: set[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for table in (t for t in ONCHAIN_TABLES if t in tables):
        found = conn.execute(
            f"select distinct source, status, reason from {SCHEMA}.{table} "
            f"where row_kind = 'status' and day = (select max(day) from {SCHEMA}.{table}) "
            "order by source"
        ).fetchall()
        rows += [
            {"table": table, "source": source, "status": status, "reason": reason or ""}
            for source, status, reason in found
        ]
    return rows


def _onchain_features(
    conn: duckdb.DuckDBPyConnection, tables: set[str], columns: list[str]
) -> dict[str, Any]:
    if "feature_table" not in tables:
        return {}
    present = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = 'feature_table'",
            [SCHEMA],
        ).fetchall()
    }
    wanted = [c for c in columns if c in present]
    if not wanted:
        return {}
    any_value = " or ".join(f'"{c}" is not null' for c in wanted)
    found = conn.execute(
        f"select symbol, count(*) from {SCHEMA}.feature_table where {any_value} "
        "group by symbol order by symbol"
    ).fetchall()
    return {"feature_coins": [r[0] for r in found], "feature_rows": sum(r[1] for r in found)}


def _coverage(conn: duckdb.DuckDBPyConnection, with_quality: bool) -> list[dict[str, Any]]:
    coverage = conn.execute(
        "select timeframe, count(distinct symbol) coins, count(*) candles, min(date) first,"
        f" max(date) last from {SCHEMA}.clean_ohlcv group by timeframe order by timeframe"
    ).df()
    excluded: dict[str, int] = {}
    if with_quality:
        q = conn.execute(
            f"select timeframe, count(*) n from {SCHEMA}.data_quality where excluded and "
            f"day = (select max(day) from {SCHEMA}.data_quality) group by timeframe"
        ).fetchall()
        excluded = {tf: n for tf, n in q}
    return [
        {
            "timeframe": row.timeframe,
            "coins": row.coins,
            "candles": row.candles,
            "first": str(row.first),
            "last": str(row.last),
            "excluded": excluded.get(row.timeframe, 0),
        }
        for row in coverage.itertuples()
    ]


def _table_row(conn: duckdb.DuckDBPyConnection, table: str, now: pd.Timestamp) -> dict[str, Any]:
    columns = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [SCHEMA, table],
        ).fetchall()
    }
    time_col = next((c for c in ("date", "day", "as_of", "time") if c in columns), None)
    name = f'{SCHEMA}."{table}"'
    row: dict[str, Any] = {"rows": conn.execute(f"select count(*) from {name}").fetchone()[0]}
    if "symbol" in columns:
        row["coins"] = conn.execute(f"select count(distinct symbol) from {name}").fetchone()[0]
    elif "coin" in columns:  # on-chain tables
        row["coins"] = conn.execute(f"select count(distinct coin) from {name}").fetchone()[0]
    if "row_kind" in columns:  # on-chain tables: data rows, and one status row per source/day
        kinds = dict(conn.execute(f"select row_kind, count(*) from {name} group by 1").fetchall())
        row["rows"], row["status_rows"] = kinds.get("data", 0), kinds.get("status", 0)
    if time_col:
        newest = conn.execute(f'select max("{time_col}") from {name}').fetchone()[0]
        if newest is not None:
            row["newest"] = str(utc(newest))
            row["age_hours"] = round((now - utc(newest)) / pd.Timedelta(hours=1), 1)
    return row


def asset_status(settings: Settings) -> list[dict[str, Any]]:
    """Per stored asset: rows, coins, newest row and its age, the last materialization (with
    its row count), and a note: "not materialized yet" only when it never ran."""
    with _connect(settings) as conn:
        return asset_rows(conn, stored_assets(settings), pd.Timestamp.now(tz="UTC"))


def asset_rows(
    conn: duckdb.DuckDBPyConnection | None, assets: list[str], now: pd.Timestamp
) -> list[dict[str, Any]]:
    """``asset_status`` on any connection (the published read copy the CLI and the dashboard
    read), for the given assets, ages counted to ``now``."""
    tables = _tables(conn) if conn is not None else set()
    log = storage.latest_materializations(conn) if conn is not None else {}
    rows: list[dict[str, Any]] = []
    for asset in assets:
        last = log.get(asset)
        row: dict[str, Any] = {"asset": asset, "rows": 0, "note": ""}
        if last is not None:
            row["last_materialized"] = str(last["materialized_at"])[:19]
            row["last_partition"] = last["partition"]
            row["last_rows"] = int(last["rows"])
        if asset in tables:
            row |= _table_row(conn, asset, now)
        if last is not None and last["rows"] == 0:
            row["note"] = f"materialized, 0 rows ({last['partition']})"
        elif asset not in tables and last is None:
            row["note"] = "not materialized yet"
        rows.append(row)
    return rows


def model_status(settings: Settings) -> list[dict[str, Any]]:
    """Per horizon: the registered signal model, the version in use (alias), the newest
    version, how many exist, and the in-use version's walk-forward rank IC and ECE (and, for a
    model trained with older history, the same on the stored days alone)."""
    from crypto_assets.resources.settings import PipelineSettings

    names = {
        h: PipelineSettings.from_settings(settings).signal_model_name(h) for h in HORIZON_NAMES
    }
    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///") and not _exists(uri.removeprefix("sqlite:///")):
        return [{"horizon": h, "model": n, "note": "no MLflow store yet"} for h, n in names.items()]
    from mlflow.tracking import MlflowClient

    from crypto_assets.ml import registry

    registry.configure_tracking(uri, settings.mlflow_artifact_root)
    client = MlflowClient()
    return [_model_row(client, registry, h, name) for h, name in names.items()]


def _exists(path: str) -> bool:
    from pathlib import Path

    return Path(path).exists()


def _model_row(client, registry, horizon: str, name: str) -> dict[str, Any]:
    versions = client.search_model_versions(f"name = '{name}'")
    row: dict[str, Any] = {"horizon": horizon, "model": name, "versions": len(versions)}
    if not versions:
        return row | {"note": "no model registered yet"}
    row["latest"] = str(max(int(v.version) for v in versions))
    in_use = registry.champion_version(name)
    row["in_use"] = in_use
    if in_use is not None:
        run_id = next(v.run_id for v in versions if str(v.version) == in_use)
        metrics = client.get_run(run_id).data.metrics if run_id else {}
        row["rank_ic"] = _rounded(metrics.get("rank_ic_mean"))
        row["ece"] = _rounded(metrics.get("ece"))
        if f"{STORED_DAYS}ece" in metrics:  # judged over older history too: the stored days
            row["stored_rank_ic"] = _rounded(metrics.get(f"{STORED_DAYS}rank_ic_mean"))
            row["stored_ece"] = _rounded(metrics[f"{STORED_DAYS}ece"])
    return row


def _rounded(value: float | None) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 4)


def latest_predictions(settings: Settings) -> tuple[str, pd.DataFrame, str]:
    """(day, that day's published predictions, '' or why there are none) for the newest day;
    ``NothingPublished`` when no run has published results yet."""
    with _connect(settings) as conn:
        if "predictions" not in _tables(conn):
            return (
                "-",
                pd.DataFrame(),
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
        return "-", frame, "no predictions stored: no model in use for any horizon yet"
    frame = utc_columns(frame, "day", "as_of")
    return str(frame["day"].max().date()), frame, ""


def latest_top_coins(settings: Settings) -> tuple[str, pd.DataFrame, str]:
    """(day, passing coins, the sentence saying why the list is what it is) for the newest day
    with predictions; the same selection function as the ``top_coins`` asset."""
    from crypto_assets.ml.selection import TOP_COLUMNS, select_top_coins

    day, frame, missing = latest_predictions(settings)
    if missing:
        return day, pd.DataFrame(columns=TOP_COLUMNS), missing
    table, reason = select_top_coins(frame, settings.confidence_threshold)
    return day, table, reason


RISK_FOR_TOP = ["symbol", "held_back", "held_back_reason", "risk_flags", "suggested_allocation"]


def top_list_risk(settings: Settings, day: str) -> pd.DataFrame:
    """The risk verdicts of ``day``'s top-list coins (``risk_metrics``; empty before the risk
    check ran): held back or not and why, warnings, suggested allocation."""
    conn = _connect_if_published(settings)
    if conn is None or day == "-":
        return pd.DataFrame(columns=RISK_FOR_TOP)
    with conn:
        if "risk_metrics" not in _tables(conn):
            return pd.DataFrame(columns=RISK_FOR_TOP)
        frame = conn.execute(
            f"select {', '.join(RISK_FOR_TOP)} from {SCHEMA}.risk_metrics "
            "where role = 'top' and day = ?",
            [pd.Timestamp(day, tz="UTC").to_pydatetime()],
        ).df()
    return frame


def latest_near_misses(settings: Settings, n: int) -> pd.DataFrame:
    """The ``n`` best coins below the threshold on the newest day (``selection.near_misses``)."""
    from crypto_assets.ml.selection import NEAR_COLUMNS, near_misses

    _, frame, missing = latest_predictions(settings)
    if missing:
        return pd.DataFrame(columns=NEAR_COLUMNS)
    return near_misses(frame, settings.confidence_threshold, n)
