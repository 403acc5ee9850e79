"""A recurrent network (GRU, or LSTM) over each coin's recent history: the deep sequence family.

Input: the SEQUENCE VIEW of the features it is given, narrowed to ``inputs`` when listed
(``TrainConfig`` lists the horizon's score views and the market regime; ``features.sequences``):
for each (symbol, date) the coin's last ``length`` feature rows up to and including that date,
taken from the frame it is given (no row dated later is ever read). Features are clipped at
their training 1st / 99th percentiles and standardised; NaN and missing steps become 0 (the
training mean), so gaps and young coins need no special case.

One recurrent trunk feeds two heads: the ranking score (learned on ``y_rank``, rescaled to unit
variance, squared loss) and the log-odds of ``y_up`` (cross-entropy). Training is cheap by
design (a CPU box must afford it in every walk-forward fold): a few epochs over at most
``rows_per_epoch`` sampled target rows, the epoch count chosen by early stopping on a purged
inner time split (the last ``valid_share`` of the dates), then a refit on every row for that
many epochs, so the most recent rows are learned from too. ``n_seeds`` networks that differ
only in their seed are averaged. Seeded and single-device, it is deterministic on the CPU.

SHAP: ``shap.GradientExplainer`` (expected gradients) against one background sequence, the
training mean (all zeros once standardised: the "average coin with an average history");
attributions are summed over the time steps into one value per feature, and ``bias`` is the
output for that background. Expected gradients add up to the output only approximately (a
Monte-Carlo estimate of a path integral, ``explain_samples`` samples per row), so the shared
contract checks this family's additivity with a stated tolerance. A background of sampled
training sequences would be the closer analogue of TreeSHAP's expectation, but measured on
binance_2024 (7d, 50 rows, 200 samples) its additivity error was 5x larger (mean 13 % of the
outputs' spread with 64 sequences, 2.3 % with the mean sequence).

GPU: ``cuda`` when torch sees one (``torch_device``, logged), else the CPU.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, Field
from torch import nn

from crypto_assets.features.sequences import gather, sequence_index
from crypto_assets.ml.dataset import utc_index
from crypto_assets.ml.estimators.base import FIT_ROW, Output, explained_rows, feature_matrix

log = logging.getLogger(__name__)
_SCORE_SCALE = float(np.sqrt(12.0))  # a uniform rank's standard deviation is 1 / sqrt(12)


class RNNParams(BaseModel):
    cell: Literal["gru", "lstm"] = "gru"
    length: int = Field(16, ge=1)  # bars of history per sequence (the row itself included)
    hidden: int = Field(32, ge=1)
    layers: int = Field(1, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    learning_rate: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: int = Field(512, ge=8)
    max_epochs: int = Field(8, ge=1)
    patience: int = Field(2, ge=1)
    rows_per_epoch: int = Field(40_000, ge=100)
    valid_share: float = Field(0.2, gt=0, lt=0.5)
    n_seeds: int = Field(1, ge=1)
    seed: int = 42
    explain_samples: int = Field(300, ge=1)  # expected-gradient samples per explained row
    threads: int = Field(0, ge=0)  # 0 = half the logical CPUs (see LGBMParams.num_threads)
    # The columns the network reads (None: every feature it is given). One trunk feeds both
    # heads, so ``TrainConfig`` gives it what the trees' two models read together: the
    # horizon's score views and the market regime (at 7d not the risk factors, which cost the
    # network there: benchmarks/README.md, "Model zoo").
    inputs: list[str] | None = None

    def n_threads(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 2) // 2)


@lru_cache(maxsize=1)
def torch_device() -> str:
    """'cuda' when torch sees a GPU, else 'cpu' (probed once, logged)."""
    if torch.cuda.is_available():
        log.info("torch: training on cuda (%s)", torch.cuda.get_device_name(0))
        return "cuda"
    log.info("torch: no CUDA device visible (torch %s), training on cpu", torch.__version__)
    return "cpu"


def resolve_device(requested: str) -> str:
    """The probe's answer for 'auto'; 'cuda' / 'gpu' only when torch sees one (else the CPU,
    with a warning rather than a false 'cuda' in the logs)."""
    found = torch_device()
    if requested in ("cuda", "gpu") and found != "cuda":
        log.warning("rnn: %s requested but torch sees none; training on cpu", requested)
    return found if requested in ("auto", "cuda", "gpu") else "cpu"


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Net(nn.Module):
    """Recurrent trunk; the last step's hidden state feeds [score, log-odds]."""

    def __init__(self, n_in: int, hyper: RNNParams) -> None:
        super().__init__()
        cell = nn.GRU if hyper.cell == "gru" else nn.LSTM
        inner_dropout = hyper.dropout if hyper.layers > 1 else 0.0
        self.rnn = cell(n_in, hyper.hidden, hyper.layers, batch_first=True, dropout=inner_dropout)
        self.drop = nn.Dropout(hyper.dropout)
        self.head = nn.Linear(hyper.hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(self.drop(out[:, -1]))


class _Averaged(nn.Module):
    """The seeds' mean of one output column (0 = score, 1 = log-odds), shaped (rows, 1)."""

    def __init__(self, nets: list[_Net], column: int) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.column = column

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = torch.stack([net(x)[:, self.column] for net in self.nets])
        return outs.mean(dim=0, keepdim=False).unsqueeze(1)


class _Scaler:
    """Clip at training percentiles, standardise, NaN -> 0."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, mean: np.ndarray, std: np.ndarray):
        self.lo, self.hi, self.mean, self.std = lo, hi, mean, std

    @classmethod
    def fit(cls, values: np.ndarray) -> _Scaler:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: scaled to 0
            lo = np.nan_to_num(np.nanpercentile(values, 1, axis=0)).astype(np.float32)
            hi = np.nan_to_num(np.nanpercentile(values, 99, axis=0)).astype(np.float32)
            clipped = np.clip(values, lo, hi)
            mean = np.nan_to_num(np.nanmean(clipped, axis=0)).astype(np.float32)
            std = np.nan_to_num(np.nanstd(clipped, axis=0)).astype(np.float32)
        return cls(lo, hi, mean, np.where(std > 1e-12, std, 1.0).astype(np.float32))

    def transform(self, values: np.ndarray) -> np.ndarray:
        out = (np.clip(values, self.lo, self.hi) - self.mean) / self.std
        return np.nan_to_num(out, nan=0.0).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"lo": self.lo, "hi": self.hi, "mean": self.mean, "std": self.std}


def _infer_bar(dates: pd.Series) -> pd.Timedelta:
    """The candle spacing of a frame: the smallest gap between its distinct dates."""
    stamps = np.unique(pd.DatetimeIndex(pd.to_datetime(dates, utc=True)).asi8)
    gaps = np.diff(stamps)
    gaps = gaps[gaps > 0]
    if not len(gaps):
        raise ValueError("a sequence model needs rows on at least two dates to learn the bar")
    return pd.Timedelta(int(gaps.min()), unit="ns")


class RNNEstimator:
    """Score and probability from one recurrent network per seed over the sequence view."""

    family: ClassVar[str] = "rnn"
    params_model: ClassVar[type[BaseModel]] = RNNParams

    def __init__(self, params: RNNParams | dict[str, Any] | None = None, device: str = "auto"):
        self.hyper = RNNParams.model_validate(params or {})
        self.device = resolve_device(device)
        self.features: list[str] = []  # the columns given (explain reports each of them)
        self.inputs: list[str] = []  # the columns the network reads
        self.nets: list[_Net] = []
        self.scaler: _Scaler | None = None
        self.bar: pd.Timedelta | None = None
        self.epochs = 0

    @property
    def context_bars(self) -> int:
        return self.hyper.length

    def _read(self, features: list[str]) -> list[str]:
        """The given columns the network reads, in their order (all when none is listed; a
        listed column the frame lacks is skipped, as a view a timeframe lacks is)."""
        if self.hyper.inputs is None:
            return list(features)
        wanted = set(self.hyper.inputs)
        read = [c for c in features if c in wanted]
        if not read:
            raise ValueError(
                f"none of the network's inputs {self.hyper.inputs[:5]}... is among the "
                f"{len(features)} features given"
            )
        return read

    # --- data -----------------------------------------------------------------------------
    def _sequences(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Standardised feature values and the sequence index of ``frame``'s rows."""
        if self.scaler is None or self.bar is None:
            raise RuntimeError("RNNEstimator is not fitted")
        values = self.scaler.transform(feature_matrix(frame, self.inputs))
        return values, sequence_index(frame, self.hyper.length, self.bar)

    def _tensor(self, values: np.ndarray, index: np.ndarray, rows: np.ndarray) -> torch.Tensor:
        x = np.nan_to_num(gather(values, index[rows]), nan=0.0)
        return torch.from_numpy(x).to(self.device)

    def _split(self, frame: pd.DataFrame, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inner, validation) target rows: the last ``valid_share`` of the dates, purged by
        ``label_end`` when the frame has it (an inner row's label ends before validation)."""
        dates = utc_index(frame["date"]).asi8[rows]
        distinct = np.unique(dates)
        if len(distinct) < 5:
            return rows, rows[:0]
        cut = distinct[int(len(distinct) * (1 - self.hyper.valid_share))]
        if "label_end" in frame.columns:
            before = utc_index(frame["label_end"]).asi8[rows] <= cut
        else:
            before = dates < cut
        return rows[before & (dates < cut)], rows[dates >= cut]

    # --- training -------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        self.features = list(features)
        self.inputs = self._read(self.features)
        frame = train.reset_index(drop=True)
        self.bar = _infer_bar(frame["date"])
        marked = frame[FIT_ROW].to_numpy(dtype=bool) if FIT_ROW in frame else True
        known = frame["y_rank"].notna().to_numpy() & frame["y_up"].notna().to_numpy()
        rows = np.flatnonzero(known & marked)
        self.scaler = _Scaler.fit(feature_matrix(frame, self.inputs)[rows])
        values, index = self._sequences(frame)
        targets = np.stack(
            [
                (frame["y_rank"].to_numpy(dtype=np.float32) - 0.5) * _SCORE_SCALE,
                frame["y_up"].to_numpy(dtype=np.float32),
            ],
            axis=1,
        )
        data = (values, index, targets)
        with _torch_threads(self.hyper.n_threads()):
            inner, valid = self._split(frame, rows)
            self.epochs = self.hyper.max_epochs
            if len(valid) and len(inner):
                self.epochs = self._early_stop(data, inner, valid)
            self.nets = [
                self._train(data, rows, self.epochs, self.hyper.seed + k)[0]
                for k in range(self.hyper.n_seeds)
            ]

    def _early_stop(self, data: tuple, inner: np.ndarray, valid: np.ndarray) -> int:
        """Epochs to train: where the inner split's validation loss was lowest."""
        _, losses = self._train(data, inner, self.hyper.max_epochs, self.hyper.seed, valid)
        best = int(np.argmin(losses)) + 1
        log.info("rnn: validation loss by epoch %s -> %d epochs", np.round(losses, 4), best)
        return best

    def _train(
        self, data: tuple, rows: np.ndarray, epochs: int, seed: int, valid: np.ndarray | None = None
    ) -> tuple[_Net, list[float]]:
        """A network trained ``epochs`` epochs on ``rows``; with ``valid``, the validation loss
        per epoch (training stops after ``patience`` epochs without a new best)."""
        values, index, targets = data
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        net = _Net(values.shape[1], self.hyper).to(self.device)
        optimiser = torch.optim.AdamW(
            net.parameters(), lr=self.hyper.learning_rate, weight_decay=self.hyper.weight_decay
        )
        losses: list[float] = []
        for _ in range(epochs):
            net.train()
            chosen = rng.permutation(rows)[: self.hyper.rows_per_epoch]
            for start in range(0, len(chosen), self.hyper.batch_size):
                batch = chosen[start : start + self.hyper.batch_size]
                loss = self._loss(net, values, index, targets, batch)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            if valid is None:
                continue
            losses.append(self._validation_loss(net, data, valid))
            if len(losses) - 1 - int(np.argmin(losses)) >= self.hyper.patience:
                break
        return net.eval(), losses

    def _loss(
        self,
        net: _Net,
        values: np.ndarray,
        index: np.ndarray,
        targets: np.ndarray,
        batch: np.ndarray,
    ) -> torch.Tensor:
        out = net(self._tensor(values, index, batch))
        y = torch.from_numpy(targets[batch]).to(self.device)
        score = nn.functional.mse_loss(out[:, 0], y[:, 0])
        return score + nn.functional.binary_cross_entropy_with_logits(out[:, 1], y[:, 1])

    def _validation_loss(self, net: _Net, data: tuple, valid: np.ndarray) -> float:
        values, index, targets = data
        net.eval()
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(valid), 4096):
                batch = valid[start : start + 4096]
                total += float(self._loss(net, values, index, targets, batch)) * len(batch)
        return total / len(valid)

    # --- outputs --------------------------------------------------------------------------
    def _outputs(self, frame: pd.DataFrame) -> np.ndarray:
        """(rows, 2) seed-averaged [score, log-odds]. Batches are padded to one fixed size so
        a row's output never depends on how many other rows were scored with it."""
        if not self.nets:
            raise RuntimeError("RNNEstimator is not fitted")
        frame = frame.reset_index(drop=True)
        values, index = self._sequences(frame)
        size = 1024
        out = np.empty((len(frame), 2))
        model = _Averaged(self.nets, 0)
        with _torch_threads(self.hyper.n_threads()), torch.no_grad():
            for start in range(0, len(frame), size):
                rows = np.arange(start, min(start + size, len(frame)))
                padded = np.concatenate([rows, np.full(size - len(rows), rows[-1])])
                x = self._tensor(values, index, padded)
                both = torch.stack([net(x) for net in model.nets]).mean(dim=0)
                out[rows] = both[: len(rows)].double().cpu().numpy()
        return out

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self._outputs(frame)[:, 0] if len(frame) else np.empty(0)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if not len(frame):
            return np.empty(0)
        return 1.0 / (1.0 + np.exp(-self._outputs(frame)[:, 1]))

    def explain(
        self, frame: pd.DataFrame, output: Output = "score", rows: np.ndarray | None = None
    ) -> pd.DataFrame:
        """Expected-gradient SHAP values summed over the time steps, plus ``bias`` (the
        output for the background: the training mean); see the module docstring."""
        target = explained_rows(frame, rows)
        columns = [*self.features, "bias"]
        if not len(target):
            return pd.DataFrame(columns=columns, index=target.index, dtype=float)
        values, index = self._sequences(frame.reset_index(drop=True))
        chosen = np.arange(len(frame)) if rows is None else np.flatnonzero(rows)
        x = self._tensor(values, index, chosen)
        model = _Averaged(self.nets, 0 if output == "score" else 1).eval()
        per_step, bias = self._expected_gradients(model, x)
        per_input = per_step.reshape(len(chosen), self.hyper.length, -1).sum(axis=1)
        out = pd.DataFrame(0.0, columns=columns, index=target.index)  # a column not read: 0
        out[self.inputs] = per_input
        out["bias"] = bias
        return out

    def _expected_gradients(self, model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, float]:
        """shap's GradientExplainer against the all-zero (training mean) background: the
        per-step attributions and the background's output."""
        with warnings.catch_warnings():  # shap's colour maps warn about matplotlib at import
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            import shap

        background = torch.zeros((1, *x.shape[1:]), device=self.device)
        state = np.random.get_state()  # shap reseeds NumPy's global generator
        try:
            with _torch_threads(self.hyper.n_threads()), _cudnn_off(self.device):
                explainer = shap.GradientExplainer(model, background, batch_size=256)
                raw = explainer.shap_values(
                    x, nsamples=self.hyper.explain_samples, rseed=self.hyper.seed
                )
                with torch.no_grad():
                    bias = float(model(background).mean())
        finally:
            np.random.set_state(state)
        return np.asarray(raw[0] if isinstance(raw, list) else raw, dtype=np.float64), bias

    # --- persistence ----------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {**self.hyper.model_dump(), "device": self.device, "epochs": self.epochs}

    def save(self, directory: Path) -> None:
        path = Path(directory)
        if self.scaler is None or self.bar is None:
            raise RuntimeError("RNNEstimator is not fitted")
        state = [{k: v.cpu() for k, v in net.state_dict().items()} for net in self.nets]
        torch.save(state, path / "rnn.pt")
        np.savez(path / "rnn_scaler.npz", **self.scaler.arrays())
        meta = {
            "params": self.hyper.model_dump(),
            "features": self.features,
            "bar_ns": int(self.bar.value),
            "epochs": self.epochs,
        }
        (path / "rnn.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> Self:
        path = Path(directory)
        meta = json.loads((path / "rnn.json").read_text())
        model = cls(meta["params"], device="cpu")
        model.features = list(meta["features"])
        model.inputs = model._read(model.features)
        model.bar = pd.Timedelta(int(meta["bar_ns"]), unit="ns")
        model.epochs = int(meta["epochs"])
        with np.load(path / "rnn_scaler.npz") as arrays:
            model.scaler = _Scaler(arrays["lo"], arrays["hi"], arrays["mean"], arrays["std"])
        for state in torch.load(path / "rnn.pt", map_location="cpu", weights_only=True):
            net = _Net(len(model.inputs), model.hyper)
            net.load_state_dict(state)
            model.nets.append(net.eval())
        return model


@contextmanager
def _cudnn_off(device: str) -> Iterator[None]:
    """cuDNN computes RNN gradients only in training mode; SHAP needs them in eval mode."""
    if device != "cuda":
        yield
        return
    with torch.backends.cudnn.flags(enabled=False):
        yield
