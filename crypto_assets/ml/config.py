"""How signal models are trained and judged: one configuration for the product and the backtest.

The product's settings (round-trip cost, confidence threshold, trees for quick runs, the zoo's
families, Optuna's budget) reach the models only through ``TrainConfig`` (built by
``from_settings``), so the backtest and the ``models`` asset can never disagree about them.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

from crypto_assets.horizons import HORIZONS, TIMEFRAMES, Horizon
from crypto_assets.ml.dataset import longer_horizons


def _default_min_train() -> dict[str, float]:
    return {"1h": 60.0, "24h": 60.0, "7d": 60.0, "30d": 90.0}


def _default_stride() -> dict[str, int]:
    # Every k-th timestamp of hourly training rows: 24h labels overlap 23 of 24 hours with their
    # neighbours, so every 6th hour loses little and keeps a backtest to minutes on 2 cores.
    # Daily rows are thinned only past ``max_train_rows`` (thinning 30d rows 5x cost 40 % of
    # the rank IC on binance_2024: see benchmarks/README.md, "The signal edge").
    return {"1h": 3, "24h": 6, "7d": 1, "30d": 1}


def _default_families() -> dict[str, list[str]]:
    # LightGBM alone: the configuration benchmarks/README.md measures. The zoo (e.g. lightgbm,
    # xgboost, rnn) is opt-in: its selection did not beat LightGBM alone on an unseen coin cut
    # (benchmarks/README.md, "Model zoo").
    return {h: ["lightgbm"] for h in ("1h", "24h", "7d", "30d")}


def _default_tuning_budget() -> dict[str, float]:
    # Seconds of Optuna search per family and horizon over a whole walk-forward and the final
    # fit: ~20 trials fit in it on the daily horizons, a few on the (thinned) hourly training
    # rows; settings' ``model_tuning_seconds`` raises or lowers it (0: off). A search moves
    # away from the defaults only on a gain above its split's noise (ml/tuning.py).
    return {"1h": 15.0, "24h": 15.0, "7d": 15.0, "30d": 15.0}


def _default_seeds() -> dict[str, int]:
    # Averaging seeds lowers variance; hourly sets are large enough that one model is stable.
    return {"1h": 1, "24h": 1, "7d": 3, "30d": 3}


class TrainConfig(BaseModel):
    # The family a single walk-forward / final fit uses; the zoo sets it per candidate.
    family: str = "lightgbm"
    family_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # The families the model zoo fits per horizon on the same folds, and whether it also
    # judges their equal-weight ensemble (kept only where it wins out of sample).
    families: dict[str, list[str]] = Field(default_factory=_default_families)
    ensemble: bool = True
    # Every listed family is judged only while a horizon has at most this many labelled rows;
    # past it only the first one runs. Each family costs about what LightGBM costs, so the zoo
    # multiplies a horizon's training time: the daily horizons of binance_2024 (~25-30k rows)
    # judge all, the hourly ones (~750k) and years of daily history for hundreds of coins
    # (~750k) run LightGBM alone within minutes (benchmarks/README.md, "Model zoo").
    # The settings' ``model_families`` lists the families (the demo profile: LightGBM).
    zoo_max_rows: int = Field(150_000, ge=0)
    seeds: dict[str, int] = Field(default_factory=_default_seeds)
    # Feature views the ranking score averages one model each over (features.pipeline); a view
    # a timeframe does not have is skipped (hourly candles have no "returns" view).
    score_views: list[str] = Field(default_factory=lambda: ["technical", "returns"])
    # Per horizon, in place of ``score_views``; "a+b" is ONE model on the union of two views.
    # The 30-day return-profile model also sees the risk factors (features.factors: beta,
    # idiosyncratic volatility, skewness, largest day, illiquidity): above the yardstick by
    # more on the universe and on both coin cuts, while at 7d they cost a little on all three
    # (benchmarks/README.md, "Risk factors").
    horizon_score_views: dict[str, list[str]] = Field(
        default_factory=lambda: {"30d": ["technical", "returns+factors"]}
    )
    # Per horizon, a longer horizon of the same timeframe whose outcome the ranking score also
    # learns: one more model per view of THAT horizon (``views_for``) on the rank of its
    # return, averaged with the horizon's own. A month's rank is a less noisy measure of the
    # persistent differences between coins (risk, trend) that also move a week's; purged by
    # the same cut as the week's labels (``ml.dataset.add_targets``). Measured in
    # benchmarks/README.md, "A slower target at 7d".
    slow_targets: dict[str, str] = Field(default_factory=lambda: {"7d": "30d"})
    # Columns every score view also reads (the on-chain comparison adds its columns so).
    view_extras: list[str] = Field(default_factory=list)
    min_train_days: dict[str, float] = Field(default_factory=_default_min_train)
    # No test block before this time (UTC): earlier rows only train. None: ``min_train_days``
    # after the first row. Lets a run with older history be judged on the same test blocks,
    # retrained on the same dates, as a run without it.
    test_from: datetime | None = None
    retrain_every_days: float = Field(30.0, gt=0)
    # Long histories (years of candles) retrain less often so a backtest stays within minutes:
    # the test span is cut into at most this many blocks (never shorter than retrain_every_days).
    max_folds: int = Field(24, ge=1)
    max_train_rows: int = Field(200_000, ge=1_000)
    # Seeds are averaged only on small training sets, where bagging noise matters; past this
    # many rows one model per view is as stable and the backtest of a long history stays short.
    max_rows_for_seeds: int = Field(100_000, ge=1)
    embargo_days: float | None = None  # None: the horizon (never less)
    train_stride: dict[str, int] = Field(default_factory=_default_stride)
    # Optuna, nested in every walk-forward fold (ml/tuning.py): at most this many seconds per
    # family and horizon in all (0 = off), at most ``optuna_trials`` trials per search, and a
    # new search only once the training set has grown ``optuna_regrow`` times since the last.
    optuna_budget_s: dict[str, float] = Field(default_factory=_default_tuning_budget)
    optuna_trials: int = Field(20, ge=0)
    optuna_regrow: float = Field(1.5, ge=1.0)
    isotonic_min_samples: int = Field(1000, ge=1)
    min_calibration_rows: int = Field(200, ge=1)
    # Pseudo-periods of "no idea" (p = 0.5) the calibrator is shrunk with; see calibration.py.
    calibration_prior_periods: float = Field(1.0, ge=0)
    # Market regimes last longer than a day: count periods of at least this many days when
    # sizing the shrinkage.
    calibration_regime_days: float = Field(7.0, ge=0)
    # One market event decides many coins' outcomes: the calibrator counts each period of
    # max(horizon, this many days) as ONE observation when it bounds a step's hit rate.
    calibration_cluster_days: float = Field(1.0, ge=0)
    # One-sided credible level of that bound.
    calibration_bound_quantile: float = Field(0.05, gt=0, le=0.5)
    min_train_rows: int = Field(200, ge=1)
    round_trip_cost: float = Field(0.004, ge=0, lt=1)
    confidence_threshold: float = Field(0.80, gt=0, lt=1)
    # A model is used only with out-of-sample ECE within this bound (and skill: ml/tracking.py).
    max_ece: float = Field(0.10, gt=0, le=1)
    # Rank-IC gain a retrain needs over the version in use to replace it.
    min_improvement: float = Field(0.0, ge=0)
    device: Literal["auto", "cpu", "cuda", "gpu"] = "auto"

    def min_train(self, horizon: Horizon) -> pd.Timedelta:
        days = self.min_train_days.get(horizon.name, max(60.0, 3 * horizon.duration.days))
        return pd.Timedelta(days=days)

    def first_test(self, horizon: Horizon, first_row: pd.Timestamp) -> pd.Timestamp:
        """Where the first test block starts for data beginning at ``first_row`` (UTC)."""
        start = first_row + self.min_train(horizon)
        if self.test_from is None:
            return start
        when = pd.Timestamp(self.test_from)
        when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
        return max(start, when)

    def tested_like(self, alone: Any) -> TrainConfig:
        """This config, testing a dataset that adds older rows to ``alone`` (an
        ``ml.dataset.Dataset``) on the blocks, and retrain dates, of ``alone`` by itself."""
        start = self.first_test(alone.horizon, alone.labelled["date"].min())
        return self.model_copy(update={"test_from": start})

    def embargo(self, horizon: Horizon) -> pd.Timedelta:
        if self.embargo_days is None:
            return horizon.duration
        return max(pd.Timedelta(days=self.embargo_days), horizon.duration)

    def retrain_every(self, span: pd.Timedelta) -> pd.Timedelta:
        """The test-block length for a test span: monthly, longer when the span is long."""
        base = pd.Timedelta(days=self.retrain_every_days)
        if span <= base * self.max_folds:
            return base
        return pd.Timedelta(days=math.ceil(span / pd.Timedelta(days=1) / self.max_folds))

    def stride(self, horizon: Horizon, rows: int = 0, timestamps: int = 1) -> int:
        """Keep every k-th timestamp: the configured stride, more when rows exceed the cap."""
        fixed = max(1, int(self.train_stride.get(horizon.name, 1)))
        if rows > self.max_train_rows:
            fixed = max(fixed, math.ceil(rows / self.max_train_rows))
        return min(fixed, max(1, timestamps // 10))

    def params_for(self, family: str, horizon: Horizon, rows: int = 0) -> dict[str, Any]:
        """The family's params for a horizon (``rows``: training rows, 0 when unknown)."""
        from crypto_assets.features.pipeline import feature_views
        from crypto_assets.ml.estimators import estimator_class

        params = dict(self.family_params.get(family, {}))
        accepts = estimator_class(family).params_model.model_fields
        if family == "ensemble":
            members = params.setdefault("members", self.families_for(horizon))
            inner = dict(params.get("member_params", {}))
            for member in members:
                inner[member] = {**self.params_for(member, horizon, rows), **inner.get(member, {})}
            params["member_params"] = inner
            return params
        seeds = self.seeds.get(horizon.name, 1) if rows <= self.max_rows_for_seeds else 1
        if "n_seeds" in accepts:
            params.setdefault("n_seeds", seeds)
        chosen = self.views_for(horizon)
        if chosen and "inputs" in accepts:  # one network for score and probability
            regime = feature_views(horizon.timeframe)["regime"]
            read = [column for view in [*chosen, regime] for column in view]
            params.setdefault("inputs", list(dict.fromkeys(read)))
        if chosen and "views" in accepts:
            params.setdefault("views", chosen)
        slow = self.slow_target(horizon)
        if slow and "slow_views" in accepts:
            params.setdefault("slow_views", self.views_for(HORIZONS[slow]))
        return params

    def slow_target(self, horizon: Horizon) -> str | None:
        """The longer horizon whose outcome the ranking score also learns (``slow_targets``),
        if it is one of the same timeframe."""
        slow = self.slow_targets.get(horizon.name)
        return slow if slow in longer_horizons(horizon) else None

    def views_for(self, horizon: Horizon) -> list[list[str]]:
        """The feature lists the ranking score averages one model each over; a view the
        timeframe lacks is skipped (hourly candles have neither returns nor factors)."""
        from crypto_assets.features.pipeline import feature_views

        views = feature_views(horizon.timeframe)
        chosen = []
        for entry in self.horizon_score_views.get(horizon.name, self.score_views):
            parts = [views[name] for name in entry.split("+") if name in views]
            if parts:
                chosen.append([column for part in [*parts, self.view_extras] for column in part])
        return chosen

    def families_for(self, horizon: Horizon, rows: int = 0) -> list[str]:
        """The single families the zoo fits for a horizon with ``rows`` labelled rows."""
        listed = list(self.families.get(horizon.name, [self.family]))
        return listed[:1] if rows > self.zoo_max_rows else listed

    def tuning_budget(self, horizon: Horizon) -> float:
        """Seconds of Optuna search per family for this horizon (0: off)."""
        if self.optuna_trials <= 0:
            return 0.0
        return float(self.optuna_budget_s.get(horizon.name, 0.0))

    def bar(self, horizon: Horizon) -> pd.Timedelta:
        return TIMEFRAMES[horizon.timeframe]

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> TrainConfig:
        """The product's configuration from the settings: cost, threshold, calibration bound,
        tree count, the zoo's families and row limit, and Optuna's budget."""
        values: dict[str, Any] = {
            "round_trip_cost": settings.round_trip_cost,
            "confidence_threshold": settings.confidence_threshold,
        }
        if getattr(settings, "model_max_ece", None) is not None:
            values["max_ece"] = settings.model_max_ece
        trees = getattr(settings, "model_n_estimators", None)
        if trees:
            values["family_params"] = {
                "lightgbm": {"n_estimators": int(trees)},
                "xgboost": {"n_estimators": int(trees)},
            }
        families = getattr(settings, "model_families", None)
        if families:
            if isinstance(families, str):
                families = families.split(",")
            chosen = [f.strip() for f in families if f.strip()]
            values["families"] = {h: chosen for h in ("1h", "24h", "7d", "30d")}
        zoo_rows = getattr(settings, "model_zoo_max_rows", None)
        if zoo_rows is not None:
            values["zoo_max_rows"] = int(zoo_rows)
        budget = getattr(settings, "model_tuning_seconds", None)
        if budget is not None:
            values["optuna_budget_s"] = {h: float(budget) for h in ("1h", "24h", "7d", "30d")}
        values.update(overrides)
        return cls(**values)
