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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crypto_assets.horizons import HORIZONS, TIMEFRAMES, Horizon
from crypto_assets.ml import metrics
from crypto_assets.ml.calibration import Calibrator, ReturnMap, fit_calibrator, fit_return_map
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import (
    Dataset,
    InsufficientDataError,
    add_targets,
    excess_return,
    utc_index,
    within_date_rank,
)
from crypto_assets.ml.estimators import SignalEstimator, make_estimator
from crypto_assets.ml.estimators.base import FIT_ROW, own_params
from crypto_assets.ml.splits import Fold, walk_forward_splits
from crypto_assets.ml.tuning import Tuner, tune_params

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
    keep = _thin_mask(frame, horizon, config)
    return frame if keep is None else frame[keep]


def _thin_mask(frame: pd.DataFrame, horizon: Horizon, config: TrainConfig) -> np.ndarray | None:
    stride = config.stride(horizon, len(frame), frame["date"].nunique())
    if stride <= 1:
        return None
    bar = (frame["date"].astype("int64") // TIMEFRAMES[horizon.timeframe].value).to_numpy()
    return bar % stride == 0


def training_frame(
    train: pd.DataFrame, horizon: Horizon, config: TrainConfig, context_bars: int = 1
) -> pd.DataFrame:
    """The frame an estimator learns from: thinned rows with their targets; a family that reads
    history (``context_bars`` > 1) gets every row, the thinned ones marked ``FIT_ROW``, so its
    sequences have no holes where thinning dropped timestamps."""
    slow = config.slow_target(horizon)
    if context_bars <= 1:
        return add_targets(thin(train, horizon, config), slow)
    keep = _thin_mask(train, horizon, config)
    marked = add_targets(train, slow)
    marked[FIT_ROW] = True if keep is None else keep
    return marked


def fit_estimator(
    train: pd.DataFrame,
    features: list[str],
    horizon: Horizon,
    config: TrainConfig,
    family: str | None = None,
    *,
    params: dict[str, Any] | None = None,
    tuner: Tuner | None = None,
    stage: str = "",
) -> SignalEstimator:
    """A fresh estimator of ``family`` (default ``config.family``) fitted on ``train``, with
    ``params`` when given, else the configured ones improved by ``tuner``'s nested search."""
    family = family or config.family
    if params is None:
        params = tune_params(train, features, horizon, config, family, tuner, stage)
    estimator = make_estimator(family, params, config.device)
    estimator.fit(training_frame(train, horizon, config, estimator.context_bars), features)
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
    return utc_index(dates).asi8 // max(period.value, 1)


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


def with_context(frame: pd.DataFrame, history: pd.DataFrame | None, bars: int) -> pd.DataFrame:
    """``frame`` preceded by the rows of ``history`` from the ``bars - 1`` dates before it (what a
    sequence family reads as the coins' recent past); ``frame`` alone when ``bars`` <= 1."""
    if bars <= 1 or history is None or not len(frame) or not len(history):
        return frame
    start = frame["date"].min()
    before = np.sort(history.loc[history["date"] < start, "date"].unique())[-(bars - 1) :]
    if not len(before):
        return frame
    past = history[(history["date"] >= before[0]) & (history["date"] < start)]
    return pd.concat([past, frame], ignore_index=True)


def score_frame(
    estimator: SignalEstimator, frame: pd.DataFrame, history: pd.DataFrame | None = None
) -> pd.DataFrame:
    """date, score, prob_raw, y_return (+ label_end) of ``frame`` under ``estimator``; rows of
    ``history`` just before ``frame`` serve a sequence family as context (never scored)."""
    full = with_context(frame, history, estimator.context_bars)
    skip = len(full) - len(frame)
    out = pd.DataFrame(
        {
            "date": frame["date"].array,
            "score": estimator.predict(full)[skip:],
            "prob_raw": estimator.predict_proba(full)[skip:],
            "y_return": frame["y_return"].to_numpy(dtype=float),
        }
    )
    if "label_end" in frame:
        out["label_end"] = frame["label_end"].to_numpy()
    return out


# (inner rows, validation rows) -> the validation rows scored by a model fitted on the inner rows
InnerScorer = Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]


