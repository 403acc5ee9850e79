"""The feedback knobs come from settings (env CRYPTO_ASSETS_FEEDBACK_*), range-checked like every
setting: a bad value is one line naming the variable."""

from __future__ import annotations

import pytest

from crypto_assets.feedback.policy import FeedbackPolicy
from crypto_assets.horizons import LABEL_REFRESH_DAYS
from crypto_assets.resources.feedback_policy import FeedbackPolicyResource
from crypto_assets.settings import SettingsError, load_settings

BAD = [  # (variable without prefix, value, a fragment of what is allowed)
    ("FEEDBACK_COOLDOWN_DAYS", "-1", "from 0 to 3650"),
    ("FEEDBACK_MIN_OUTCOMES", "0", "from 1 to 10000000"),
    ("FEEDBACK_MIN_DATES", "1", "from 2 to 100000"),
    ("FEEDBACK_BAND_K", "nan", "from 0 to 10"),
    ("FEEDBACK_ECE_BOUND", "1.5", "strictly between 0 and 1"),
    ("FEEDBACK_PSI_BOUND", "0", "above 0 up to 10"),
    ("FEEDBACK_PSI_FEATURE_SHARE", "2", "above 0 up to 1"),
    ("FEEDBACK_PSI_LIVE_DAYS", "0", "from 1 to 365"),
    ("FEEDBACK_OUTCOME_LOOKBACK_DAYS", "7", "from 32"),
    ("FEEDBACK_HEALTH_WINDOW_DAYS", '{"2w": 30}', "mapping horizons"),
    ("FEEDBACK_HEALTH_WINDOW_DAYS", '{"7d": 0}', "whole days 1..3650"),
    ("FEEDBACK_HEALTH_WINDOW_DAYS", "30", "mapping horizons"),
]


@pytest.mark.parametrize(("name", "value", "allowed"), BAD)
def test_a_bad_knob_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, allowed: str
) -> None:
    monkeypatch.setenv(f"CRYPTO_ASSETS_{name}", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"CRYPTO_ASSETS_{name}=")
    assert allowed in message


def test_knobs_reach_the_policy_and_the_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_FEEDBACK_COOLDOWN_DAYS", "7")
    monkeypatch.setenv("CRYPTO_ASSETS_FEEDBACK_HEALTH_WINDOW_DAYS", '{"7d": 45}')
    settings = load_settings(confidence_threshold=0.7)
    policy = FeedbackPolicy.from_settings(settings)
    assert policy.cooldown_days == 7 and policy.confidence_threshold == 0.7
    assert policy.health_window("7d") == 45
    assert policy.health_window("30d") == 90  # a horizon left out keeps its default
    resource = FeedbackPolicyResource.from_settings(settings)
    assert isinstance(resource, FeedbackPolicy)
    assert resource.model_dump() == policy.model_dump()


def test_the_outcome_look_back_covers_the_longest_label() -> None:
    """A prediction must still be in the look-back when its 30d label lands, or its outcome
    would never be recorded: the rule's lower bound is the labels' refresh span."""
    assert LABEL_REFRESH_DAYS == 32
