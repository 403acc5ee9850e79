"""Operations: alerts, host and GPU monitoring, health checks (doctor), backup and restore.

Pure where possible (no Dagster): the Dagster sensors and assets that use this live in
``crypto_assets.defs.ops``; the commands in ``crypto_assets.ops.cli``.
"""
