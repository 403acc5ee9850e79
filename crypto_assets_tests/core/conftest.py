"""Fixtures shared across the suite."""

from crypto_assets_tests.fixtures import project_env  # noqa: F401
