"""Per-horizon signal models: expected net return (regressor) and P(net return > 0) (classifier).

Both are small, regularised LightGBM models on technical features and their cross-sectional
ranks. They are evaluated by purged, embargoed walk-forward CV (``splits``) exactly as they are
retrained in production (every ``retrain_every_days``), and the classifier's scores are
calibrated only on out-of-fold predictions whose labels were known before the fold being scored
(``calibration``), so the reported hit rate of ">= 80 %" calls is the one a user would have seen.

The regressor is trained by default on the coin's EXCESS return over the cross-sectional mean
at the same time: the market-wide move is largely unpredictable noise that would otherwise
dominate the loss, while the product ranks coins against each other. The expected return it
reports is that predicted excess plus the market's average net return over the training period
(an honest, unconditional estimate of the common part).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from crypto_assets.horizons import TIMEFRAMES, Horizon
from crypto_assets.ml import metrics
from crypto_assets.ml.calibration import Calibrator, fit_calibrator
from crypto_assets.ml.splits import Fold, walk_forward_splits

log = logging.getLogger(__name__)

KEY = ["symbol", "date"]
OOF_COLUMNS = [
    "symbol",
    "date",
    "fold",
    "pred_return",
    "prob_raw",
    "prob_calibrated",
    "y_return",
    "label_end",
]


class InsufficientDataError(ValueError):
    """Too few candles or too little history for a horizon; the message says what is missing."""


# --------------------------------------------------------------------------------------------
# configuration


class LGBMParams(BaseModel):
    """Small, regularised trees: the signal in returns is weak and easy to overfit."""

    n_estimators: int = Field(300, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(15, ge=2)
    min_child_samples: int = Field(50, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    seed: int = 42
    # 0 = auto: half the logical CPUs (~ the physical cores). LightGBM's OpenMP threads spin
    # while waiting, so on a busy machine more threads than free cores is dramatically slower
    # (measured here on 2 cores under load: 300 rounds on 60k rows 3.4 s with 1 thread, 50 s
    # with 2).
    num_threads: int = Field(0, ge=0)

    def threads(self) -> int:
        return self.num_threads or max(1, (os.cpu_count() or 2) // 2)

    def booster_params(self, objective: str, device: str) -> dict[str, Any]:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "seed": self.seed,
            "deterministic": True,
            "num_threads": self.threads(),
            "device_type": device,
            "verbose": -1,
        }


def _default_min_train() -> dict[str, float]:
    return {"1h": 60.0, "24h": 60.0, "7d": 60.0, "30d": 90.0}


def _default_stride() -> dict[str, int]:
    # Every k-th timestamp of training rows. Hourly 24h labels overlap 23 of 24 hours with their
    # neighbours, so every 6th hour loses little information and keeps a 4-horizon backtest to
    # minutes on 2 cores; 1h labels do not overlap, but 136 coins x 6000 hours is still 750k rows.
    return {"1h": 3, "24h": 6, "7d": 1, "30d": 1}


class TrainConfig(BaseModel):
    lgbm: LGBMParams = Field(default_factory=LGBMParams)
    min_train_days: dict[str, float] = Field(default_factory=_default_min_train)
    retrain_every_days: float = Field(30.0, gt=0)
    embargo_days: float | None = None  # None: the horizon (never less)
    train_stride: dict[str, int] = Field(default_factory=_default_stride)
    target: Literal["excess", "raw"] = "excess"
    target_clip_quantile: float = Field(0.05, ge=0, lt=0.5)  # winsorise: fat tails
    optuna_trials: int = Field(0, ge=0)
    optuna_timeout_s: float | None = None
    isotonic_min_samples: int = Field(1000, ge=1)
    min_calibration_rows: int = Field(200, ge=1)
    # Pseudo-periods of "no idea" (p = 0.5) the calibrator is shrunk with; see calibration.py.
    calibration_prior_periods: float = Field(4.0, ge=0)
    # Market regimes (trends) last longer than a day, so hourly/daily outcomes are not
    # independent: count periods of at least this many days when sizing the shrinkage.
    calibration_regime_days: float = Field(7.0, ge=0)
    # One market event (a crash and its rebound) decides many coins' outcomes over hours: the
    # calibrator counts each period of max(horizon, this many days) as ONE observation when it
    # bounds an isotonic step's hit rate (see calibration.py).
    calibration_cluster_days: float = Field(1.0, ge=0)
    # One-sided credible level of that bound: a step claims no more than the lower 5 % quantile
    # of its hit rate given its independent periods.
    calibration_bound_quantile: float = Field(0.05, gt=0, le=0.5)
    min_train_rows: int = Field(200, ge=1)
    confidence_threshold: float = Field(0.80, gt=0, lt=1)
    device: Literal["auto", "cpu", "cuda", "gpu"] = "auto"

    def min_train(self, horizon: Horizon) -> pd.Timedelta:
        days = self.min_train_days.get(horizon.name, max(60.0, 3 * horizon.duration.days))
        return pd.Timedelta(days=days)

    def embargo(self, horizon: Horizon) -> pd.Timedelta:
        if self.embargo_days is None:
            return horizon.duration
        return max(pd.Timedelta(days=self.embargo_days), horizon.duration)

    def stride(self, horizon: Horizon) -> int:
        return max(1, int(self.train_stride.get(horizon.name, 1)))

    def resolved_device(self) -> str:
        return lightgbm_device() if self.device == "auto" else self.device


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment: native code bypasses Python logging."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@lru_cache(maxsize=1)
def lightgbm_device() -> str:
    """'cuda' (or 'gpu', OpenCL) when this LightGBM build can train on a GPU, else 'cpu'.

    The pip wheel has neither; the only reliable test is a tiny fit, so try it once and cache.
    """
    x = np.arange(200, dtype=float).reshape(100, 2)
    y = np.arange(100, dtype=float) % 2
    for device in ("cuda", "gpu"):
        try:
            with _native_stderr_silenced():  # the C++ library prints "[Fatal] ..." itself
                lgb.train(
                    {"device_type": device, "objective": "binary", "verbose": -1, "num_leaves": 2},
                    lgb.Dataset(x, y),
                    num_boost_round=1,
                )
        except Exception as exc:  # LightGBMError for a build without it; others for no device
            log.info("lightgbm: device_type=%s unavailable (%s)", device, str(exc)[:120])
            continue
        log.info("lightgbm: training on device_type=%s", device)
        return device
    log.info("lightgbm: no GPU support in this build, training on cpu")
    return "cpu"


# --------------------------------------------------------------------------------------------
# dataset


@dataclass
class Dataset:
    """Model-ready rows for one horizon.

    ``labelled``: symbol, date, features, ``y_return`` (net forward return), ``label_end``.
    ``live``: the latest rows whose label is not known yet (what inference scores).
    """

    horizon: Horizon
    timeframe: str
    features: list[str]
    labelled: pd.DataFrame
    live: pd.DataFrame
    momentum_column: str | None = None

    @property
    def label_column(self) -> str:
        return "y_return"


def candles_for(ohlcv_by_tf: dict[str, pd.DataFrame], horizon: Horizon) -> pd.DataFrame:
    """The candles a horizon is modelled on; daily candles are resampled from hourly if needed."""
    frame = ohlcv_by_tf.get(horizon.timeframe)
    if frame is not None and len(frame):
        return frame
    if horizon.timeframe == "1d" and ohlcv_by_tf.get("1h") is not None and len(ohlcv_by_tf["1h"]):
        from crypto_assets.features.labels import resample_ohlcv

        return resample_ohlcv(ohlcv_by_tf["1h"], "1d")
    raise InsufficientDataError(
        f"no {horizon.timeframe} candles for horizon {horizon.name} "
        f"(have: {sorted(k for k, v in ohlcv_by_tf.items() if v is not None and len(v))})"
    )


def build_features(ohlcv: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Technical features plus their cross-sectional ranks (shared by horizons on one timeframe)."""
    from crypto_assets.features.indicators import (
        add_cross_sectional_ranks,
        build_technical_features,
    )

    return add_cross_sectional_ranks(build_technical_features(ohlcv, timeframe))


