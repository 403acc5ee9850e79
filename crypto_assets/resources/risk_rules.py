"""The risk rules as a resource: the settings' ``risk_*`` block passed into the risk assets as
data (assets never read settings or the environment themselves)."""

from __future__ import annotations

from dagster import ConfigurableResource

from crypto_assets.risk.rules import RiskRules
from crypto_assets.settings import Settings


class RiskRulesResource(ConfigurableResource):
    """Every parameter of ``risk.rules.RiskRules`` (same names, same defaults), plus which coins
    to watch beside the top list and how deep a book to fetch."""

    ticket_usd: float = 2_500.0
    portfolio_usd: float = 25_000.0
    max_slippage: float = 0.01
    max_spread: float = 0.02
    warn_spread: float = 0.005
    min_dollar_volume: float = 100_000.0
    warn_dollar_volume: float = 1_000_000.0
    thin_depth_multiple: float = 5.0
    young_listing_days: int = 90
    book_max_age_hours: float = 36.0
    require_book: bool = False
    volume_days: int = 30
    volatility_days: int = 30
    min_return_days: int = 20
    target_daily_vol: float = 0.004
    max_weight: float = 0.10
    max_volume_share: float = 0.01
    max_cluster_weight: float = 0.25
    correlation_days: int = 90
    min_overlap_days: int = 30
    cluster_correlation: float = 0.7
    watch_list: list[str] | None = None  # symbols judged beside the top list (never allocated)
    book_depth: int = 100

    def rules(self) -> RiskRules:
        """The validated domain rules (ValueError naming the bad parameter)."""
        return RiskRules(**{f: getattr(self, f) for f in RiskRules.__dataclass_fields__})

    @classmethod
    def from_settings(cls, settings: Settings) -> RiskRulesResource:
        values = {f: getattr(settings, f"risk_{f}") for f in RiskRules.__dataclass_fields__}
        return cls(
            **values, watch_list=list(settings.risk_watch_list), book_depth=settings.risk_book_depth
        )
