"""The Dagster layer, one package per domain (market, features, models, predictions, sentiment).

Each ``defs/<domain>/__init__.py`` exports ``build_defs(partitions) -> dg.Definitions`` with its
assets, checks, jobs, schedules and sensors and no resources; ``crypto_assets.definitions``
merges every domain listed in ``DOMAINS`` with the resources built from settings.
"""
