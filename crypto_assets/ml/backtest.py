"""Walk-forward backtest of the signal models on any snapshot directory.

Runs what production runs (sanitize -> features -> labels -> ``build_dataset`` -> the model
zoo's purged walk-forward of every family with periodic retraining -> calibrated probabilities
-> selection per horizon) on recorded candles, and reports per horizon the SELECTED model's
out-of-sample rank IC beside the naive momentum baseline (the trailing return over the same
horizon), calibration quality, the ">= threshold" calls and the top-decile vs equal-weight net
return (``SUMMARY_KEYS``), then every candidate's figures (``models``), the one selected
(``selected``), why (``selection_reason``) and the selection replayed on what was known
before each test block (``nested_selection``). Horizons the snapshot cannot support are listed
under "skipped" with the reason, never silently dropped. ``crypto-assets backtest --snapshot
DIR --json`` prints it, with the on-chain features' coverage of the snapshot and, where the
recorded on-chain data overlap it, the figures with and without them (``ml.onchain_effect``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from crypto_assets.horizons import HORIZON_NAMES, HORIZONS, Horizon, require_known
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import InsufficientDataError, build_dataset, key_positions
from crypto_assets.ml.model import json_safe
from crypto_assets.ml.zoo import evaluate_zoo

log = logging.getLogger(__name__)

# The JSON contract per horizon, in this order (README "How the models are judged").
SUMMARY_KEYS = [
    "n_folds",
    "n_predictions",
    "test_start",
    "test_end",
    "rank_ic_mean",
    "rank_ic_ir",
    "momentum_rank_ic_mean",
    "brier",
    "ece",
    "n_calls_at_80",
    "hit_rate_at_80",
    "top_decile_return",
    "equal_weight_return",
    "max_probability",
    "n_call_times_at_80",
]
_COUNTS = {"n_folds", "n_predictions", "n_calls_at_80", "n_call_times_at_80"}
# Added after SUMMARY_KEYS per horizon: each candidate's figures, the selected one, and why.
# ``nested_selection``: the selection rule replayed block by block on what was known then
# (``ml.zoo.nested_selection``; null with a single family).
ZOO_KEYS = ["models", "selected", "selection_reason", "nested_selection"]


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def summary(overall: dict[str, Any]) -> dict[str, Any]:
    """Exactly ``SUMMARY_KEYS``, JSON-safe (NaN -> null, timestamps -> ISO strings)."""
    out: dict[str, Any] = {}
    for key in SUMMARY_KEYS:
        value = overall.get(key)
        if key in _COUNTS:
            out[key] = int(value or 0)
        elif key in ("test_start", "test_end"):
            out[key] = pd.Timestamp(value).isoformat() if value is not None else None
        else:
            out[key] = _float_or_none(value)
    return out


def _short(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def sanitized_snapshot(
    snapshot_dir: Path, say: Callable[[str], None] = log.info
) -> dict[str, pd.DataFrame]:
    """A snapshot's candles per timeframe judged as the daily pipeline judges each day
    (``market.sanitation.usable_history``): corrupt candles dropped, and a ``usable`` column
    saying whether the trailing 30 days ending at each candle were clean and complete."""
    from crypto_assets.market.sanitation import usable_history
    from crypto_assets.market.snapshot import read_snapshot

    clean: dict[str, pd.DataFrame] = {}
    for timeframe, frame in read_snapshot(snapshot_dir).items():
        candles, quality = usable_history(frame, timeframe)
        say(
            f"{timeframe}: {quality['symbol'].nunique()} coins, {len(candles)} candles, "
            f"{int(quality['corrupt_rows'].sum())} corrupt dropped, "
            f"{candles['usable'].mean() if len(candles) else 0:.1%} usable"
        )
        if len(candles):
            clean[timeframe] = candles
    return clean


def candles_for(clean: dict[str, pd.DataFrame], horizon: Horizon) -> pd.DataFrame:
    """The candles a horizon is modelled on (with ``usable``); daily candles are resampled from
    hourly ones when the snapshot has no daily file."""
    from crypto_assets.features.labels import resample_ohlcv
    from crypto_assets.market.sanitation import usable_history

    frame = clean.get(horizon.timeframe)
    if frame is not None and len(frame):
        return frame
    if horizon.timeframe == "1d" and len(clean.get("1h", ())):
        daily = resample_ohlcv(clean["1h"].drop(columns="usable"), "1d")
        return usable_history(daily, "1d")[0]
    have = sorted(k for k, v in clean.items() if len(v))
    if horizon.timeframe == "1h":
        raise InsufficientDataError("snapshot has no usable hourly candles")
    raise InsufficientDataError(f"no {horizon.timeframe} candles for {horizon.name} (have {have})")


class SnapshotFrames:
    """Features and labels per timeframe, computed once and shared by its horizons."""

    def __init__(self, clean: dict[str, pd.DataFrame], cost: float) -> None:
        self.clean, self.cost = clean, cost
        self.features: dict[str, pd.DataFrame] = {}
        self.labels: dict[str, pd.DataFrame] = {}

    def dataset(self, horizon: Horizon):
        from crypto_assets.features.labels import forward_returns
        from crypto_assets.features.pipeline import build_feature_frame, feature_names

        timeframe = horizon.timeframe
        if timeframe not in self.features:
            candles = candles_for(self.clean, horizon)
            ohlcv = candles.drop(columns="usable")
            features = build_feature_frame(ohlcv, timeframe)
            # only rows the daily pipeline would have kept that day are modelled (a mask by
            # position: a merge on symbol/date copied every feature column twice)
            at = key_positions(features, candles, timeframe, ("feature", "candle"))
            usable = candles["usable"].to_numpy(dtype=bool)[at] & (at >= 0)
            self.features[timeframe] = features[usable].reset_index(drop=True)
            del features
            self.labels[timeframe] = forward_returns(ohlcv, timeframe, round_trip_cost=self.cost)
        return build_dataset(
            self.features[timeframe], self.labels[timeframe], horizon, feature_names(timeframe)
        )


def run_backtest(
    snapshot_dir: Path,
    *,
    horizons: list[str] | None = None,
    config: TrainConfig | None = None,
    progress: Callable[[str], None] | None = None,
    onchain_dir: Path | None = None,
) -> dict[str, Any]:
    """Per horizon the selected model's out-of-sample figures (``SUMMARY_KEYS``) then
    ``ZOO_KEYS``; the horizons skipped with the reason. With ``onchain_dir`` (the recorded
    on-chain files) also an ``onchain`` section: coverage, and where the recordings overlap the
    snapshot, the figures with and without on-chain features (``ml.onchain_effect``)."""
    config = config or TrainConfig()
    names = list(horizons) if horizons else list(HORIZON_NAMES)
    require_known(names)

    def say(message: str) -> None:
        log.info("backtest: %s", message)
        if progress is not None:
            progress(message)

    started = time.perf_counter()
    frames = SnapshotFrames(sanitized_snapshot(Path(snapshot_dir), say), config.round_trip_cost)
    result: dict[str, Any] = {"snapshot": str(snapshot_dir), "horizons": {}, "skipped": {}}
    for name in names:
        t0 = time.perf_counter()
        try:
            zoo = evaluate_zoo(frames.dataset(HORIZONS[name]), config)
        except InsufficientDataError as exc:
            result["skipped"][name] = str(exc)
            say(f"{name}: skipped ({exc})")
            continue
        figures = summary(zoo.selected.overall)
        figures["models"] = json_safe(zoo.figures())
        figures["selected"] = zoo.selection.family
        figures["selection_reason"] = zoo.selection.reason
        figures["nested_selection"] = json_safe(zoo.nested_figures())
        result["horizons"][name] = figures
        board = ", ".join(
            f"{family} {_short(f['rank_ic_mean'])}" for family, f in figures["models"].items()
        )
        say(
            f"{name}: {figures['n_folds']} folds, {figures['n_predictions']} predictions; "
            f"rank IC {board}; selected {zoo.selection.family} (rank IC "
            f"{_short(figures['rank_ic_mean'])} vs momentum "
            f"{_short(figures['momentum_rank_ic_mean'])}, ECE {_short(figures['ece'])}) "
            f"({time.perf_counter() - t0:.0f} s)"
        )
        del zoo  # its out-of-fold frames, before the next horizon's dataset is built
    if onchain_dir is not None:
        from crypto_assets.ml.onchain_effect import onchain_report

        result["onchain"] = onchain_report(
            frames, list(result["horizons"]), Path(onchain_dir), config, say
        )
    say(f"done in {time.perf_counter() - started:.0f} s")
    return result
