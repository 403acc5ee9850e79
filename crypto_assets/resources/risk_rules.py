"""The risk rules as a resource: the settings' ``risk_*`` block passed into the risk assets as
data (assets never read settings or the environment themselves)."""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource

from crypto_assets.risk.rules import RiskRules
from crypto_assets.settings import Settings


class RiskRulesResource(ConfigurableResource):
    """The parameters of ``risk.rules.RiskRules`` by name (one left out keeps the rules' own
    default: the dataclass is the one place they are written), plus which coins to watch beside
    the top list and how deep a book to fetch."""

    parameters: dict[str, Any] | None = None
    watch_list: list[str] | None = None  # symbols judged beside the top list (never allocated)
    book_depth: int = 100

    def rules(self) -> RiskRules:
        """The validated domain rules (TypeError / ValueError naming the bad parameter)."""
        return RiskRules(**(self.parameters or {}))

    @classmethod
    def from_settings(cls, settings: Settings) -> RiskRulesResource:
        values = {f: getattr(settings, f"risk_{f}") for f in RiskRules.__dataclass_fields__}
        return cls(
            parameters=values,
            watch_list=list(settings.risk_watch_list),
            book_depth=settings.risk_book_depth,
        )