def nested_calibration(
    train: pd.DataFrame,
    features: list[str],
    horizon: Horizon,
    config: TrainConfig,
    scorer: InnerScorer | None = None,
) -> tuple[Calibrator, ReturnMap]:
    """Calibrator and return map from an inner purged split of the training rows (used before
    any earlier out-of-fold predictions exist). ``scorer`` fits on the inner rows and scores
    the validation rows (default: ``fit_estimator`` with the configured family)."""
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
    if scorer is None:
        scored = score_frame(fit_estimator(inner, features, horizon, config), valid, train)
    else:
        scored = scorer(inner, valid)
    return calibrate(scored, horizon, config), return_map(scored, drift)


@dataclass
class EvaluationReport:
    horizon: str
    folds: list[dict[str, Any]]
    overall: dict[str, Any]
    oof: pd.DataFrame  # OOF_COLUMNS (+ "momentum" when the dataset has ret_<h>)
    params: list[dict[str, Any]] = field(default_factory=list)  # estimator params per fold
    device: str = "cpu"
    family: str = "lightgbm"
    seconds: float = 0.0  # wall time of its fits, tuning, scoring and calibration
    cpu_seconds: float = 0.0  # the same in CPU time (robust to a busy machine)
    tuning: dict[str, Any] = field(default_factory=dict)  # Tuner.summary()
    trials: list[dict[str, Any]] = field(default_factory=list)  # every Optuna trial
    tuner: Tuner | None = field(default=None, repr=False)  # to continue into the final fit

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


# What ``figures_since`` keeps of ``summarise``: enough to see the recent months beside the span.
SINCE_KEYS = (
    "n_predictions",
    "test_start",
    "test_end",
    "rank_ic_mean",
    "momentum_rank_ic_mean",
    "ece",
    "brier",
    "max_probability",
    "base_rate_up",
)


def figures_since(
    report: EvaluationReport, since: pd.Timestamp, threshold: float = 0.80
) -> dict[str, Any]:
    """The report's headline figures on its out-of-fold rows dated ``since`` or later.

    With older history from another source the walk-forward judges years of it, where the
    calibration holds; the stored days alone may be a regime it does not, and a user must see
    both (benchmarks/README.md, "Years of real Binance history")."""
    part = report.oof[report.oof["date"] >= since]
    figures = summarise(part, HORIZONS[report.horizon], threshold, part.get("momentum"))
    return {k: figures[k] for k in SINCE_KEYS}


def folds_for(dataset: Dataset, config: TrainConfig) -> list[Fold]:
    """The walk-forward folds of a dataset (test blocks monthly, longer on long histories)."""
    data, horizon = dataset.labelled, dataset.horizon
    if data.empty:
        raise InsufficientDataError(
            f"{horizon.name}: no labelled rows (no coin has candles spanning the "
            f"{horizon.duration} horizon)"
        )
    first_test = config.first_test(horizon, data["date"].min())
    min_train = first_test - data["date"].min()
    folds = walk_forward_splits(
        data["date"],
        min_train=min_train,
        retrain_every=config.retrain_every(max(data["date"].max() - first_test, pd.Timedelta(0))),
        horizon=horizon.duration,
        embargo=config.embargo(horizon),
        label_end=data["label_end"],
        min_train_rows=config.min_train_rows,
    )
    if not folds:
        span = data["date"].max() - data["date"].min()
        need = min_train + config.embargo(horizon)
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
    scorer: InnerScorer | None = None,
) -> tuple[Calibrator, ReturnMap, str]:
    known = pd.concat(earlier, ignore_index=True) if earlier else pd.DataFrame()
    if len(known):
        known = known[known["label_end"] <= fold.test_start]
    if len(known) >= config.min_calibration_rows:
        drift = market_drift(train)
        return calibrate(known, horizon, config), return_map(known, drift), "earlier_oof"
    calibrator, mapping = nested_calibration(train, features, horizon, config, scorer)
    return calibrator, mapping, "nested"


