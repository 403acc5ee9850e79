"""Whether a drift measure asks for a retrain: pure rules the sensors apply.

Four answers, each with a reason: ``fire`` (a breach, and the horizon's last drift retrain is at
least ``cooldown_days`` before the measured day), ``cooldown`` (a breach, but a retrain was
requested too recently: the new model needs days of outcomes before it can be judged, and
retraining again on the same evidence would only storm), ``quiet`` (measured, within bounds) and
``insufficient`` (too little evidence to say: never a pass). Cooldown is counted in days of the
measured data, not of the wall clock, so a replay over past days behaves as live operation does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from crypto_assets.feedback.drift import DriftMeasure

Answer = Literal["fire", "cooldown", "quiet", "insufficient"]


@dataclass(frozen=True)
class Decision:
    answer: Answer
    reason: str
    magnitude: float | None  # how far past the bound (None when not measured)

    @property
    def fire(self) -> bool:
        return self.answer == "fire"


def decide(measure: DriftMeasure, last_fired_day: str | None) -> Decision:
    """The answer for one measure, given the day the horizon's last drift retrain was asked for."""
    if measure.status == "insufficient":
        return Decision("insufficient", f"not enough evidence yet: {measure.reason}", None)
    magnitude = measure.excess
    if measure.status == "within":
        return Decision("quiet", measure.reason, magnitude)
    if last_fired_day is not None:
        elapsed = (date.fromisoformat(measure.day) - date.fromisoformat(last_fired_day)).days
        if elapsed < measure.cooldown_days:
            return Decision(
                "cooldown",
                f"{measure.reason}; a retrain was requested {elapsed} day(s) earlier "
                f"({last_fired_day}), cooldown {measure.cooldown_days} days",
                magnitude,
            )
    return Decision("fire", measure.reason, magnitude)


def later_day(*days: str | None) -> str | None:
    """The latest of some ISO days (None when none is given): the cooldown's reference."""
    known = [d for d in days if d]
    return max(known) if known else None
