"""A small real world for the feedback loop: real Binance hourly candles of 20 coins (2024-01-01
.. 2024-07-31), the features and net forward-return labels the pipeline stores for them, and the
product's own models on them.

``train_and_predict`` runs the real ``retrain_job`` (the ``models`` asset: LightGBM, a small
config) for the hourly horizons on what was stored by 2024-04-01, where the real promotion rule
decides what is in use, then stores the rest of the data and runs the real ``predictions`` asset
for every day of 2024-04-01 .. 2024-06-30 with the versions in use. The 7d and 30d horizons have
no model here (no daily candles), which the loop must report as "no model in use".
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from crypto_assets.definitions import build_definitions
from crypto_assets.defs.features.assets import FEATURE_COLUMNS, LABEL_COLUMNS
from crypto_assets.features.external import asof_join_sentiment
from crypto_assets.features.labels import forward_returns
from crypto_assets.features.pipeline import FEATURE_SET, build_feature_frame, feature_set_id
from crypto_assets.frames import pin_dtypes
from crypto_assets.horizons import TIMEFRAMES
from crypto_assets.runner import run_job
from crypto_assets.settings import SHARED_DATA_DIR, Settings

BINANCE = SHARED_DATA_DIR / "market" / "binance_2024"
OHLCV = ["symbol", "date", "open", "high", "low", "close", "volume"]
N_COINS = 20
FIRST, END = "2024-01-01", "2024-08-01"
TRAIN_END = pd.Timestamp("2024-04-01", tz="UTC")  # the models know what was stored by then
LAST_DAY = "2024-06-30"
MODELLED = ("1h", "24h")
COST = 0.004
# the real models asset, small: 40 trees; 10-day walk-forward folds give each version a band
TRAIN_CONFIG = {"ops": {"models": {"config": {"n_estimators": 40, "retrain_every_days": 10}}}}


def real_candles(timeframe: str, n_symbols: int, start: str, end: str) -> pd.DataFrame:
    """Real candles of the ``n_symbols`` coins with the most history, in [start, end)."""
    frame = pd.read_parquet(BINANCE / f"ohlcv_{timeframe}.parquet", columns=OHLCV)
    counts = frame.groupby("symbol").size().sort_values(ascending=False, kind="stable")
    frame = frame[frame["symbol"].isin(sorted(counts.index[:n_symbols]))]
    window = (frame["date"] >= pd.Timestamp(start, tz="UTC")) & (
        frame["date"] < pd.Timestamp(end, tz="UTC")
    )
    return frame[window].sort_values(["symbol", "date"]).reset_index(drop=True)


def stored_labels(candles: pd.DataFrame, timeframe: str, cost: float = COST) -> pd.DataFrame:
    """Labels as the ``labels`` asset stores them (every horizon's columns; null where a
    horizon is not modelled on this timeframe or has not passed in ``candles``)."""
    labels = forward_returns(candles, timeframe, round_trip_cost=cost).assign(timeframe=timeframe)
    ends = tuple(c for c in LABEL_COLUMNS if c.startswith("label_end_"))
    return pin_dtypes(
        labels,
        ["symbol", "date", "timeframe", *LABEL_COLUMNS],
        times=("date", *ends),
        texts=("symbol", "timeframe"),
    )


def stored_features(candles: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """The ``feature_table`` rows of ``candles`` (no scored texts: sentiment columns empty)."""
    frame = build_feature_frame(candles, timeframe).assign(
        timeframe=timeframe, **{FEATURE_SET: feature_set_id(timeframe)}
    )
    frame = pin_dtypes(
        frame,
        ["symbol", "date", "timeframe", FEATURE_SET, *FEATURE_COLUMNS],
        times=("date",),
        texts=("symbol", "timeframe", FEATURE_SET),
    )
    return asof_join_sentiment(frame, pd.DataFrame(), TIMEFRAMES)


def write_tables(database: Path, **tables: pd.DataFrame) -> None:
    """Store frames as ``crypto.<name>`` tables (what the pipeline's IO manager would hold)."""
    with duckdb.connect(str(database)) as conn:
        conn.execute("create schema if not exists crypto")
        for name, frame in tables.items():
            conn.register("frame", frame)
            conn.execute(f'create or replace table crypto."{name}" as select * from frame')
            conn.unregister("frame")


def train_and_predict(settings: Settings, candles: pd.DataFrame, features: pd.DataFrame) -> None:
    """The stored world as of 2024-04-01, the real retrain runs, then the rest of the data and
    the real predictions of 2024-04-01 .. LAST_DAY (one range run)."""
    database = settings.resolved_duckdb_path
    database.parent.mkdir(parents=True, exist_ok=True)
    known = candles[candles["date"] + TIMEFRAMES["1h"] <= TRAIN_END]
    write_tables(
        database,
        feature_table=features[features["date"] < TRAIN_END],
        labels=stored_labels(known, "1h"),
    )
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    for horizon in MODELLED:
        run_job(
            defs,
            "retrain_job",
            instance,
            profile=settings.profile,
            partition_key=horizon,
            run_config=TRAIN_CONFIG,
        )
    write_tables(database, feature_table=features, labels=stored_labels(candles, "1h"))
    run_job(
        defs,
        "predictions_job",
        instance,
        profile=settings.profile,
        day_range=(str(TRAIN_END.date()), LAST_DAY),
        assets=["predictions"],
    )
