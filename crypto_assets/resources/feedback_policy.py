"""The feedback loop's knobs as a Dagster resource, so its assets take them as data (built from
``Settings.feedback`` in definitions.py) and never read settings or the environment themselves.
"""

from __future__ import annotations

import dagster as dg

from crypto_assets.settings import FeedbackSettings, Settings


class FeedbackPolicyResource(dg.ConfigurableResource, FeedbackSettings):
    """``FeedbackSettings`` plus the confidence threshold the dashboard's calls use; it IS a
    ``FeedbackSettings``, so domain functions take it as it is."""

    confidence_threshold: float = 0.80

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedbackPolicyResource:
        return cls(
            **settings.feedback.model_dump(), confidence_threshold=settings.confidence_threshold
        )
