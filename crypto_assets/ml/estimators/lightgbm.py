"""LightGBM behind the estimator interface: small, regularised trees, seeds and views averaged.

The signal in returns is weak and easy to overfit, so the trees are shallow, leaves need many
rows, rows and columns are bagged, and ``n_seeds`` models that differ only in their bagging seed
are averaged (variance down, nothing tuned on test data). The ranking score may also average one
model per feature VIEW (``views``: e.g. the technical indicators and the return profile,
``features.pipeline.feature_views``): two views of the same coins disagree in their errors more
than two seeds do. The probability model sees every feature (the market regime included).

GPU: LightGBM's pip wheel has no CUDA or OpenCL learner; ``lightgbm_device`` probes once with a
tiny fit and falls back to the CPU, logged — a CUDA build (README "GPU") is used when present.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
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


class LGBMParams(BaseModel):
    """Hyper-parameters of both boosters (score and probability)."""

    n_estimators: int = Field(200, ge=1)
    learning_rate: float = Field(0.03, gt=0)
    num_leaves: int = Field(15, ge=2)
    min_child_samples: int = Field(50, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    n_seeds: int = Field(3, ge=1)
    seed: int = 42
    # Feature groups the ranking score fits one model each on (None: one model on all).
    views: list[list[str]] | None = None
    # Feature groups fitted on ``y_rank_slow`` (a longer horizon's rank) and averaged into the
    # score; None: no such models ([]: one on every feature). Left out without enough rows.
    slow_views: list[list[str]] | None = None
    # 0 = auto: half the logical CPUs (~ the physical cores). LightGBM's OpenMP threads spin
    # while waiting, so more threads than free cores is dramatically slower on a busy machine
    # (measured on 2 cores under load: 300 rounds on 60k rows 3.4 s with 1 thread, 50 s with 2).
    num_threads: int = Field(0, ge=0)

    def threads(self) -> int:
        return self.num_threads or max(1, (os.cpu_count() or 2) // 2)

    def booster_params(self, objective: str, device: str, seed: int) -> dict[str, Any]:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "seed": seed,
            "deterministic": True,
            "num_threads": self.threads(),
            "device_type": device,
            "verbose": -1,
        }


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


class LightGBMEstimator:
    """Score = mean of ``n_seeds`` x views regressors on ``y_rank`` (and as many x slow views on
    ``y_rank_slow`` where given); probability = mean of ``n_seeds`` binary classifiers on
    ``y_up``."""

    family: ClassVar[str] = "lightgbm"
    params_model: ClassVar[type[BaseModel]] = LGBMParams
    context_bars: ClassVar[int] = 1

    def __init__(self, params: LGBMParams | dict[str, Any] | None = None, device: str = "auto"):
        self.hyper = LGBMParams.model_validate(params or {})
        self.device = lightgbm_device() if device == "auto" else device
        self.features: list[str] = []
        self.scorers: list[lgb.Booster] = []
        self.classifiers: list[lgb.Booster] = []

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        self.features = list(features)
        train = fit_rows(train)
        y_up = train["y_up"].to_numpy(dtype=float)
        fits = score_fits(train, self.features, self.hyper.views, self.hyper.slow_views)
        self.scorers, self.classifiers = [], []
        for k in range(self.hyper.n_seeds):
            seed = self.hyper.seed + k
            for rows, view, target in fits:
                x = feature_matrix(rows, view)
                self.scorers.append(self._train("regression", x, target, seed, view))
            x = feature_matrix(train, self.features)
            self.classifiers.append(self._train("binary", x, y_up, seed, self.features))

    def _train(
        self, objective: str, x: np.ndarray, y: np.ndarray, seed: int, names: list[str]
    ) -> lgb.Booster:
        params = self.hyper.booster_params(objective, self.device, seed)
        if objective == "binary" and len(np.unique(y)) < 2:
            params["boost_from_average"] = True  # one class: a constant model is all there is
        data = lgb.Dataset(x, y, feature_name=names, free_raw_data=True)
        return lgb.train(params, data, num_boost_round=self.hyper.n_estimators)

    def _mean(self, boosters: list[lgb.Booster], frame: pd.DataFrame, **kwargs: Any) -> np.ndarray:
        """Mean output of ``boosters`` (each on its own feature names); with ``pred_contrib``
        the contributions are placed into the full feature columns (+ bias) before averaging."""
        if not boosters:
            raise RuntimeError("LightGBMEstimator is not fitted")
        feature_matrix(frame, self.features)  # every fitted feature must be there
        contrib = "pred_contrib" in kwargs
        if not len(frame):
            return np.empty((0, len(self.features) + 1)) if contrib else np.empty(0)
        outputs = []
        for booster in boosters:
            names = booster.feature_name()
            values = booster.predict(feature_matrix(frame, names), **kwargs)
            if contrib:
                values = place_contributions(values, names, self.features)
            outputs.append(values)
        return np.mean(outputs, axis=0)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self._mean(self.scorers, frame)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """The seeds are averaged on the log-odds scale (so ``explain`` adds up to it)."""
        margin = self._mean(self.classifiers, frame, raw_score=True)
        return 1.0 / (1.0 + np.exp(-margin))

    def explain(
        self, frame: pd.DataFrame, output: Output = "score", rows: np.ndarray | None = None
    ) -> pd.DataFrame:
        """Exact TreeSHAP from LightGBM itself (``pred_contrib``), averaged over the seeds; the
        probability model's contributions are on its log-odds scale."""
        boosters = self.scorers if output == "score" else self.classifiers
        frame = explained_rows(frame, rows)
        values = self._mean(boosters, frame, pred_contrib=True)
        return pd.DataFrame(values, columns=[*self.features, "bias"], index=frame.index)

    def params(self) -> dict[str, Any]:
        return {**self.hyper.model_dump(), "device": self.device}

    def save(self, directory: Path) -> None:
        path = Path(directory)
        for kind, boosters in (("score", self.scorers), ("proba", self.classifiers)):
            for k, booster in enumerate(boosters):
                booster.save_model(str(path / f"{kind}_{k}.txt"))
        meta = {"params": self.hyper.model_dump(), "features": self.features}
        (path / "lightgbm.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> Self:
        path = Path(directory)
        meta = json.loads((path / "lightgbm.json").read_text())
        model = cls(meta["params"], device="cpu")
        model.features = list(meta["features"])
        model.scorers = _load_all(path, "score")
        model.classifiers = _load_all(path, "proba")
        return model


def _load_all(path: Path, kind: str) -> list[lgb.Booster]:
    files = sorted(path.glob(f"{kind}_*.txt"), key=lambda p: int(p.stem.split("_")[1]))
    return [lgb.Booster(model_file=str(file)) for file in files]
