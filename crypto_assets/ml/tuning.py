"""Optuna search of an estimator's hyper-parameters, nested inside each walk-forward fold.

The search sees only a purged inner time split of the fold's TRAINING rows (never the test
block): it fits on the inner part and scores the rank IC of ``predict`` on the validation tail.
Each family contributes its search space here (``SEARCH_SPACES``); a family without one keeps
its defaults. The first trial of every search is the configured default, so a search only moves
away from it when something scored better on the inner split.

Cost is bounded by a time budget per family and horizon (``TrainConfig.optuna_budget_s``) that
one ``Tuner`` spends over a whole walk-forward and the final fit: a new search runs only once
the training set has grown ``optuna_regrow`` times since the last one (folds in between reuse
the params found then, which were chosen on rows those folds also train on, so nothing from a
test block leaks), and each search gets the budget left divided by the searches still to come.
Trials are fitted with one seed (the seeds of the final fit only lower variance). The best
trial replaces the defaults only when its gain on the inner split is larger than that split's
noise (``significant_gain``). With a time
budget the number of trials depends on the machine's speed, so tuned results are reproducible
only with ``optuna_budget_s`` 0 (the tests) or a fixed number of trials and ample time.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crypto_assets.horizons import Horizon
from crypto_assets.ml import metrics
from crypto_assets.ml.config import TrainConfig

if TYPE_CHECKING:
    import optuna
    import pandas as pd

log = logging.getLogger(__name__)


def _lightgbm_space(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "num_leaves": trial.suggest_int("num_leaves", 7, 31),
        "min_child_samples": trial.suggest_int("min_child_samples", 20, 300, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-2, 30.0, log=True),
    }


def _xgboost_space(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 6),
        "min_child_weight": trial.suggest_float("min_child_weight", 10.0, 300.0, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-2, 30.0, log=True),
    }


def _rnn_space(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "hidden": trial.suggest_categorical("hidden", [16, 32, 64]),
        "length": trial.suggest_categorical("length", [8, 16, 32]),
        "learning_rate": trial.suggest_float("learning_rate", 5e-4, 5e-3, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        "weight_decay": trial.suggest_float("weight_decay", 1e-5, 1e-2, log=True),
    }


SEARCH_SPACES: dict[str, Callable[[optuna.Trial], dict[str, Any]]] = {
    "lightgbm": _lightgbm_space,
    "xgboost": _xgboost_space,
    "rnn": _rnn_space,
}


@dataclass
class Tuner:
    """One family's Optuna budget over one horizon's walk-forward and final fit, where it
    searched, and every trial (what the MLflow run logs)."""

    family: str
    budget_s: float
    max_trials: int
    regrow: float
    final_rows: int = 0  # training rows of the final fit (to plan the searches still to come)
    spent_s: float = 0.0
    searched_rows: int = 0  # training rows at the last search
    best: dict[str, Any] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def for_family(
        cls, family: str, horizon: Horizon, config: TrainConfig, final_rows: int = 0
    ) -> Tuner:
        budget = config.tuning_budget(horizon) if family in SEARCH_SPACES else 0.0
        return cls(family, budget, config.optuna_trials, config.optuna_regrow, final_rows)

    @property
    def active(self) -> bool:
        return self.budget_s > 0 and self.max_trials > 0

    def due(self, rows: int) -> bool:
        """A new search now: budget left, and the training set has grown enough."""
        if not self.active or self.spent_s >= self.budget_s:
            return False
        return self.searched_rows == 0 or rows >= self.searched_rows * self.regrow

    def share(self, rows: int) -> float:
        """Seconds for a search now: the budget left over the searches still to come."""
        left = self.budget_s - self.spent_s
        final = max(self.final_rows, rows)
        to_come = 1 + (int(math.log(final / rows) / math.log(self.regrow)) if final > rows else 0)
        return left / max(1, to_come)

    def summary(self) -> dict[str, Any]:
        """Figures for MLflow: searches, trials, seconds spent, the latest params found."""
        stages = {t["stage"] for t in self.trials}
        return {
            "searches": len(stages),
            "trials": len(self.trials),
            "seconds": round(self.spent_s, 1),
            "budget_s": self.budget_s,
            "best": dict(self.best),
        }


def tune_params(
    train: pd.DataFrame,
    features: list[str],
    horizon: Horizon,
    config: TrainConfig,
    family: str | None = None,
    tuner: Tuner | None = None,
    stage: str = "",
) -> dict[str, Any]:
    """The family's params for this training set: the configured ones, with the tuner's latest
    search result on top (a new search when one is due and the rows allow an inner split)."""
    from crypto_assets.ml.walkforward import _inner_split, thin

    family = family or config.family
    base = config.params_for(family, horizon, len(thin(train, horizon, config)))
    if tuner is None or not tuner.due(len(train)):
        return {**base, **(tuner.best if tuner else {})}
    split = _inner_split(train, horizon, config)
    if split is None:
        log.info("optuna %s: training set too small for an inner split", family)
        return {**base, **tuner.best}
    started = time.perf_counter()
    tuner.best = _search(split, train, features, horizon, config, tuner, base, stage)
    tuner.spent_s += time.perf_counter() - started
    tuner.searched_rows = len(train)
    return {**base, **tuner.best}


def _search(
    split: tuple[pd.DataFrame, pd.DataFrame],
    train: pd.DataFrame,
    features: list[str],
    horizon: Horizon,
    config: TrainConfig,
    tuner: Tuner,
    base: dict[str, Any],
    stage: str,
) -> dict[str, Any]:
    """One Optuna study on the inner split; the best params of the search space."""
    import optuna

    from crypto_assets.ml.estimators import estimator_class, make_estimator
    from crypto_assets.ml.walkforward import score_frame, training_frame

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SEARCH_SPACES[tuner.family]
    inner, valid = split
    history = inner[inner["date"] < valid["date"].min()]
    frames: dict[int, pd.DataFrame] = {}
    series: dict[int, pd.Series] = {}

    def objective(trial: optuna.Trial) -> float:
        t0 = time.perf_counter()
        params = {**base, **space(trial)}
        if "n_seeds" in params:
            params["n_seeds"] = 1
        estimator = make_estimator(tuner.family, params, config.device)
        bars = estimator.context_bars
        if bars not in frames:
            frames[bars] = training_frame(inner, horizon, config, bars)
        estimator.fit(frames[bars], features)
        scored = score_frame(estimator, valid, history)
        series[trial.number] = metrics.rank_ic_series(
            scored["score"], scored["y_return"], scored["date"]
        )
        ic = float(series[trial.number].mean()) if len(series[trial.number]) else math.nan
        value = ic if math.isfinite(ic) else -1.0
        tuner.trials.append(
            {
                "stage": stage,
                "train_rows": len(train),
                "trial": trial.number,
                "value": value,
                "params": dict(trial.params),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
        return value

    sampler = optuna.samplers.TPESampler(seed=int(base.get("seed", 42)))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    resolved = estimator_class(tuner.family).params_model.model_validate(base).model_dump()
    defaults = {k: resolved[k] for k in _space_names(space)}
    study.enqueue_trial(defaults, skip_if_exists=True)
    if tuner.best:
        study.enqueue_trial(tuner.best, skip_if_exists=True)
    study.optimize(objective, n_trials=tuner.max_trials, timeout=tuner.share(len(train)))
    best = study.best_trial
    edge = significant_gain(series[best.number], series[0], horizon, valid)
    log.info(
        "optuna %s %s %s: %d trials, best inner rank IC %.4f (default %.4f): %s",
        tuner.family,
        horizon.name,
        stage,
        len(study.trials),
        best.value,
        study.trials[0].value,
        "adopted" if edge else "within noise, default kept",
    )
    return dict(best.params) if edge else defaults


def significant_gain(
    candidate: pd.Series, default: pd.Series, horizon: Horizon, valid: pd.DataFrame
) -> bool:
    """Whether ``candidate``'s per-date rank IC beats the default's on the validation dates by
    more than two standard errors of their paired difference. A validation tail of a few weeks
    holds few independent periods (labels of consecutive dates overlap by the horizon), so the
    best of many trials usually wins by chance: in an exploratory run on binance_2024 (figures
    not kept; benchmarks/model_zoo.py re-measures), adopting it unconditionally LOWERED the
    out-of-sample rank IC."""
    import numpy as np

    diff = (candidate - default).dropna()
    if len(diff) < 3:
        return False
    span = valid["date"].max() - valid["date"].min() + horizon.duration
    independent = max(2.0, min(float(len(diff)), span / horizon.duration))
    spread = float(diff.std(ddof=1))
    if not np.isfinite(spread) or spread == 0:
        return float(diff.mean()) > 0
    return float(diff.mean()) > 2 * spread / math.sqrt(independent)


def _space_names(space: Callable[[optuna.Trial], dict[str, Any]]) -> set[str]:
    """The parameter names a search space suggests (by running it on a throwaway trial)."""
    import optuna

    probe = optuna.create_study()
    return set(space(probe.ask()).keys())
