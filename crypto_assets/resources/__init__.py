"""Dagster resources: the external systems (exchange or snapshot, DuckDB, MLflow) and the
settings, each built from ``Settings`` in ``crypto_assets.definitions.build_resources``."""
