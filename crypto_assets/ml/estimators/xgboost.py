"""XGBoost behind the estimator interface: the same targets, seeds and feature views as LightGBM.

A second gradient-boosting implementation is worth having beside LightGBM because it grows
trees differently (depth-wise, not leaf-wise) and so errs differently: the model zoo judges it
on the same purged folds and an ensemble may average the two. Shallow trees, many rows per
leaf, row and column bagging, ``n_seeds`` bagging seeds and one score model per feature VIEW
averaged, as in ``estimators.lightgbm`` (whose docstring says why).

SHAP: XGBoost's own exact TreeSHAP (``pred_contribs``), the probability model's on its log-odds.

GPU: ``device="cuda"`` when this build has CUDA and a GPU answers. ``xgboost_device`` probes
once with a tiny fit and reads the device XGBoost actually used (it silently falls back to the
CPU when no GPU is visible), logged; the pinned ``xgboost-cpu`` wheel has no CUDA, so this
machine trains on the CPU (README "GPU" says how to install the CUDA build).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import xgboost as xgb
from pydantic import BaseModel, Field

from crypto_assets.ml.estimators.base import (
    Output,
    explained_rows,
    feature_matrix,
    fit_rows,
    place_contributions,
    score_fits,
)

log = logging.getLogger(__name__)


class XGBParams(BaseModel):
    """Hyper-parameters of both boosters (score and probability)."""

    n_estimators: int = Field(200, ge=1)
    learning_rate: float = Field(0.03, gt=0)
    max_depth: int = Field(4, ge=1)
    # Sum of hessians per leaf: one per row for the score's squared loss, so ~rows per leaf;
    # the classifier's rows weigh p(1 - p) <= 1/4 each, so it gets a quarter of this.
    min_child_weight: float = Field(50.0, ge=0)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    max_bin: int = Field(256, ge=2)
    n_seeds: int = Field(3, ge=1)
    seed: int = 42
    views: list[list[str]] | None = None  # as LGBMParams.views
    slow_views: list[list[str]] | None = None  # as LGBMParams.slow_views
    nthread: int = Field(0, ge=0)  # 0 = half the logical CPUs (see LGBMParams.num_threads)

    def threads(self) -> int:
        return self.nthread or max(1, (os.cpu_count() or 2) // 2)

    def booster_params(self, objective: str, device: str, seed: int) -> dict[str, Any]:
        binary = objective == "binary:logistic"
        return {
            "objective": objective,
            "eta": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight / 4 if binary else self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "max_bin": self.max_bin,
            "tree_method": "hist",
            "device": device,
            "seed": seed,
            "nthread": self.threads(),
            "verbosity": 0,
        }


@lru_cache(maxsize=1)
def xgboost_device() -> str:
    """'cuda' when this XGBoost build has CUDA and a tiny fit really ran on a GPU, else 'cpu'."""
    if not xgb.build_info().get("USE_CUDA", False):
        log.info("xgboost: this build has no CUDA (xgboost-cpu), training on cpu")
        return "cpu"
    x = np.arange(200, dtype=np.float32).reshape(100, 2)
    y = np.arange(100, dtype=np.float32) % 2
    try:
        with warnings.catch_warnings():  # "Device is changed from GPU to CPU ..."
            warnings.simplefilter("ignore")
            booster = xgb.train(
                {"device": "cuda", "objective": "binary:logistic", "max_depth": 1},
                xgb.DMatrix(x, y),
                num_boost_round=1,
            )
        used = json.loads(booster.save_config())["learner"]["generic_param"]["device"]
    except xgb.core.XGBoostError as exc:
        log.info("xgboost: device=cuda unavailable (%s), training on cpu", str(exc)[:120])
        return "cpu"
    if not str(used).startswith("cuda"):
        log.info("xgboost: CUDA build but no GPU answered (device %s), training on cpu", used)
        return "cpu"
    log.info("xgboost: training on device=cuda")
    return "cuda"


def resolve_device(requested: str) -> str:
    """The device to train on: the probe's answer for 'auto'; 'cuda' / 'gpu' only when the probe
    finds one (else the CPU, with a warning rather than a false 'cuda' in the logs)."""
    if requested == "auto":
        return xgboost_device()
    if requested in ("cuda", "gpu"):
        found = xgboost_device()
        if found != "cuda":
            log.warning("xgboost: %s requested but none is usable; training on cpu", requested)
        return found
    return "cpu"


class XGBoostEstimator:
    """Score = mean of ``n_seeds`` x views regressors on ``y_rank`` (and x slow views on
    ``y_rank_slow`` where given); probability = mean log-odds of ``n_seeds`` binary
    classifiers on ``y_up``."""

    family: ClassVar[str] = "xgboost"
    params_model: ClassVar[type[BaseModel]] = XGBParams
    context_bars: ClassVar[int] = 1

    def __init__(self, params: XGBParams | dict[str, Any] | None = None, device: str = "auto"):
        self.hyper = XGBParams.model_validate(params or {})
        self.device = resolve_device(device)
        self.features: list[str] = []
        self.scorers: list[xgb.Booster] = []
        self.classifiers: list[xgb.Booster] = []

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        self.features = list(features)
        train = fit_rows(train)
        y_up = train["y_up"].to_numpy(dtype=np.float32)
        fits = [
            (rows, view, target.astype(np.float32))
            for rows, view, target in score_fits(
                train, self.features, self.hyper.views, self.hyper.slow_views
            )
        ]
        self.scorers, self.classifiers = [], []
        for k in range(self.hyper.n_seeds):
            seed = self.hyper.seed + k
            for rows, view, target in fits:
                self.scorers.append(self._train("reg:squarederror", rows, view, target, seed))
            self.classifiers.append(
                self._train("binary:logistic", train, self.features, y_up, seed)
            )

    def _train(
        self, objective: str, train: pd.DataFrame, names: list[str], y: np.ndarray, seed: int
    ) -> xgb.Booster:
        params = self.hyper.booster_params(objective, self.device, seed)
        if objective == "binary:logistic" and len(np.unique(y)) < 2:
            params["base_score"] = 0.5  # one class: no intercept to estimate from the data
        data = xgb.DMatrix(feature_matrix(train, names), y, feature_names=names)
        return xgb.train(params, data, num_boost_round=self.hyper.n_estimators)

    def _mean(
        self, boosters: list[xgb.Booster], frame: pd.DataFrame, contribs: bool = False
    ) -> np.ndarray:
        """Mean margin of ``boosters`` (each on its own feature names); with ``contribs`` the
        TreeSHAP values placed into the full feature columns (+ bias) before averaging."""
        if not boosters:
            raise RuntimeError("XGBoostEstimator is not fitted")
        feature_matrix(frame, self.features)  # every fitted feature must be there
        if not len(frame):
            return np.empty((0, len(self.features) + 1)) if contribs else np.empty(0)
        outputs = []
        for booster in boosters:
            names = list(booster.feature_names or [])
            data = xgb.DMatrix(feature_matrix(frame, names), feature_names=names)
            if contribs:
                values = place_contributions(
                    booster.predict(data, pred_contribs=True), names, self.features
                )
            else:
                values = booster.predict(data, output_margin=True)
            outputs.append(np.asarray(values, dtype=np.float64))
        return np.mean(outputs, axis=0)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self._mean(self.scorers, frame)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """The seeds are averaged on the log-odds scale (so ``explain`` adds up to it)."""
        return 1.0 / (1.0 + np.exp(-self._mean(self.classifiers, frame)))

    def explain(
        self, frame: pd.DataFrame, output: Output = "score", rows: np.ndarray | None = None
    ) -> pd.DataFrame:
        boosters = self.scorers if output == "score" else self.classifiers
        frame = explained_rows(frame, rows)
        values = self._mean(boosters, frame, contribs=True)
        return pd.DataFrame(values, columns=[*self.features, "bias"], index=frame.index)

    def params(self) -> dict[str, Any]:
        return {**self.hyper.model_dump(), "device": self.device}

    def save(self, directory: Path) -> None:
        path = Path(directory)
        for kind, boosters in (("score", self.scorers), ("proba", self.classifiers)):
            for k, booster in enumerate(boosters):
                booster.save_model(str(path / f"{kind}_{k}.ubj"))
        meta = {"params": self.hyper.model_dump(), "features": self.features}
        (path / "xgboost.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> Self:
        path = Path(directory)
        meta = json.loads((path / "xgboost.json").read_text())
        model = cls(meta["params"], device="cpu")
        model.features = list(meta["features"])
        threads = model.hyper.threads()
        model.scorers = _load_all(path, "score", threads)
        model.classifiers = _load_all(path, "proba", threads)
        return model


def _load_all(path: Path, kind: str, threads: int) -> list[xgb.Booster]:
    files = sorted(path.glob(f"{kind}_*.ubj"), key=lambda p: int(p.stem.split("_")[1]))
    boosters = []
    for file in files:
        booster = xgb.Booster(model_file=str(file))
        booster.set_param({"device": "cpu", "nthread": threads})
        boosters.append(booster)
    return boosters