def predict_oof(
    estimator: SignalEstimator,
    calibrator: Calibrator,
    mapping: ReturnMap,
    test: pd.DataFrame,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Out-of-fold rows (OOF_COLUMNS without ``fold``) of a test block (``history``: earlier
    rows a sequence family reads as context)."""
    return oof_rows(score_frame(estimator, test, history), calibrator, mapping, test)


def oof_rows(
    scored: pd.DataFrame, calibrator: Calibrator, mapping: ReturnMap, test: pd.DataFrame
) -> pd.DataFrame:
    """Out-of-fold rows of a test block from its ``score_frame``."""
    rank = within_date_rank(scored["score"].to_numpy(), scored["date"])
    return pd.DataFrame(
        {
            "symbol": test["symbol"].to_numpy(),
            "date": test["date"].array,
            "score": scored["score"].to_numpy(),
            "pred_return": mapping.predict(rank),
            "prob_raw": scored["prob_raw"].to_numpy(),
            "prob_calibrated": calibrator.predict(scored["prob_raw"].to_numpy()),
            "prob_estimate": calibrator.estimate(scored["prob_raw"].to_numpy()),
            "y_return": scored["y_return"].to_numpy(),
            "label_end": test["label_end"].to_numpy(),
        }
    )


def ensemble_scored(ensemble: Any, members: list[pd.DataFrame]) -> pd.DataFrame:
    """An ensemble's ``score_frame`` from its members' (the same rows): what its ``predict``
    and ``predict_proba`` would give, without scoring the rows again."""
    score, prob = ensemble.combine(
        [m["score"].to_numpy() for m in members], [m["prob_raw"].to_numpy() for m in members]
    )
    return members[0].assign(score=score, prob_raw=prob)


@dataclass
class _Candidate:
    """One candidate's running state over the folds of a walk-forward."""

    name: str
    tuner: Tuner | None = None
    parts: list[pd.DataFrame] = field(default_factory=list)
    fold_rows: list[dict[str, Any]] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    device: str = "cpu"

    @contextmanager
    def timed(self) -> Iterator[None]:
        """Add the wall and CPU time of the block to this candidate's cost."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - wall
            self.cpu_seconds += time.process_time() - cpu

    def report(self, horizon: Horizon, config: TrainConfig) -> EvaluationReport:
        oof = pd.concat(self.parts, ignore_index=True)
        overall = summarise(oof, horizon, config.confidence_threshold, oof.get("momentum"))
        overall["n_folds"] = len(self.fold_rows)
        overall["test_start"] = self.fold_rows[0]["test_start"]
        overall["test_end"] = min(
            self.fold_rows[-1]["test_end"], oof["date"].max() + TIMEFRAMES[horizon.timeframe]
        )
        tuner = self.tuner
        return EvaluationReport(
            horizon.name,
            self.fold_rows,
            overall,
            oof,
            self.params,
            self.device,
            self.name,
            self.seconds,
            self.cpu_seconds,
            tuner.summary() if tuner and tuner.active else {},
            list(tuner.trials) if tuner else [],
            tuner,
        )


def walk_forward_evaluate(dataset: Dataset, config: TrainConfig | None = None) -> EvaluationReport:
    """Out-of-fold predictions and metrics of ``config.family`` on every walk-forward fold."""
    config = config or TrainConfig()
    return walk_forward_zoo(dataset, config, [config.family], ensemble=False)[config.family]


def walk_forward_zoo(
    dataset: Dataset,
    config: TrainConfig | None = None,
    families: list[str] | None = None,
    ensemble: bool | None = None,
) -> dict[str, EvaluationReport]:
    """Every family (default ``config.families_for`` the dataset's size) on the SAME purged
    folds, and their ensemble (``config.ensemble``, with two families or more) built from the
    same fitted members: per candidate, out-of-fold predictions calibrated on earlier folds
    only (see the module docstring), metrics, and its cost in seconds."""
    config = config or TrainConfig()
    horizon, data = dataset.horizon, dataset.labelled
    families = list(families or config.families_for(horizon, len(data)))
    with_ensemble = (config.ensemble if ensemble is None else ensemble) and len(families) > 1
    folds = folds_for(dataset, config)
    states = {f: _Candidate(f, Tuner.for_family(f, horizon, config, len(data))) for f in families}
    if with_ensemble:
        states["ensemble"] = _Candidate("ensemble")
    for fold in folds:
        train, test = data.iloc[fold.train_idx], data.iloc[fold.test_idx]
        fitted = _fit_fold(fold, train, dataset, config, families, states)
        inner = _InnerScores(train, dataset, config, fitted)
        scored: dict[str, pd.DataFrame] = {}
        for name, estimator in fitted.items():
            state = states[name]
            with state.timed():
                if name == "ensemble":  # from its members' scores: the rows are not scored again
                    scored[name] = ensemble_scored(estimator, [scored[f] for f in families])
                else:
                    scored[name] = score_frame(estimator, test, data)
                _score_fold(
                    state,
                    estimator,
                    scored[name],
                    fold,
                    (train, test),
                    dataset,
                    config,
                    inner.scorer(name),
                )
        # the next fold's rows are copied before these names are rebound: free this fold's
        # first (on years of hourly candles two training copies were the backtest's peak)
        del train, test, fitted, inner, scored
    return {name: state.report(horizon, config) for name, state in states.items()}


def _fit_fold(
    fold: Fold,
    train: pd.DataFrame,
    dataset: Dataset,
    config: TrainConfig,
    families: list[str],
    states: dict[str, _Candidate],
) -> dict[str, SignalEstimator]:
    """Each family fitted on the fold's training rows (tuned by its own tuner) and, when
    judged, the ensemble assembled from them."""
    from crypto_assets.ml.estimators import EnsembleEstimator

    horizon, features = dataset.horizon, dataset.features
    fitted: dict[str, SignalEstimator] = {}
    for family in families:
        with states[family].timed():
            tuner, stage = states[family].tuner, f"fold {fold.index}"
            params = tune_params(train, features, horizon, config, family, tuner, stage)
            fitted[family] = fit_estimator(train, features, horizon, config, family, params=params)
    if "ensemble" in states:
        with states["ensemble"].timed():
            members = [fitted[f] for f in families]
            fitted["ensemble"] = EnsembleEstimator.from_members(members, train, features)
    return fitted


class _InnerScores:
    """Nested calibration's inner fits for one fold, each family fitted and scored at most
    once (with the params of its fold fit); the ensemble's from its members' scores."""

    def __init__(
        self,
        train: pd.DataFrame,
        dataset: Dataset,
        config: TrainConfig,
        fitted: dict[str, SignalEstimator],
    ) -> None:
        self.train, self.dataset, self.config = train, dataset, config
        self.fitted = fitted
        self.estimators: dict[str, SignalEstimator] = {}
        self.scored: dict[str, pd.DataFrame] = {}

    def scorer(self, name: str) -> InnerScorer:
        return lambda inner, valid: self.score(name, inner, valid)

    def score(self, name: str, inner: pd.DataFrame, valid: pd.DataFrame) -> pd.DataFrame:
        from crypto_assets.ml.estimators import EnsembleEstimator

        if name in self.scored:
            return self.scored[name]
        if name == "ensemble":
            members = [f for f in self.fitted if f != "ensemble"]
            scored = [self.score(f, inner, valid) for f in members]
            estimators = [self.estimators[f] for f in members]
            ensemble = EnsembleEstimator.from_members(estimators, inner, self.dataset.features)
            self.scored[name] = ensemble_scored(ensemble, scored)
            return self.scored[name]
        ds = self.dataset
        params = own_params(self.fitted[name])
        estimator = fit_estimator(inner, ds.features, ds.horizon, self.config, name, params=params)
        self.estimators[name] = estimator
        self.scored[name] = score_frame(estimator, valid, self.train)
        return self.scored[name]


def _score_fold(
    state: _Candidate,
    estimator: SignalEstimator,
    scored: pd.DataFrame,
    fold: Fold,
    rows: tuple[pd.DataFrame, pd.DataFrame],
    dataset: Dataset,
    config: TrainConfig,
    scorer: InnerScorer,
) -> None:
    """Calibrate a candidate (earlier folds, else nested), turn its scores of the test block
    into out-of-fold rows and record the fold's figures."""
    train, test = rows
    horizon = dataset.horizon
    calibrator, mapping, source = _calibration_for(
        state.parts, fold, train, dataset.features, horizon, config, scorer
    )
    part = oof_rows(scored, calibrator, mapping, test)
    part.insert(2, "fold", fold.index)
    if dataset.momentum_column:
        part["momentum"] = test[dataset.momentum_column].to_numpy(dtype=float)
    state.parts.append(part)
    state.params.append(estimator.params())
    state.device = estimator.device
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
    state.fold_rows.append(row)
    log.info(
        "%s %s fold %d: train %d rows to %s, test %d rows, rank IC %.4f",
        horizon.name,
        state.name,
        fold.index,
        len(train),
        fold.train_end.date(),
        len(test),
        row["rank_ic_mean"],
    )
