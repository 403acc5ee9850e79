"""crypto_assets: a Dagster code location that ranks crypto coins by their chance to grow fast."""

__version__ = "0.1.0"
