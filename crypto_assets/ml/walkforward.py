"""Purged walk-forward evaluation: the models are judged exactly as they are retrained in use.

For every test block the estimator is fitted only on rows whose label was known at the block's
start (purge) and that lie at least an embargo (>= the horizon) before it (``splits``). The
probability calibrator and the score-to-return map of block k are fitted only on out-of-fold
predictions of EARLIER blocks whose labels were known at block k's start; before enough exist,
on a nested inner split of block k's own training rows. So no test probability ever saw its own
label or any later one, and the reported hit rate of ">= 80 %" calls is the one a user would
have seen.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crypto_assets.horizons import TIMEFRAMES, Horizon
from crypto_assets.ml import metrics
from crypto_assets.ml.calibration import Calibrator, ReturnMap, fit_calibrator, fit_return_map
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import (
    Dataset,
    InsufficientDataError,
    add_targets,
    excess_return,
    within_date_rank,
)
from crypto_assets.ml.estimators import SignalEstimator, make_estimator
from crypto_assets.ml.splits import Fold, walk_forward_splits

log = logging.getLogger(__name__)

OOF_COLUMNS = [
    "symbol",
    "date",
    "fold",
    "score",
    "pred_return",
    "prob_raw",
    "prob_calibrated",
    "prob_estimate",
    "y_return",
    "label_end",
]


def thin(frame: pd.DataFrame, horizon: Horizon, config: TrainConfig) -> pd.DataFrame:
    """Every k-th timestamp of a training frame (``TrainConfig.stride``)."""
    stamps = frame["date"].nunique()
    stride = config.stride(horizon, len(frame), stamps)
    if stride <= 1:
        return frame
    bar = (frame["date"].astype("int64") // TIMEFRAMES[horizon.timeframe].value).to_numpy()
    return frame[bar % stride == 0]


def fit_estimator(
    train: pd.DataFrame, features: list[str], horizon: Horizon, config: TrainConfig
) -> SignalEstimator:
    """A fresh estimator of ``config.family`` fitted on (thinned) training rows."""
    from crypto_assets.ml.tuning import tune_params

    params = tune_params(train, features, horizon, config)
    estimator = make_estimator(config.family, params, config.device)
    estimator.fit(add_targets(thin(train, horizon, config)), features)
    return estimator


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
    """Per row, the index of its non-overlapping max(horizon, ``min_period``) period: rows in
    one period share one market move, so calibration counts a period once, not each row."""
    period = max(horizon.duration, min_period or pd.Timedelta(0))
    when = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates), utc=True))
    return when.asi8 // max(period.value, 1)


def calibrate(scored: pd.DataFrame, horizon: Horizon, config: TrainConfig) -> Calibrator:
    """Probability calibrator from out-of-sample ``prob_raw`` and ``y_return`` (calibration.py:
    steps bounded by independent periods, the map shrunk by regime periods)."""
    return fit_calibrator(
        scored["prob_raw"].to_numpy(dtype=float),
        (scored["y_return"].to_numpy(dtype=float) > 0).astype(float),
        isotonic_min_samples=config.isotonic_min_samples,
        n_independent=independent_periods(
            scored["date"], horizon, pd.Timedelta(days=config.calibration_regime_days)
        ),
        prior_strength=config.calibration_prior_periods,
        groups=independent_groups(
            scored["date"], horizon, pd.Timedelta(days=config.calibration_cluster_days)
        ),
        bound_quantile=config.calibration_bound_quantile,
    )


def market_drift(frame: pd.DataFrame) -> float:
    """Mean over dates of the cross-sectional mean net return (the common part's average)."""
    if frame.empty:
        return 0.0
    return float(frame["y_return"].astype(float).groupby(frame["date"]).mean().mean())


def return_map(scored: pd.DataFrame, drift: float) -> ReturnMap:
    """Score-to-return map from out-of-sample ``score`` and ``y_return``."""
    return fit_return_map(
        within_date_rank(scored["score"].to_numpy(), scored["date"]), excess_return(scored), drift
    )


def _inner_split(
    train: pd.DataFrame, horizon: Horizon, config: TrainConfig, share: float = 0.25
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Purged time split of a training set: (inner train, validation tail) or None if too small."""
    dates = np.sort(train["date"].unique())
    if len(dates) < 4:
        return None
    cut = pd.Timestamp(dates[int(len(dates) * (1 - share))])
    cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut
    inner = train[(train["label_end"] <= cut) & (train["date"] <= cut - config.embargo(horizon))]
    valid = train[train["date"] >= cut]
    if len(inner) < config.min_train_rows or len(valid) < config.min_calibration_rows:
        return None
    return inner, valid


def score_frame(estimator: SignalEstimator, frame: pd.DataFrame) -> pd.DataFrame:
    """date, score, prob_raw, y_return (+ label_end) of ``frame`` under ``estimator``."""
    out = pd.DataFrame(
        {
            "date": frame["date"].to_numpy(),
            "score": estimator.predict(frame),
            "prob_raw": estimator.predict_proba(frame),
            "y_return": frame["y_return"].to_numpy(dtype=float),
        }
    )
    if "label_end" in frame:
        out["label_end"] = frame["label_end"].to_numpy()
    return out


def nested_calibration(
    train: pd.DataFrame, features: list[str], horizon: Horizon, config: TrainConfig
) -> tuple[Calibrator, ReturnMap]:
    """Calibrator and return map from an inner purged split of the training rows (used before
    any earlier out-of-fold predictions exist)."""
    drift = market_drift(train)
    split = _inner_split(train, horizon, config)
    if split is None:
        # no held-out scores to learn from: claim nothing beyond the training base rate (pulled
        # toward 0.5 by its independent periods) and no skill beyond the market's move
        up = (train["y_return"].to_numpy(dtype=float) > 0).astype(float)
        calibrator = fit_calibrator(
            np.full(len(up), 0.5),
            up,
            method="identity",
            n_independent=0.0,
            prior_strength=max(config.calibration_prior_periods, 1.0),
            groups=independent_groups(
                train["date"], horizon, pd.Timedelta(days=config.calibration_cluster_days)
            ),
        )
        return calibrator, ReturnMap(drift=drift)
    inner, valid = split
    scored = score_frame(fit_estimator(inner, features, horizon, config), valid)
    return calibrate(scored, horizon, config), return_map(scored, drift)


@dataclass
class EvaluationReport:
    horizon: str
    folds: list[dict[str, Any]]
    overall: dict[str, Any]
    oof: pd.DataFrame  # OOF_COLUMNS (+ "momentum" when the dataset has ret_<h>)
    params: list[dict[str, Any]] = field(default_factory=list)  # estimator params per fold
    device: str = "cpu"

    @property
    def n_folds(self) -> int:
        return len(self.folds)


def summarise(
    oof: pd.DataFrame, horizon: Horizon, threshold: float = 0.80, momentum: pd.Series | None = None
) -> dict[str, Any]:
    """Headline metrics of out-of-fold predictions (rank IC, calibration, portfolio)."""
    y = oof["y_return"].to_numpy(dtype=float)
    up = (y > 0).astype(float)
    prob = oof["prob_calibrated"]
    step = horizon.duration
    return {
        "n_predictions": len(oof),
        "test_start": oof["date"].min() if len(oof) else None,
        "test_end": oof["date"].max() if len(oof) else None,
        "rank_ic_mean": metrics.rank_ic(oof["score"], y, oof["date"]),
        "rank_ic_ir": metrics.rank_ic_ir(oof["score"], y, oof["date"]),
        "momentum_rank_ic_mean": (
            metrics.rank_ic(momentum, y, oof["date"]) if momentum is not None else math.nan
        ),
        "brier": metrics.brier(prob, up),
        "ece": metrics.ece(prob, up),
        "ece_estimate": metrics.ece(oof["prob_estimate"], up),
        "brier_raw": metrics.brier(oof["prob_raw"], up),
        "ece_raw": metrics.ece(oof["prob_raw"], up),
        "n_calls_at_80": metrics.n_calls_at(prob, threshold),
        "hit_rate_at_80": metrics.hit_rate_at(prob, up, threshold),
        "n_call_times_at_80": metrics.n_call_times(prob, oof["date"], threshold),
        "max_probability": float(prob.max()) if len(prob) else math.nan,
        "top_decile_return": metrics.top_decile_return(oof["score"], y, oof["date"], step=step),
        "equal_weight_return": metrics.equal_weight_return(y, oof["date"], step=step),
        "base_rate_up": float(up.mean()) if len(up) else math.nan,
    }


def folds_for(dataset: Dataset, config: TrainConfig) -> list[Fold]:
    """The walk-forward folds of a dataset (test blocks monthly, longer on long histories)."""
    data, horizon = dataset.labelled, dataset.horizon
    if data.empty:
        raise InsufficientDataError(
            f"{horizon.name}: no labelled rows (no coin has candles spanning the "
            f"{horizon.duration} horizon)"
        )
    first_test = data["date"].min() + config.min_train(horizon)
    folds = walk_forward_splits(
        data["date"],
        min_train=config.min_train(horizon),
        retrain_every=config.retrain_every(max(data["date"].max() - first_test, pd.Timedelta(0))),
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
    return folds


def _calibration_for(
    earlier: list[pd.DataFrame],
    fold: Fold,
    train: pd.DataFrame,
    features: list[str],
    horizon: Horizon,
    config: TrainConfig,
) -> tuple[Calibrator, ReturnMap, str]:
    known = pd.concat(earlier, ignore_index=True) if earlier else pd.DataFrame()
    if len(known):
        known = known[known["label_end"] <= fold.test_start]
    if len(known) >= config.min_calibration_rows:
        drift = market_drift(train)
        return calibrate(known, horizon, config), return_map(known, drift), "earlier_oof"
    calibrator, mapping = nested_calibration(train, features, horizon, config)
    return calibrator, mapping, "nested"


def predict_oof(
    estimator: SignalEstimator, calibrator: Calibrator, mapping: ReturnMap, test: pd.DataFrame
) -> pd.DataFrame:
    """Out-of-fold rows (OOF_COLUMNS without ``fold``) of a test block."""
    scored = score_frame(estimator, test)
    rank = within_date_rank(scored["score"].to_numpy(), scored["date"])
    return pd.DataFrame(
        {
            "symbol": test["symbol"].to_numpy(),
            "date": test["date"].to_numpy(),
            "score": scored["score"].to_numpy(),
            "pred_return": mapping.predict(rank),
            "prob_raw": scored["prob_raw"].to_numpy(),
            "prob_calibrated": calibrator.predict(scored["prob_raw"].to_numpy()),
            "prob_estimate": calibrator.estimate(scored["prob_raw"].to_numpy()),
            "y_return": scored["y_return"].to_numpy(),
            "label_end": test["label_end"].to_numpy(),
        }
    )


def walk_forward_evaluate(dataset: Dataset, config: TrainConfig | None = None) -> EvaluationReport:
    """Out-of-fold predictions and metrics of every walk-forward fold (see module docstring)."""
    config = config or TrainConfig()
    horizon, data, features = dataset.horizon, dataset.labelled, dataset.features
    parts: list[pd.DataFrame] = []
    fold_rows: list[dict[str, Any]] = []
    used: list[dict[str, Any]] = []
    device = "cpu"
    for fold in folds_for(dataset, config):
        train, test = data.iloc[fold.train_idx], data.iloc[fold.test_idx]
        estimator = fit_estimator(train, features, horizon, config)
        used.append(estimator.params())
        device = estimator.device
        calibrator, mapping, source = _calibration_for(
            parts, fold, train, features, horizon, config
        )
        part = predict_oof(estimator, calibrator, mapping, test)
        part.insert(2, "fold", fold.index)
        if dataset.momentum_column:
            part["momentum"] = test[dataset.momentum_column].to_numpy(dtype=float)
        parts.append(part)
        row = summarise(part, horizon, config.confidence_threshold, part.get("momentum"))
        row.update(
            fold=fold.index,
            n_train=len(train),
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
            len(train),
            fold.train_end.date(),
            len(test),
            row["rank_ic_mean"],
        )
    oof = pd.concat(parts, ignore_index=True)
    overall = summarise(oof, horizon, config.confidence_threshold, oof.get("momentum"))
    overall["n_folds"] = len(fold_rows)
    overall["test_start"] = fold_rows[0]["test_start"]
    overall["test_end"] = min(
        fold_rows[-1]["test_end"], oof["date"].max() + TIMEFRAMES[horizon.timeframe]
    )
    return EvaluationReport(horizon.name, fold_rows, overall, oof, used, device)