def build_dataset(
    ohlcv_by_tf: dict[str, pd.DataFrame],
    horizon: Horizon,
    round_trip_cost: float = 0.004,
    *,
    features: pd.DataFrame | None = None,
) -> Dataset:
    """Join features (<= t) with the NET forward-return label (> t) for one horizon.

    ``features`` may be passed precomputed (``build_features``) to share work between horizons
    on the same timeframe. Rows whose label is not known yet form ``live``; rows without a label
    for other reasons (a coin's history ending early) are dropped.
    """
    from crypto_assets.features.indicators import feature_columns
    from crypto_assets.features.labels import forward_returns

    ohlcv = candles_for(ohlcv_by_tf, horizon)
    timeframe = horizon.timeframe
    if features is None:
        features = build_features(ohlcv, timeframe)
    labels = forward_returns(
        ohlcv, timeframe, horizons=[horizon.name], round_trip_cost=round_trip_cost
    )
    ret_col, end_col = f"fwd_ret_{horizon.name}", f"label_end_{horizon.name}"
    missing = [c for c in (ret_col, end_col) if c not in labels.columns]
    if missing:
        raise ValueError(f"forward_returns gave no {missing} for horizon {horizon.name}")
    cols = feature_columns(features)
    frame = features[[*KEY, *cols]].merge(
        labels[[*KEY, ret_col, end_col]].rename(
            columns={ret_col: "y_return", end_col: "label_end"}
        ),
        on=KEY,
        how="left",
        validate="one_to_one",
    )
    frame = frame.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)
    has_label = frame["y_return"].notna() & np.isfinite(frame["y_return"])
    last_complete = ohlcv["date"].max() + TIMEFRAMES[timeframe]
    pending = ~has_label & (
        frame["date"] + horizon.duration + TIMEFRAMES[timeframe] > last_complete
    )
    labelled = frame[has_label].reset_index(drop=True)
    live = frame[pending].drop(columns=["y_return"]).reset_index(drop=True)
    momentum = f"ret_{horizon.name}"
    return Dataset(
        horizon=horizon,
        timeframe=timeframe,
        features=cols,
        labelled=labelled,
        live=live,
        momentum_column=momentum if momentum in cols else None,
    )


