"""The feedback loop's policy: how much live evidence model health needs, the drift bounds and the
retrain cooldown, as one value the pure functions take.

Built from ``Settings`` (the ``feedback_*`` block, env ``CRYPTO_ASSETS_FEEDBACK_*``; range-checked
there) with ``FeedbackPolicy.from_settings``; the Dagster layer hands it to assets as the
``feedback_policy`` resource. The fields with defaults are fixed choices of the method (bin
counts, the minimum evidence a band or a PSI needs), not user knobs.
"""

from __future__ import annotations

from pydantic import BaseModel

from crypto_assets.settings import FEEDBACK_HEALTH_WINDOW_DAYS, Settings


class FeedbackPolicy(BaseModel):
    # --- from settings (feedback_<name>) ---
    health_window_days: dict[str, int]  # rolling window of known outcomes per horizon
    min_outcomes: int  # fewer known outcomes in the window: "insufficient"
    min_dates: int  # ... or fewer prediction times (cross-sections)
    band_k: float  # performance band: mean - k * std of the fold rank ICs
    ece_bound: float  # calibration drift: live ECE above this
    psi_bound: float  # a feature with PSI above this (and its training baseline) has moved
    psi_feature_share: float  # feature drift: at least this share of features moved
    psi_live_days: int  # live feature window (and the training baseline's block length)
    cooldown_days: int  # measured days between drift retrains of one horizon
    outcome_lookback_days: int  # predictions re-checked for (revised) labels
    confidence_threshold: float  # the calls the hit rate counts (the top list's threshold)
    # --- fixed choices of the method ---
    reliability_bins: int = 10  # equal-width probability bins (as the walk-forward's ECE)
    psi_bins: int = 10  # quantile bins cut on the training window
    min_folds: int = 3  # walk-forward folds a performance band needs
    min_call_times: int = 5  # distinct call times before the hit rate is held to its band
    psi_min_rows: int = 200  # rows each side needs before PSI is measured
    psi_reference_max_rows: int = 200_000  # sample of the training window PSI reads

    def health_window(self, horizon: str) -> int:
        """Days of known outcomes model health looks back over for ``horizon``."""
        default = FEEDBACK_HEALTH_WINDOW_DAYS.get(horizon, 30)
        return int(self.health_window_days.get(horizon, default))

    @classmethod
    def settings_values(cls, settings: Settings) -> dict:
        """The policy's values from one ``Settings`` (its ``feedback_*`` block)."""
        values = {
            name: getattr(settings, f"feedback_{name}")
            for name in cls.model_fields
            if f"feedback_{name}" in Settings.model_fields
        }
        return {**values, "confidence_threshold": settings.confidence_threshold}

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> FeedbackPolicy:
        return cls(**{**cls.settings_values(settings), **overrides})
