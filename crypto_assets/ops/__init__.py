"""Operations: alerts, host and GPU monitoring, health checks (doctor), backup and restore.

Pure like every domain package (no Dagster): the sensors and assets that use it live in
``crypto_assets.defs.ops``, the commands in ``crypto_assets.cli.ops``, the full health report
(with the Dagster instance check) in ``crypto_assets.health``.
"""
