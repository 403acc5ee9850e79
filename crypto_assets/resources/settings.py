"""The project settings as a Dagster resource (key ``settings``): how an asset reads the
profile, paths, costs and thresholds. Built once from ``crypto_assets.settings.Settings`` by
``crypto_assets.definitions.build_resources``; assets never read the environment themselves.

An asset takes it as a typed parameter::

    def top_coins(context: dg.AssetExecutionContext, settings: PipelineSettings) -> ...:
        threshold = settings.confidence_threshold

Fields are plain config values (a deployment may override them per run in the launchpad).
A domain that needs a new cross-cutting knob adds it to ``Settings`` and here, in its block.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from crypto_assets.settings import Settings


class PipelineSettings(dg.ConfigurableResource):
    # --- where things live ---
    profile: str = "live"
    data_dir: str  # this profile's own folder (Settings.profile_dir)
    # --- market ---
    quote_currencies: list[str] = Field(default_factory=lambda: ["USD", "USDT", "USDC"])
    history_start: str = "2024-01-01"
    # --- signals ---
    round_trip_cost: float = 0.004
    confidence_threshold: float = 0.80
    model_max_ece: float = 0.10
    model_n_estimators: int | None = None
    model_families: list[str] = Field(default_factory=lambda: ["lightgbm", "xgboost", "rnn"])
    model_zoo_max_rows: int = 150_000
    model_tuning_seconds: float | None = None  # None: TrainConfig's budget per horizon
    training_history_dir: str | None = None  # older daily candles of another source (7d/30d)
    # --- sentiment scorer ---
    sentiment_hf_model: str | None = None
    sentiment_label_map: dict[str, str] | None = None
    sentiment_device: str = "auto"
    sentiment_batch_size: int = 64

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineSettings:
        return cls(
            profile=settings.profile,
            data_dir=str(settings.profile_dir),
            quote_currencies=list(settings.quote_currencies),
            history_start=settings.history_start,
            round_trip_cost=settings.round_trip_cost,
            confidence_threshold=settings.confidence_threshold,
            model_max_ece=settings.model_max_ece,
            model_n_estimators=settings.model_n_estimators,
            model_families=list(settings.model_families or []),
            model_zoo_max_rows=settings.model_zoo_max_rows,
            model_tuning_seconds=settings.model_tuning_seconds,
            training_history_dir=(
                str(settings.training_history_dir) if settings.training_history_dir else None
            ),
            sentiment_hf_model=settings.sentiment_hf_model,
            sentiment_label_map=settings.sentiment_label_map,
            sentiment_device=settings.sentiment_device,
            sentiment_batch_size=settings.sentiment_batch_size,
        )

    @property
    def models_dir(self) -> Path:
        """Local folders of trained models of this profile (``<data_dir>/models``)."""
        return Path(self.data_dir) / "models"

    def signal_model_name(self, horizon: str) -> str:
        """Registered signal model of a horizon; the demo profile registers its own models,
        so a model trained on a snapshot never becomes the live model in use."""
        infix = "" if self.profile == "live" else f"{self.profile}_"
        return f"crypto_assets_{infix}signal_{horizon}"

    def signal_experiment(self) -> str:
        """MLflow experiment of this profile's signal models."""
        base = "crypto_assets_signals"
        return base if self.profile == "live" else f"{base}_{self.profile}"
