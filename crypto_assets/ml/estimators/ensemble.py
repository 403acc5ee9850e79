"""An ensemble of other families: the mean of their standardised scores and of their log-odds.

The model zoo (``ml.zoo``) fits every family on the same purged folds and keeps this ensemble
only where it beats the best single family out of sample. Its ranking score is a rank average
in effect: each member's score is put on a common scale by a FIXED affine map learned on the
training rows (centre and spread of the member's training scores) and the results are
averaged. A within-date rank average would rank coins alike, but it would make one coin's
score depend on which other coins are in the frame and its SHAP values would not add up; the
fixed map keeps both (``explain`` is the same weighted sum of the members' contributions, so it
adds up exactly wherever the members' do). The probability averages the members' log-odds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from crypto_assets.ml.estimators.base import Output, SignalEstimator, own_params


class EnsembleParams(BaseModel):
    members: list[str] = Field(default_factory=lambda: ["lightgbm", "xgboost", "rnn"])
    member_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # training rows (the latest dates) whose member scores set each member's centre and spread
    stats_rows: int = Field(20_000, ge=10)


def _logit(prob: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(prob, dtype=np.float64), 1e-15, 1 - 1e-15)
    return np.log(p) - np.log1p(-p)


def latest_rows(frame: pd.DataFrame, rows: int, context_bars: int) -> tuple[pd.DataFrame, int]:
    """The last dates of ``frame`` holding about ``rows`` rows, preceded by ``context_bars - 1``
    earlier dates of history; (that frame, how many of its last rows are the sample)."""
    dates = np.sort(frame["date"].unique())
    counts = frame.groupby("date").size().reindex(dates).to_numpy()
    first = max(0, int(np.searchsorted(np.cumsum(counts[::-1]), rows)))
    start = len(dates) - 1 - min(first, len(dates) - 1)
    window = frame[frame["date"] >= dates[max(0, start - context_bars + 1)]]
    return window, int((window["date"] >= dates[start]).sum())


class EnsembleEstimator:
    """Equal-weight ensemble of fitted members (see the module docstring)."""

    family: ClassVar[str] = "ensemble"
    params_model: ClassVar[type[BaseModel]] = EnsembleParams

    def __init__(self, params: EnsembleParams | dict[str, Any] | None = None, device: str = "auto"):
        self.hyper = EnsembleParams.model_validate(params or {})
        self.requested_device = device
        self.members: list[SignalEstimator] = []
        self.features: list[str] = []
        self.centre = np.empty(0)
        self.scale = np.empty(0)

    @property
    def device(self) -> str:
        devices = {m.device for m in self.members}
        return devices.pop() if len(devices) == 1 else ",".join(m.device for m in self.members)

    @property
    def context_bars(self) -> int:
        return max((m.context_bars for m in self.members), default=1)

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        from crypto_assets.ml.estimators import make_estimator

        members = []
        for family in self.hyper.members:
            member = make_estimator(
                family, self.hyper.member_params.get(family), self.requested_device
            )
            member.fit(train, features)
            members.append(member)
        self._assemble(members, train, features)

    @classmethod
    def from_members(
        cls, members: list[SignalEstimator], train: pd.DataFrame, features: list[str]
    ) -> EnsembleEstimator:
        """An ensemble of already fitted ``members`` (the zoo fits each family once per fold)."""
        params = {
            "members": [m.family for m in members],
            "member_params": {m.family: own_params(m) for m in members},
        }
        ensemble = cls(params)
        ensemble._assemble(list(members), train, features)
        return ensemble

    def _assemble(
        self, members: list[SignalEstimator], train: pd.DataFrame, features: list[str]
    ) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members, self.features = members, list(features)
        window, n = latest_rows(train, self.hyper.stats_rows, self.context_bars)
        scores = np.array([m.predict(window)[-n:] for m in members])
        self.centre = scores.mean(axis=1)
        spread = scores.std(axis=1)
        self.scale = np.where(spread > 1e-12, spread, 1.0)

    def _weights(self) -> np.ndarray:
        if not self.members:
            raise RuntimeError("EnsembleEstimator is not fitted")
        return np.full(len(self.members), 1.0 / len(self.members))

    def combine(
        self, scores: list[np.ndarray], probas: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(score, probability) from the members' scores and probabilities of the same rows
        (what ``predict`` and ``predict_proba`` give; the zoo reuses scores it has)."""
        return self._score(scores), self._proba(probas)

    def _score(self, scores: list[np.ndarray]) -> np.ndarray:
        w = self._weights()
        out = np.zeros(len(scores[0]))
        for k, score in enumerate(scores):
            out += w[k] * (np.asarray(score, dtype=np.float64) - self.centre[k]) / self.scale[k]
        return out

    def _proba(self, probas: list[np.ndarray]) -> np.ndarray:
        w = self._weights()
        margin = np.zeros(len(probas[0]))
        for k, prob in enumerate(probas):
            margin += w[k] * _logit(prob)
        return 1.0 / (1.0 + np.exp(-margin))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        self._weights()
        return self._score([m.predict(frame) for m in self.members])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        self._weights()
        return self._proba([m.predict_proba(frame) for m in self.members])

    def explain(
        self, frame: pd.DataFrame, output: Output = "score", rows: np.ndarray | None = None
    ) -> pd.DataFrame:
        w = self._weights()
        total = None
        for k, member in enumerate(self.members):
            part = member.explain(frame, output, rows)[[*self.features, "bias"]]
            if output == "score":
                part = part / self.scale[k]
                part["bias"] -= self.centre[k] / self.scale[k]
            total = w[k] * part if total is None else total + w[k] * part
        assert total is not None
        return total

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"members": ",".join(self.hyper.members), "device": self.device}
        for member in self.members:
            out.update({f"{member.family}.{k}": v for k, v in member.params().items()})
        return out

    def save(self, directory: Path) -> None:
        path = Path(directory)
        for k, member in enumerate(self.members):
            folder = path / f"member_{k}_{member.family}"
            folder.mkdir(parents=True, exist_ok=True)
            member.save(folder)
        meta = {
            "params": self.hyper.model_dump(),
            "features": self.features,
            "members": [m.family for m in self.members],
            "centre": self.centre.tolist(),
            "scale": self.scale.tolist(),
        }
        (path / "ensemble.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> Self:
        from crypto_assets.ml.estimators import estimator_class

        path = Path(directory)
        meta = json.loads((path / "ensemble.json").read_text())
        model = cls(meta["params"], device="cpu")
        model.features = list(meta["features"])
        model.members = [
            estimator_class(family).load(path / f"member_{k}_{family}")
            for k, family in enumerate(meta["members"])
        ]
        model.centre = np.asarray(meta["centre"], dtype=np.float64)
        model.scale = np.asarray(meta["scale"], dtype=np.float64)
        return model