# --------------------------------------------------------------------------------------------
# fitting


def _stride_mask(dates: pd.Series, timeframe: str, stride: int) -> np.ndarray:
    if stride <= 1:
        return np.ones(len(dates), dtype=bool)
    bar = (dates.astype("int64") // TIMEFRAMES[timeframe].value).to_numpy()
    return bar % stride == 0


def _regression_target(frame: pd.DataFrame, config: TrainConfig) -> tuple[np.ndarray, float]:
    y = frame["y_return"].astype(float)
    drift = float(y.groupby(frame["date"]).mean().mean())
    if config.target == "excess":
        y = y - y.groupby(frame["date"]).transform("mean")
    q = config.target_clip_quantile
    if q > 0 and len(y) > 10:
        y = y.clip(y.quantile(q), y.quantile(1 - q))
    return y.to_numpy(), drift if config.target == "excess" else 0.0


@dataclass
class _Fitted:
    regressor: lgb.Booster
    classifier: lgb.Booster
    drift: float


def _fit(
    train: pd.DataFrame, features: list[str], params: LGBMParams, config: TrainConfig
) -> _Fitted:
    device = config.resolved_device()
    x = train[features].to_numpy(dtype=np.float32)
    y_reg, drift = _regression_target(train, config)
    y_clf = (train["y_return"].to_numpy() > 0).astype(float)
    reg = lgb.train(
        params.booster_params("regression", device),
        lgb.Dataset(x, y_reg, feature_name=features, free_raw_data=True),
        num_boost_round=params.n_estimators,
    )
    clf_params = params.booster_params("binary", device)
    if len(np.unique(y_clf)) < 2:  # one class only: a constant model is all the data supports
        clf_params["boost_from_average"] = True
    clf = lgb.train(
        clf_params,
        lgb.Dataset(x, y_clf, feature_name=features, free_raw_data=True),
        num_boost_round=params.n_estimators,
    )
    return _Fitted(reg, clf, drift)


def _predict(fitted: _Fitted, frame: pd.DataFrame, features: list[str]) -> tuple[np.ndarray, ...]:
    x = frame[features].to_numpy(dtype=np.float32)
    return fitted.regressor.predict(x) + fitted.drift, fitted.classifier.predict(x)


def _inner_split(
    train: pd.DataFrame, horizon: Horizon, config: TrainConfig, share: float = 0.25
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Purged time split of a training set: (inner train, validation tail) or None if too small."""
    dates = np.sort(train["date"].unique())
    if len(dates) < 4:
        return None
    cut = pd.Timestamp(dates[int(len(dates) * (1 - share))])
    cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut
    gap = config.embargo(horizon)
    inner = train[(train["label_end"] <= cut) & (train["date"] <= cut - gap)]
    valid = train[train["date"] >= cut]
    if len(inner) < config.min_train_rows or len(valid) < config.min_calibration_rows:
        return None
    return inner, valid


def tune_params(
    train: pd.DataFrame, features: list[str], horizon: Horizon, config: TrainConfig
) -> LGBMParams:
    """Optuna search (``config.optuna_trials``) on a purged inner time split of ``train`` only.

    Objective: rank IC of the regressor on the validation tail, so tuning never sees test data.
    Returns the base params when there is nothing to tune or too little data.
    """
    base = config.lgbm
    if config.optuna_trials <= 0:
        return base
    split = _inner_split(train, horizon, config)
    if split is None:
        log.info("optuna: training set too small for an inner split, keeping base params")
        return base
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    inner, valid = split
    stride = _stride_mask(inner["date"], horizon.timeframe, config.stride(horizon))
    inner = inner[stride]

    def objective(trial: optuna.Trial) -> float:
        params = base.model_copy(
            update={
                "num_leaves": trial.suggest_int("num_leaves", 7, 31),
                "min_child_samples": trial.suggest_int("min_child_samples", 20, 300, log=True),
                "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
                "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
                "reg_lambda": trial.suggest_float("reg_lambda", 1e-2, 30.0, log=True),
            }
        )
        device = config.resolved_device()
        y, _ = _regression_target(inner, config)
        booster = lgb.train(
            params.booster_params("regression", device),
            lgb.Dataset(inner[features].to_numpy(dtype=np.float32), y, feature_name=features),
            num_boost_round=params.n_estimators,
        )
        pred = booster.predict(valid[features].to_numpy(dtype=np.float32))
        ic = metrics.rank_ic(pred, valid["y_return"], valid["date"])
        return ic if math.isfinite(ic) else -1.0

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=base.seed)
    )
    study.optimize(objective, n_trials=config.optuna_trials, timeout=config.optuna_timeout_s)
    log.info(
        "optuna %s: best inner rank IC %.4f with %s",
        horizon.name,
        study.best_value,
        study.best_params,
    )
    return base.model_copy(update=study.best_params)


def independent_periods(
    dates: pd.Series, horizon: Horizon, min_period: pd.Timedelta | None = None
) -> float:
    """How many non-overlapping windows of max(horizon, ``min_period``) the dates span."""
    if not len(dates):
        return 0.0
    period = max(horizon.duration, min_period or pd.Timedelta(0))
    span = pd.Timestamp(dates.max()) - pd.Timestamp(dates.min()) + period
    return float(span / period)


def independent_groups(
    dates: pd.Series | np.ndarray, horizon: Horizon, min_period: pd.Timedelta | None = None
) -> np.ndarray:
    """Per row, the index of its non-overlapping max(horizon, ``min_period``) period.

    Rows in one period (all coins in one hour, all hours of one crash day) share one market
    move, so calibration counts each period as one independent observation, not each row.
    """
    period = max(horizon.duration, min_period or pd.Timedelta(0))
    when = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates), utc=True))
    return when.asi8 // max(period.value, 1)


def calibrate(
    prob_raw: np.ndarray,
    y_return: np.ndarray,
    dates: pd.Series,
    horizon: Horizon,
    config: TrainConfig,
) -> Calibrator:
    """Calibrator for P(net return > 0) from out-of-sample scores.

    Isotonic steps are bounded by their count of independent periods (days for hourly
    horizons) and the map is shrunk by the count of regime periods (see calibration.py).
    """
    return fit_calibrator(
        np.asarray(prob_raw, dtype=float),
        (np.asarray(y_return, dtype=float) > 0).astype(float),
        isotonic_min_samples=config.isotonic_min_samples,
        n_independent=independent_periods(
            dates, horizon, pd.Timedelta(days=config.calibration_regime_days)
        ),
        prior_strength=config.calibration_prior_periods,
        groups=independent_groups(
            dates, horizon, pd.Timedelta(days=config.calibration_cluster_days)
        ),
        bound_quantile=config.calibration_bound_quantile,
    )


def _nested_calibrator(
    train: pd.DataFrame,
    features: list[str],
    horizon: Horizon,
    params: LGBMParams,
    config: TrainConfig,
) -> Calibrator:
    """Calibrator from an inner purged split of the training data (used before any OOF exists)."""
    split = _inner_split(train, horizon, config)
    if split is None:
        # no held-out scores to learn a map from: claim nothing beyond the training base rate
        # (pulled toward 0.5 by its independent periods), never the raw, uncalibrated score
        up = (train["y_return"].to_numpy(dtype=float) > 0).astype(float)
        return fit_calibrator(
            np.full(len(up), 0.5),
            up,
            method="identity",
            n_independent=0.0,
            prior_strength=max(config.calibration_prior_periods, 1.0),
            groups=independent_groups(
                train["date"], horizon, pd.Timedelta(days=config.calibration_cluster_days)
            ),
        )
    inner, valid = split
    inner = inner[_stride_mask(inner["date"], horizon.timeframe, config.stride(horizon))]
    fitted = _fit(inner, features, params, config)
    _, prob = _predict(fitted, valid, features)
    return calibrate(prob, valid["y_return"].to_numpy(), valid["date"], horizon, config)


# --------------------------------------------------------------------------------------------
# evaluation


def summarise(
    oof: pd.DataFrame, horizon: Horizon, threshold: float = 0.80, momentum: pd.Series | None = None
) -> dict[str, Any]:
    """Headline metrics of out-of-fold predictions (rank IC, calibration, portfolio)."""
    y = oof["y_return"].to_numpy(dtype=float)
    up = (y > 0).astype(float)
    step = horizon.duration
    out: dict[str, Any] = {
        "n_predictions": len(oof),
        "test_start": oof["date"].min() if len(oof) else None,
        "test_end": oof["date"].max() if len(oof) else None,
        "rank_ic_mean": metrics.rank_ic(oof["pred_return"], y, oof["date"]),
        "rank_ic_ir": metrics.rank_ic_ir(oof["pred_return"], y, oof["date"]),
        "momentum_rank_ic_mean": (
            metrics.rank_ic(momentum, y, oof["date"]) if momentum is not None else math.nan
        ),
        "brier": metrics.brier(oof["prob_calibrated"], up),
        "ece": metrics.ece(oof["prob_calibrated"], up),
        "brier_raw": metrics.brier(oof["prob_raw"], up),
        "ece_raw": metrics.ece(oof["prob_raw"], up),
        "n_calls_at_80": metrics.n_calls_at(oof["prob_calibrated"], threshold),
        "hit_rate_at_80": metrics.hit_rate_at(oof["prob_calibrated"], up, threshold),
        "n_call_times_at_80": metrics.n_call_times(oof["prob_calibrated"], oof["date"], threshold),
        "top_decile_return": metrics.top_decile_return(
            oof["pred_return"], y, oof["date"], step=step
        ),
        "equal_weight_return": metrics.equal_weight_return(y, oof["date"], step=step),
        "base_rate_up": float(up.mean()) if len(up) else math.nan,
    }
    return out


@dataclass
class EvaluationReport:
    horizon: str
    folds: list[dict[str, Any]]
    overall: dict[str, Any]
    oof: pd.DataFrame  # OOF_COLUMNS (+ "momentum" when the dataset has ret_<h>)
    params: list[dict[str, Any]] = field(default_factory=list)  # LGBM params used per fold

    @property
    def n_folds(self) -> int:
        return len(self.folds)


def walk_forward_evaluate(
    dataset: Dataset, horizon: Horizon, config: TrainConfig | None = None
) -> EvaluationReport:
    """Purged walk-forward evaluation with honest, time-respecting calibration.

    For fold k the calibrator is fit on OOF predictions of earlier folds whose labels were known
    at fold k's test start; before enough exist, on a nested inner split of fold k's training
    data. Test-fold probabilities therefore never saw their own (or any later) labels.
    """
    config = config or TrainConfig()
    data = dataset.labelled
    if data.empty:
        raise InsufficientDataError(
            f"{horizon.name}: no labelled rows (no coin has candles spanning the "
            f"{horizon.duration} horizon)"
        )
    folds: list[Fold] = walk_forward_splits(
        data["date"],
        min_train=config.min_train(horizon),
        retrain_every=pd.Timedelta(days=config.retrain_every_days),
        horizon=horizon.duration,
        embargo=config.embargo(horizon),
        label_end=data["label_end"],
        min_train_rows=config.min_train_rows,
    )
    if not folds:
        span = data["date"].max() - data["date"].min()
        need = config.min_train(horizon) + config.embargo(horizon)
        raise InsufficientDataError(
            f"{horizon.name}: labelled history spans {span}, walk-forward needs more than "
            f"{need} (min_train + embargo) with >= {config.min_train_rows} training rows"
        )
    features = dataset.features
    parts: list[pd.DataFrame] = []
    fold_rows: list[dict[str, Any]] = []
    used_params: list[dict[str, Any]] = []
    for fold in folds:
        train = data.iloc[fold.train_idx]
        test = data.iloc[fold.test_idx]
        params = tune_params(train, features, horizon, config)
        used_params.append(params.model_dump())
        train_fit = train[_stride_mask(train["date"], horizon.timeframe, config.stride(horizon))]
        fitted = _fit(train_fit, features, params, config)
        pred, prob = _predict(fitted, test, features)

        earlier = pd.concat(parts) if parts else pd.DataFrame(columns=OOF_COLUMNS)
        known = earlier[earlier["label_end"] <= fold.test_start] if len(earlier) else earlier
        if len(known) >= config.min_calibration_rows:
            calibrator = calibrate(
                known["prob_raw"].to_numpy(),
                known["y_return"].to_numpy(),
                known["date"],
                horizon,
                config,
            )
            source = "earlier_oof"
        else:
            calibrator = _nested_calibrator(train, features, horizon, params, config)
            source = "nested"
        part = pd.DataFrame(
            {
                "symbol": test["symbol"].to_numpy(),
                "date": test["date"].to_numpy(),
                "fold": fold.index,
                "pred_return": pred,
                "prob_raw": prob,
                "prob_calibrated": calibrator.predict(prob),
                "y_return": test["y_return"].to_numpy(dtype=float),
                "label_end": test["label_end"].to_numpy(),
            }
        )
        if dataset.momentum_column:
            part["momentum"] = test[dataset.momentum_column].to_numpy(dtype=float)
        parts.append(part)
        row = summarise(part, horizon, config.confidence_threshold, part.get("momentum"))
        row.update(
            fold=fold.index,
            n_train=len(train_fit),
            train_end=fold.train_end,
            test_start=fold.test_start,
            test_end=fold.test_end,
            calibrator=calibrator.method,
            calibration_source=source,
        )
        fold_rows.append(row)
        log.info(
            "%s fold %d: train %d rows to %s, test %d rows, rank IC %.4f",
            horizon.name,
            fold.index,
            len(train_fit),
            fold.train_end,
            len(test),
            row["rank_ic_mean"],
        )
    oof = pd.concat(parts, ignore_index=True)
    overall = summarise(oof, horizon, config.confidence_threshold, oof.get("momentum"))
    overall["n_folds"] = len(folds)
    overall["test_start"] = folds[0].test_start
    overall["test_end"] = min(folds[-1].test_end, oof["date"].max() + TIMEFRAMES[horizon.timeframe])
    return EvaluationReport(horizon.name, fold_rows, overall, oof, used_params)


# --------------------------------------------------------------------------------------------
# final model


@dataclass
class HorizonModel:
    """A trained horizon: regressor + classifier + calibrator and what they were trained on."""

    horizon: str
    features: list[str]
    regressor: lgb.Booster
    classifier: lgb.Booster
    calibrator: Calibrator
    drift: float
    trained_from: pd.Timestamp
    trained_to: pd.Timestamp
    n_train: int
    params: dict[str, Any] = field(default_factory=dict)
    target: str = "excess"
    metrics: dict[str, Any] = field(default_factory=dict)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """symbol, date, expected_return (net), probability (calibrated P(net return > 0))."""
        missing = [c for c in [*KEY, *self.features] if c not in features.columns]
        if missing:
            raise ValueError(f"{self.horizon} model: feature frame lacks columns {missing}")
        x = features[self.features].to_numpy(dtype=np.float32)
        expected = self.regressor.predict(x) + self.drift if len(x) else np.empty(0)
        prob = self.calibrator.predict(self.classifier.predict(x)) if len(x) else np.empty(0)
        return pd.DataFrame(
            {
                "symbol": features["symbol"].to_numpy(),
                "date": features["date"].to_numpy(),
                "expected_return": expected,
                "probability": prob,
            }
        )

    def save(self, directory: Path | str) -> Path:
        """regressor.txt / classifier.txt (LightGBM text), meta.json (calibrator, features, ...)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.regressor.save_model(str(path / "regressor.txt"))
        self.classifier.save_model(str(path / "classifier.txt"))
        meta = {
            "format": 1,
            "horizon": self.horizon,
            "features": self.features,
            "calibrator": self.calibrator.to_dict(),
            "drift": self.drift,
            "trained_from": self.trained_from.isoformat(),
            "trained_to": self.trained_to.isoformat(),
            "n_train": self.n_train,
            "params": self.params,
            "target": self.target,
            "metrics": _json_safe(self.metrics),
        }
        (path / "meta.json").write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, directory: Path | str) -> HorizonModel:
        path = Path(directory)
        meta_file = path / "meta.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{path} holds no saved HorizonModel (meta.json missing)")
        meta = json.loads(meta_file.read_text())
        return cls(
            horizon=meta["horizon"],
            features=list(meta["features"]),
            regressor=lgb.Booster(model_file=str(path / "regressor.txt")),
            classifier=lgb.Booster(model_file=str(path / "classifier.txt")),
            calibrator=Calibrator.from_dict(meta["calibrator"]),
            drift=float(meta["drift"]),
            trained_from=pd.Timestamp(meta["trained_from"]),
            trained_to=pd.Timestamp(meta["trained_to"]),
            n_train=int(meta["n_train"]),
            params=meta.get("params", {}),
            target=meta.get("target", "excess"),
            metrics=meta.get("metrics", {}),
        )


