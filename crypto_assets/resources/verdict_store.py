"""The dashboard's verdict store (its own SQLite file) as a resource (key ``verdict_store``):
how the ``user_verdicts`` asset reads what users marked, without the dashboard ever writing the
pipeline's DuckDB."""

from __future__ import annotations

import pandas as pd
from dagster import ConfigurableResource

from crypto_assets.dashboard.verdicts import VerdictStore
from crypto_assets.settings import Settings


class VerdictStoreResource(ConfigurableResource):
    path: str  # the SQLite file, Settings.resolved_feedback_path

    def read(self) -> pd.DataFrame:
        """Every stored verdict, oldest first (the table shape of ``crypto.user_verdicts``)."""
        return VerdictStore(self.path).read()

    def count(self) -> int:
        return VerdictStore(self.path).count()

    def describe(self) -> str:
        return f"dashboard verdicts {self.path}"

    @classmethod
    def from_settings(cls, settings: Settings) -> VerdictStoreResource:
        return cls(path=str(settings.resolved_feedback_path))
