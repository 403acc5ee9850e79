"""The feedback loop's policy as a Dagster resource (key ``feedback_policy``), built from
``Settings`` in ``crypto_assets.definitions.build_resources``, so its assets take the knobs as
data and never read settings or the environment themselves.
"""

from __future__ import annotations

import dagster as dg

from crypto_assets.feedback.policy import FeedbackPolicy
from crypto_assets.settings import Settings


class FeedbackPolicyResource(dg.ConfigurableResource, FeedbackPolicy):
    """``FeedbackPolicy`` as resource config; it IS a ``FeedbackPolicy``, so domain functions
    take it as it is."""

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> FeedbackPolicyResource:
        return cls(**{**FeedbackPolicy.settings_values(settings), **overrides})