def train_final(
    dataset: Dataset,
    horizon: Horizon,
    config: TrainConfig | None = None,
    oof: pd.DataFrame | None = None,
) -> HorizonModel:
    """Fit on all labelled rows; calibrate on all OOF predictions (from walk_forward_evaluate).

    Without OOF predictions (or too few) the calibrator comes from a nested inner split.
    """
    config = config or TrainConfig()
    data = dataset.labelled
    if len(data) < config.min_train_rows:
        raise InsufficientDataError(
            f"{horizon.name}: {len(data)} labelled rows, need >= {config.min_train_rows}"
        )
    params = tune_params(data, dataset.features, horizon, config)
    train_fit = data[_stride_mask(data["date"], horizon.timeframe, config.stride(horizon))]
    fitted = _fit(train_fit, dataset.features, params, config)
    if oof is not None and len(oof) >= config.min_calibration_rows:
        calibrator = calibrate(
            oof["prob_raw"].to_numpy(), oof["y_return"].to_numpy(), oof["date"], horizon, config
        )
    else:
        calibrator = _nested_calibrator(data, dataset.features, horizon, params, config)
    return HorizonModel(
        horizon=horizon.name,
        features=list(dataset.features),
        regressor=fitted.regressor,
        classifier=fitted.classifier,
        calibrator=calibrator,
        drift=fitted.drift,
        trained_from=pd.Timestamp(data["date"].min()),
        trained_to=pd.Timestamp(data["date"].max()),
        n_train=len(train_fit),
        params=params.model_dump(),
        target=config.target,
    )


def _json_safe(value: Any) -> Any:
    """NaN/inf -> None, timestamps -> ISO strings, numpy scalars -> Python (for JSON output)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
