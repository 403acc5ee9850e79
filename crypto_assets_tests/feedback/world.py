"""A small real world for the feedback loop: real Binance daily candles (2024), their real net
forward-return labels and technical features, and the predictions of a transparent rule.

The rule stands in for "the model in use" (the estimator code is being rewritten; the loop judges
any model by its stored predictions): expected return = the coin's trailing 14-day return
(momentum), probability = the share of Q1-2024 outcomes that went up in the coin's momentum
quintile of that day (fitted on outcomes known by 2024-04-01, i.e. its training window). Its
"walk-forward folds" are its rank ICs in consecutive 15-day blocks of that quarter. Measured on
these 20 coins: 7d rank IC +0.05 in Q1, -0.14 in Q2; share of 7d outcomes up 0.57 in Q1, 0.33 in
Q2 -- the real regime change the drift tests rely on.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd

from crypto_assets.features.indicators import add_cross_sectional_ranks, build_technical_features
from crypto_assets.features.labels import forward_returns
from crypto_assets.horizons import HORIZON_NAMES, HORIZONS, TIMEFRAMES
from crypto_assets.ml import metrics, registry
from crypto_assets.settings import SHARED_DATA_DIR

BINANCE = SHARED_DATA_DIR / "market" / "binance_2024"
OHLCV = ["symbol", "date", "open", "high", "low", "close", "volume"]
COST = 0.004
TRAIN_FROM = pd.Timestamp("2024-01-01", tz="UTC")
TRAIN_TO = pd.Timestamp("2024-03-31", tz="UTC")  # last candle of the rule's training window
KNOWN_BY_TRAIN_END = TRAIN_TO + pd.Timedelta(days=1)
MOMENTUM_DAYS = 14
FIRST_PREDICTION = pd.Timestamp("2024-01-15", tz="UTC")
RULE_HORIZONS = ("7d", "30d")
VERSION = "1"


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
    """Labels as the ``labels`` asset stores them: every horizon's columns, null where the
    horizon is not modelled on this timeframe."""
    labels = forward_returns(candles, timeframe, round_trip_cost=cost).assign(timeframe=timeframe)
    for h in HORIZON_NAMES:
        if f"fwd_ret_{h}" not in labels:
            labels[f"fwd_ret_{h}"] = np.nan
            labels[f"label_end_{h}"] = pd.NaT
        labels[f"label_end_{h}"] = pd.to_datetime(labels[f"label_end_{h}"], utc=True)
    columns = [c for h in HORIZON_NAMES for c in (f"fwd_ret_{h}", f"label_end_{h}")]
    return labels[["symbol", "date", "timeframe", *columns]]


def stored_features(candles: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    features = add_cross_sectional_ranks(build_technical_features(candles, timeframe))
    return features.assign(timeframe=timeframe)


def rule_predictions(
    candles: pd.DataFrame, labels: pd.DataFrame, horizons: tuple[str, ...] = RULE_HORIZONS
) -> tuple[pd.DataFrame, dict[str, list[float]]]:
    """The momentum rule's daily predictions (as the ``predictions`` asset stores them) and its
    per-horizon fold rank ICs in the training quarter."""
    momentum = candles.groupby("symbol")["close"].pct_change(MOMENTUM_DAYS)
    base = labels.assign(momentum=momentum.to_numpy())
    base = base[base["momentum"].notna() & (base["date"] >= FIRST_PREDICTION)]
    base["quintile"] = base.groupby("date")["momentum"].rank(pct=True).mul(5).clip(upper=4.999)
    base["quintile"] = base["quintile"].astype(int)
    parts, folds = [], {}
    for h in horizons:
        known = base[base[f"label_end_{h}"] <= KNOWN_BY_TRAIN_END]
        up = (known[f"fwd_ret_{h}"] > 0).groupby(known["quintile"]).mean()
        blocks = (known["date"] - TRAIN_FROM).dt.days // 15
        ics = [
            metrics.rank_ic(b["momentum"], b[f"fwd_ret_{h}"], b["date"])
            for _, b in known.groupby(blocks)
        ]
        folds[h] = [v for v in ics if np.isfinite(v)]
        step = TIMEFRAMES[HORIZONS[h].timeframe]
        parts.append(
            pd.DataFrame(
                {
                    "day": base["date"].dt.floor("D"),
                    "symbol": base["symbol"],
                    "horizon": h,
                    "as_of": base["date"] + step,
                    "expected_return": base["momentum"],
                    "probability": base["quintile"].map(up).to_numpy(dtype=float),
                    "model_version": VERSION,
                    "explanation": f"{MOMENTUM_DAYS}-day momentum rule",
                }
            )
        )
    return pd.concat(parts, ignore_index=True), folds


def write_tables(database: Path, **tables: pd.DataFrame) -> None:
    """Store frames as ``crypto.<name>`` tables (what the pipeline's IO manager would hold)."""
    with duckdb.connect(str(database)) as conn:
        conn.execute("create schema if not exists crypto")
        for name, frame in tables.items():
            conn.register("frame", frame)
            conn.execute(f'create or replace table crypto."{name}" as select * from frame')
            conn.unregister("frame")


def register_rule(
    tracking_uri: str, artifact_root: Path, folds: dict[str, list[float]], features: list[str]
) -> dict[str, str]:
    """Log the rule per horizon as the ``models`` asset logs a model (params data_from/data_to,
    per-fold ``fold_rank_ic_mean``, features.json) and register it as the champion."""
    registry.configure_tracking(tracking_uri, artifact_root)
    experiment = registry.ensure_experiment("crypto_assets_signals", artifact_root)
    versions = {}
    for h, ics in folds.items():
        name = f"crypto_assets_signal_{h}"
        with mlflow.start_run(experiment_id=experiment, run_name=name) as run:
            mlflow.log_params(
                {"horizon": h, "data_from": str(TRAIN_FROM), "data_to": str(TRAIN_TO)}
            )
            for step, value in enumerate(ics):
                mlflow.log_metric("fold_rank_ic_mean", value, step=step)
            mlflow.log_metric("rank_ic_mean", float(np.mean(ics)))
            mlflow.log_dict({"features": features}, "features.json")
            mlflow.log_dict({"rule": f"{MOMENTUM_DAYS}-day momentum"}, "model/rule.json")
            local = artifact_root / "local" / run.info.run_id
            local.mkdir(parents=True)
            version = registry.register_model_dir(
                name, run.info.run_id, run.info.artifact_uri, local, "model"
            )
        registry.promote_if_better(name, version, "rank_ic_mean")
        versions[h] = version
    return versions
