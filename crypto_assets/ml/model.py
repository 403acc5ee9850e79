"""A trained horizon: an estimator of any family, its probability calibrator and its score-to-
return map, with what it was trained on. Saved as a folder of plain files (the estimator's own
files in ``estimator/`` plus ``meta.json``), logged to MLflow and registered as one version.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crypto_assets.ml.calibration import Calibrator, ReturnMap
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import KEY, Dataset, InsufficientDataError, within_date_rank
from crypto_assets.ml.estimators import SignalEstimator, estimator_class

META_FILE = "meta.json"
FORMAT = 2
PREDICTION_FIELDS = ["score", "expected_return", "probability", "probability_estimate"]


@dataclass
class HorizonModel:
    horizon: str
    family: str
    features: list[str]
    estimator: SignalEstimator
    calibrator: Calibrator
    return_map: ReturnMap
    trained_from: pd.Timestamp
    trained_to: pd.Timestamp
    n_train: int
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """symbol, date, score, expected_return (net), probability (conservative calibrated
        P(net return > 0): the one the threshold applies to) and probability_estimate (the
        uncollapsed estimate beside it). The return map ranks coins within each date, so pass
        every coin of a date together."""
        missing = [c for c in [*KEY, *self.features] if c not in features.columns]
        if missing:
            raise ValueError(f"{self.horizon} model: feature frame lacks columns {missing}")
        out = features[KEY].reset_index(drop=True).copy()
        if not len(features):
            for name in PREDICTION_FIELDS:
                out[name] = pd.Series(dtype=float)
            return out
        frame = features.reset_index(drop=True)
        score = self.estimator.predict(frame)
        raw = self.estimator.predict_proba(frame)
        out["score"] = score
        out["expected_return"] = self.return_map.predict(within_date_rank(score, frame["date"]))
        out["probability"] = self.calibrator.predict(raw)
        out["probability_estimate"] = self.calibrator.estimate(raw)
        return out

    def save(self, directory: Path | str) -> Path:
        path = Path(directory)
        (path / "estimator").mkdir(parents=True, exist_ok=True)
        self.estimator.save(path / "estimator")
        meta = {
            "format": FORMAT,
            "horizon": self.horizon,
            "family": self.family,
            "features": self.features,
            "calibrator": self.calibrator.to_dict(),
            "return_map": self.return_map.to_dict(),
            "trained_from": self.trained_from.isoformat(),
            "trained_to": self.trained_to.isoformat(),
            "n_train": self.n_train,
            "params": json_safe(self.params),
            "metrics": json_safe(self.metrics),
        }
        (path / META_FILE).write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, directory: Path | str) -> HorizonModel:
        path = Path(directory)
        meta_file = path / META_FILE
        if not meta_file.is_file():
            raise FileNotFoundError(f"{path} holds no saved model ({META_FILE} missing)")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(
                f"{path}: saved model format {meta.get('format')} is not {FORMAT}; retrain it "
                "(materialize `models`)"
            )
        return cls(
            horizon=meta["horizon"],
            family=meta["family"],
            features=list(meta["features"]),
            estimator=estimator_class(meta["family"]).load(path / "estimator"),
            calibrator=Calibrator.from_dict(meta["calibrator"]),
            return_map=ReturnMap.from_dict(meta["return_map"]),
            trained_from=pd.Timestamp(meta["trained_from"]),
            trained_to=pd.Timestamp(meta["trained_to"]),
            n_train=int(meta["n_train"]),
            params=meta.get("params", {}),
            metrics=meta.get("metrics", {}),
        )


def train_final(
    dataset: Dataset, config: TrainConfig | None = None, oof: pd.DataFrame | None = None
) -> HorizonModel:
    """Fit on every labelled row; calibrate on the walk-forward's out-of-fold predictions.

    Without enough out-of-fold rows the calibrator and return map come from a nested split.
    """
    from crypto_assets.ml.walkforward import (
        calibrate,
        fit_estimator,
        market_drift,
        nested_calibration,
        return_map,
    )

    config = config or TrainConfig()
    data, horizon = dataset.labelled, dataset.horizon
    if len(data) < config.min_train_rows:
        raise InsufficientDataError(
            f"{horizon.name}: {len(data)} labelled rows, need >= {config.min_train_rows}"
        )
    estimator = fit_estimator(data, dataset.features, horizon, config)
    if oof is not None and len(oof) >= config.min_calibration_rows:
        calibrator = calibrate(oof, horizon, config)
        mapping = return_map(oof, market_drift(data))
    else:
        calibrator, mapping = nested_calibration(data, dataset.features, horizon, config)
    return HorizonModel(
        horizon=horizon.name,
        family=config.family,
        features=list(dataset.features),
        estimator=estimator,
        calibrator=calibrator,
        return_map=mapping,
        trained_from=pd.Timestamp(data["date"].min()),
        trained_to=pd.Timestamp(data["date"].max()),
        n_train=len(data),
        params=estimator.params(),
    )


def json_safe(value: Any) -> Any:
    """NaN/inf -> None, timestamps -> ISO strings, numpy scalars -> Python (for JSON output)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
