"""The signal models against the forty-line yardstick, and the ablations behind them.

For a snapshot (default binance_2024) and each daily horizon this runs, IN ONE PROCESS:

* the yardstick ``shared/bench/minimal_lgbm.py`` itself (its own code, via runpy), keeping its
  per-date test predictions and its printed rank IC;
* the product's walk-forward (``crypto_assets.ml``, the default ``TrainConfig``: exactly what
  ``crypto-assets backtest`` runs) and, with ``--ablations``, variants of it that change one
  thing each (target, ranking output, feature views, seeds, thinning, calibration prior).

Rank IC is reported on the product's own test period AND on the yardstick's test dates (the
dates both scored), so the ratio compares like with like. ``--cuts`` repeats the comparison on
coin subsets (the first 82 / last 54 coins in alphabetical order) that no choice was made on
(with ``--ablations --only ...``, the chosen variants on the cuts as well). ``--history DIR``
adds the product trained on a folder of OLDER daily candles as well (``ml.dataset.with_history``,
what ``CRYPTO_ASSETS_TRAINING_HISTORY_DIR`` does), tested on the same blocks and retrained on the
same dates as the product alone (``TrainConfig.test_from``), with its gain over it; the
yardstick reads the snapshot only.

    .venv/bin/python benchmarks/signal_edge.py --snapshot ../shared/data/market/binance_2024 \\
        --ablations --cuts --json /tmp/signal_edge.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import runpy
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.stats import norm

from crypto_assets.horizons import HORIZONS, Horizon
from crypto_assets.ml import metrics
from crypto_assets.ml.backtest import SnapshotFrames, sanitized_snapshot
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import with_history
from crypto_assets.ml.estimators import FAMILIES
from crypto_assets.ml.estimators.base import feature_matrix, fit_rows, views_of
from crypto_assets.ml.estimators.lightgbm import LightGBMEstimator
from crypto_assets.ml.walkforward import walk_forward_evaluate
from crypto_assets.ml.zoo import Gain, ic_gain
from crypto_assets.settings import PROJECT_ROOT

YARDSTICK = PROJECT_ROOT.parent / "shared" / "bench" / "minimal_lgbm.py"


class ExcessTarget(LightGBMEstimator):
    """Ablation: the ranking model learns the winsorised excess return (the old product)."""

    family: ClassVar[str] = "ablation_excess"

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        y = train["y_return"].astype(float)
        excess = y - y.groupby(train["date"]).transform("mean")
        clipped = excess.clip(excess.quantile(0.05), excess.quantile(0.95))
        super().fit(train.assign(y_rank=clipped.to_numpy()), features)


class RawTarget(LightGBMEstimator):
    """Ablation: the ranking model learns the winsorised raw net return."""

    family: ClassVar[str] = "ablation_raw"

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        y = train["y_return"].astype(float)
        super().fit(train.assign(y_rank=y.clip(y.quantile(0.05), y.quantile(0.95))), features)


class ClassifierScore(LightGBMEstimator):
    """Ablation: coins ranked by the probability model instead of the ranking model."""

    family: ClassVar[str] = "ablation_classifier"

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(frame)


class NormalScoreTarget(LightGBMEstimator):
    """Ablation: the rank target mapped to normal scores (Qlib's ``CSRankNorm``), which weighs
    the day's extreme coins more than the uniform rank does."""

    family: ClassVar[str] = "ablation_rank_normal"

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        n = train.groupby("date")["y_rank"].transform("size").to_numpy(float)
        rank = train["y_rank"].to_numpy(float) - 0.5 / n  # (0, 1) open
        super().fit(train.assign(y_rank=norm.ppf(np.clip(rank, 1e-4, 1 - 1e-4))), features)


class VolScaledTarget(LightGBMEstimator):
    """Ablation: the rank of the return per unit of the coin's trailing 30-day volatility."""

    family: ClassVar[str] = "ablation_vol_scaled"

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        vol = train["vol_30d"].where(train["vol_30d"] > 0)
        scaled = (train["y_return"] / vol).groupby(train["date"]).rank(pct=True).fillna(0.5)
        super().fit(train.assign(y_rank=scaled.to_numpy(float)), features)


class LambdaRankScore(LightGBMEstimator):
    """Ablation: the ranking models optimise LambdaRank (NDCG over each day's coins, relevance
    = the quintile of the forward return) instead of a squared loss on the rank."""

    family: ClassVar[str] = "ablation_lambdarank"

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        self.features = list(features)
        rows = fit_rows(train)
        x_all, y_up = feature_matrix(rows, self.features), rows["y_up"].to_numpy(float)
        train = rows.sort_values("date", kind="stable")  # LambdaRank's groups: one per day
        relevance = np.minimum((train["y_rank"].to_numpy(float) * 5).astype(int), 4)
        days = train.groupby("date", sort=True).size().to_numpy()
        self.scorers, self.classifiers = [], []
        for k in range(self.hyper.n_seeds):
            seed = self.hyper.seed + k  # the probability model exactly as the product's
            self.classifiers.append(self._train("binary", x_all, y_up, seed, self.features))
            for view in views_of(self.hyper.views, self.features):
                params = self.hyper.booster_params("lambdarank", self.device, seed)
                params["lambdarank_truncation_level"] = int(days.max())
                data = lgb.Dataset(
                    feature_matrix(train, view), relevance, group=days, feature_name=view
                )
                rounds = self.hyper.n_estimators
                self.scorers.append(lgb.train(params, data, num_boost_round=rounds))


for _cls in (
    ExcessTarget,
    RawTarget,
    ClassifierScore,
    NormalScoreTarget,
    VolScaledTarget,
    LambdaRankScore,
):
    FAMILIES[_cls.family] = _cls

ABLATIONS: dict[str, dict[str, Any]] = {
    "product (default)": {},
    "target: excess return (old)": {"family": "ablation_excess"},
    "target: raw net return": {"family": "ablation_raw"},
    "score: the classifier P(up)": {"family": "ablation_classifier"},
    "target: normal scores of the rank": {"family": "ablation_rank_normal"},
    "target: rank of the volatility-scaled return": {"family": "ablation_vol_scaled"},
    "score: LambdaRank over each day's coins": {"family": "ablation_lambdarank"},
    "views: technical only": {"score_views": ["technical"], "horizon_score_views": {}},
    "views: return profile only": {"score_views": ["returns"], "horizon_score_views": {}},
    "views: one model on all features": {"score_views": [], "horizon_score_views": {}},
    "risk factors: none (before)": {"horizon_score_views": {}},
    "slow target: none (before)": {"slow_targets": {}},
    "risk factors: at 7d too": {
        "horizon_score_views": {h: ["technical", "returns+factors"] for h in ("7d", "30d")}
    },
    "seeds: 1 instead of 3": {"seeds": {"7d": 1, "30d": 1}},
    "trees: 100 instead of 200": {"family_params": {"lightgbm": {"n_estimators": 100}}},
    "leaves: 31, min leaf 20": {
        "family_params": {"lightgbm": {"num_leaves": 31, "min_child_samples": 20}}
    },
    "rows: every 5th day": {"train_stride": {"7d": 5, "30d": 5}},
    "calibration prior: 4 periods (old)": {"calibration_prior_periods": 4.0},
    "retrain: every 7 days": {"retrain_every_days": 7.0},
}


def yardstick(path: Path, horizon_days: int) -> tuple[float, pd.DataFrame]:
    """Run the yardstick's own code; (its printed rank IC, its test predictions)."""
    argv = sys.argv
    sys.argv = [str(YARDSTICK), str(path), str(horizon_days)]
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            scope = runpy.run_path(str(YARDSTICK), run_name="__main__")
    finally:
        sys.argv = argv
    line = [x for x in printed.getvalue().splitlines() if x.startswith("BASELINE")][-1]
    ic = float(line.split("ic=")[1].split()[0])
    preds = scope["P"][["symbol", "date", "p", "fwd"]].copy()
    preds["date"] = pd.to_datetime(preds["date"], utc=True)
    return ic, preds


def ic_on(oof: pd.DataFrame, dates: pd.Series | None = None) -> float:
    frame = oof if dates is None else oof[oof["date"].isin(set(dates))]
    return metrics.rank_ic(frame["score"], frame["y_return"], frame["date"])


def lead_over(oof: pd.DataFrame, base: pd.DataFrame, horizon: Horizon) -> Gain:
    """The product's per-date rank IC minus the yardstick's on the dates both scored, averaged
    over horizon-long periods, and its t statistic (``ml.zoo.ic_gain``): how far the ratio is
    from noise."""
    return ic_gain(oof, base.rename(columns={"p": "score", "fwd": "y_return"}), horizon)


def evaluate(
    frames: SnapshotFrames, horizon: str, overrides: dict[str, Any]
) -> tuple[dict, pd.DataFrame]:
    config = TrainConfig(**overrides)
    t0 = time.perf_counter()
    report = walk_forward_evaluate(frames.dataset(HORIZONS[horizon]), config)
    overall = report.overall
    overall["seconds"] = time.perf_counter() - t0
    return overall, report.oof


def cut(snapshot: Path, which: str, out: Path) -> Path:
    """The first 82 or last 54 coins (alphabetical) of a snapshot, in the standard layout."""
    out.mkdir(parents=True, exist_ok=True)
    for file in snapshot.glob("ohlcv_*.parquet"):
        frame = pd.read_parquet(file)
        symbols = sorted(frame["symbol"].unique())
        keep = symbols[:82] if which == "first82" else symbols[82:]
        frame[frame["symbol"].isin(keep)].to_parquet(out / file.name)
    return out


def with_older(
    frames: SnapshotFrames, older: SnapshotFrames, name: str, horizon: str
) -> tuple[dict, pd.DataFrame]:
    """The product on the snapshot plus older history, tested from where it alone is."""
    alone = frames.dataset(HORIZONS[horizon])
    combined, _ = with_history(alone, older.dataset(HORIZONS[horizon]), name)
    t0 = time.perf_counter()
    report = walk_forward_evaluate(combined, TrainConfig().tested_like(alone))
    report.overall["seconds"] = time.perf_counter() - t0
    return report.overall, report.oof


def compare(
    snapshot: Path,
    label: str,
    ablations: bool,
    only: str | None = None,
    horizons: tuple[str, ...] = ("7d", "30d"),
    history: Path | None = None,
) -> list[dict[str, Any]]:
    rows = []
    cost = TrainConfig().round_trip_cost
    frames = SnapshotFrames(sanitized_snapshot(snapshot, lambda m: None), cost)
    older = None
    if history is not None:
        older = SnapshotFrames(sanitized_snapshot(history, lambda m: None), cost)
    daily = snapshot / "ohlcv_1d.parquet"
    for horizon in horizons:
        base_ic, base = yardstick(daily, HORIZONS[horizon].duration.days)
        base_dates = base["date"].drop_duplicates()
        variants = ABLATIONS if ablations else {"product (default)": {}}
        if only:  # comma-separated parts of variant names
            parts = only.split(",")
            variants = {k: v for k, v in variants.items() if any(p in k for p in parts)}
        runs: list[tuple[str, dict[str, Any] | None]] = list(variants.items())
        if older is not None:  # None: the product with the older history
            runs.append((f"product + history {history.name} (training only)", None))
        product_oof = None
        for name, overrides in runs:
            if overrides is None:
                overall, oof = with_older(frames, older, history.name, horizon)
            else:
                overall, oof = evaluate(frames, horizon, overrides)
            if overrides == {}:  # the product (default)
                product_oof = oof
            common = ic_on(oof, base_dates)
            lead = lead_over(oof, base, HORIZONS[horizon])
            rows.append(
                {
                    "snapshot": label,
                    "horizon": horizon,
                    "variant": name,
                    "rank_ic_product_period": overall["rank_ic_mean"],
                    "rank_ic_yardstick_dates": common,
                    "yardstick_ic": base_ic,
                    "ratio": common / base_ic if base_ic else float("nan"),
                    "lead_over_yardstick": lead.mean,
                    "lead_t": lead.t,
                    "lead_periods": lead.periods,
                    "momentum_ic": overall["momentum_rank_ic_mean"],
                    "ece": overall["ece"],
                    "max_probability": overall["max_probability"],
                    "n_calls_at_80": overall["n_calls_at_80"],
                    "seconds": overall["seconds"],
                }
            )
            if overrides != {} and product_oof is not None:  # a change against the product
                gain = ic_gain(oof, product_oof, HORIZONS[horizon])
                rows[-1].update(
                    gain_over_product=gain.mean, gain_t=gain.t, gain_periods=gain.periods
                )
            print(json.dumps(rows[-1], default=float), file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| snapshot | horizon | variant | rank IC (product period) | rank IC (yardstick dates) "
        "| yardstick | ratio | lead (t, periods) | momentum | ECE | max P | calls >= 80 % | s |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        variant = r["variant"]
        if "gain_t" in r:
            variant += f" (gain {r['gain_over_product']:+.4f}, t {r['gain_t']:.1f})"
        lines.append(
            f"| {r['snapshot']} | {r['horizon']} | {variant} | "
            f"{r['rank_ic_product_period']:.4f} | {r['rank_ic_yardstick_dates']:.4f} | "
            f"{r['yardstick_ic']:.4f} | {r['ratio']:.2f}x | "
            f"{r['lead_over_yardstick']:+.4f} (t {r['lead_t']:.1f}, {r['lead_periods']}) | "
            f"{r['momentum_ic']:.4f} | "
            f"{r['ece']:.3f} | {r['max_probability']:.2f} | {r['n_calls_at_80']} | "
            f"{r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--snapshot",
        type=Path,
        default=PROJECT_ROOT.parent / "shared" / "data" / "market" / "binance_2024",
    )
    parser.add_argument("--ablations", action="store_true")
    parser.add_argument("--cuts", action="store_true")
    parser.add_argument(
        "--only", help="run only the variants whose name contains one of these (comma-separated)"
    )
    parser.add_argument("--horizons", default="7d,30d", help="of 7d, 30d (comma-separated)")
    parser.add_argument("--history", type=Path, help="a folder of older daily candles")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    horizons = tuple(h.strip() for h in args.horizons.split(","))
    rows = compare(
        args.snapshot, args.snapshot.name, args.ablations, args.only, horizons, args.history
    )
    if args.cuts:
        with tempfile.TemporaryDirectory() as tmp:
            for which in ("first82", "last54"):
                path = cut(args.snapshot, which, Path(tmp) / which)
                label = f"{args.snapshot.name} {which}"
                ablate = args.ablations and bool(args.only)
                rows += compare(path, label, ablate, args.only, horizons, args.history)
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
