"""The risk rules of the top list, with every parameter in one place (``RiskRules``; the
defaults are the settings' ``# --- risk ---`` block, env ``CRYPTO_ASSETS_RISK_*``).

HARD rules: a top-list coin failing one is HELD BACK: it stays listed with
``held_back_reason`` and gets no allocation (never silently dropped).
  H1 slippage: buying or selling ``ticket_usd`` through the current book costs more than
     ``max_slippage`` vs the mid (half the spread included, fees not).
  H2 ticket does not fit: the visible book cannot fill ``ticket_usd`` on one side.
  H3 spread wider than ``max_spread``.
  H4 median daily dollar volume over ``volume_days`` below ``min_dollar_volume``.
  H5 fewer than ``min_return_days`` daily returns in the last ``volatility_days``: the position
     cannot be sized.
  H1-H3 need a CURRENT book (as_of within ``book_max_age_hours`` of the day's end) and a USD
  rate for the quote; H4 needs the USD rate. Without them the rule is not judged and a warning
  says so (W5, W6), unless ``require_book`` makes a missing current book a hard rule itself.
SOFT rules: warnings in ``risk_flags``; they do not hold a coin back.
  W1 microcap liquidity: median daily dollar volume below ``warn_dollar_volume``.
  W2 wide spread: spread above ``warn_spread``.
  W3 thin book: depth within 2 % of the mid, on the thinner side, below
     ``thin_depth_multiple`` x ``ticket_usd``.
  W4 young listing: first stored daily candle less than ``young_listing_days`` before the day
     (judged only for coins whose history starts after the store's first candle; otherwise the
     age is a lower bound and says nothing).
  W5 no current book; W6 no USD rate for the quote currency.
ALLOCATION (fraction of ``portfolio_usd``, top-list coins not held back):
  A1 volatility-scaled: w = ``target_daily_vol`` / sigma, sigma = std of daily log returns over
     the last ``volatility_days``.
  A2 capped at ``max_weight``.
  A3 never more than ``max_volume_share`` of the median daily dollar volume:
     w <= max_volume_share x volume / ``portfolio_usd``.
  A4 each correlation cluster sums to at most ``max_cluster_weight`` (its members scaled down
     in proportion).
  A5 the whole list sums to at most 1 (scaled down in proportion); the rest stays in cash.
CLUSTERS: daily log returns over the last ``correlation_days``; Pearson correlation of each pair
over common days (at least ``min_overlap_days``, otherwise the pair counts as uncorrelated);
distance sqrt((1 - rho) / 2); average-linkage hierarchical clustering cut where the average
correlation falls below ``cluster_correlation``. Coins with fewer than ``min_overlap_days``
returns are clusters of their own.
Dollar amounts: USD, USDT and USDC count at face value (1 USD); another quote converts at the
latest daily close of QUOTE/USD(T/C) within ``book_max_age_hours`` of the time it is needed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class RiskRules:
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

    def __post_init__(self) -> None:
        fractions = ("max_slippage", "max_spread", "warn_spread", "max_weight")
        fractions += ("max_volume_share", "max_cluster_weight", "target_daily_vol")
        for name in fractions:
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= 1):
                raise ValueError(f"risk rule {name}={value!r}: must be in (0, 1]")
        positive = ("ticket_usd", "portfolio_usd", "book_max_age_hours", "thin_depth_multiple")
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"risk rule {name}={value!r}: must be > 0")
        for name in ("min_dollar_volume", "warn_dollar_volume", "young_listing_days"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"risk rule {name}={getattr(self, name)!r}: must be >= 0")
        days = ("volume_days", "volatility_days", "min_return_days", "correlation_days")
        for name in (*days, "min_overlap_days"):
            if getattr(self, name) < 2:
                raise ValueError(f"risk rule {name}={getattr(self, name)!r}: must be >= 2")
        if self.min_return_days > self.volatility_days:
            raise ValueError("risk rule min_return_days must be <= volatility_days")
        if not -1 < self.cluster_correlation < 1:
            raise ValueError("risk rule cluster_correlation must be in (-1, 1)")

    @property
    def lookback_days(self) -> int:
        """Daily candles the rules read before the day (the longest window, plus one for the
        first return)."""
        return max(self.volume_days, self.volatility_days, self.correlation_days) + 1

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)
