"""Optuna search of an estimator's hyper-parameters, nested inside each walk-forward fold.

The search sees only a purged inner time split of the fold's TRAINING rows (never the test
block): it fits on the inner part and scores the rank IC of ``predict`` on the validation tail.
Each family contributes its search space here (``SEARCH_SPACES``); a family without one keeps
its defaults.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
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


SEARCH_SPACES: dict[str, Callable[[optuna.Trial], dict[str, Any]]] = {
    "lightgbm": _lightgbm_space,
}


def tune_params(
    train: pd.DataFrame, features: list[str], horizon: Horizon, config: TrainConfig
) -> dict[str, Any]:
    """The family's params for this fold: the configured ones, improved by ``optuna_trials``
    trials on an inner split when asked (and when the rows allow an inner split)."""
    from crypto_assets.ml.dataset import add_targets
    from crypto_assets.ml.estimators import make_estimator
    from crypto_assets.ml.walkforward import _inner_split, thin

    base = config.params_for(config.family, horizon, len(thin(train, horizon, config)))
    space = SEARCH_SPACES.get(config.family)
    if config.optuna_trials <= 0 or space is None:
        return base
    split = _inner_split(train, horizon, config)
    if split is None:
        log.info("optuna: training set too small for an inner split, keeping base params")
        return base
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    inner, valid = split
    inner = add_targets(thin(inner, horizon, config))

    def objective(trial: optuna.Trial) -> float:
        estimator = make_estimator(config.family, {**base, **space(trial)}, config.device)
        estimator.fit(inner, features)
        ic = metrics.rank_ic(estimator.predict(valid), valid["y_return"], valid["date"])
        return ic if math.isfinite(ic) else -1.0

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=int(base.get("seed", 42)))
    )
    study.optimize(objective, n_trials=config.optuna_trials, timeout=config.optuna_timeout_s)
    log.info(
        "optuna %s: inner rank IC %.4f with %s", horizon.name, study.best_value, study.best_params
    )
    return {**base, **study.best_params}
