"""Fixtures shared across the suite."""

from crypto_assets_tests.fixtures import binance_1h, project_env  # noqa: F401
