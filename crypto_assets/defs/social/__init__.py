"""Social, news and events in Dagster: the source tables (``social_posts``, ``news_items``,
``events``, each with its ``*_status`` table and one ``<source>_status`` check per source),
``coin_text_signals``, and the job that runs them over a range of days (part of every
whole-graph run; ``feature_table`` joins the signals, so this job runs before the features).

Resources (``crypto_assets.resources.text_sources.text_resources(settings)``, wired by
``crypto_assets.definitions.build_resources``): reddit_source, telegram_source,
discord_source, x_source, rss_source, cryptopanic_source, hacks_source, unlocks_source,
pump_events_source; the sentiment scorer comes the same way ``text_sentiment`` gets it
(``settings`` + ``mlflow_tracking``).
"""

from __future__ import annotations

import dagster as dg

from crypto_assets.defs.partitions import Partitions
from crypto_assets.defs.pipeline import Scope, pipeline_job
from crypto_assets.defs.social.signals import build_signal_assets
from crypto_assets.defs.social.sources import NEWS_GROUP, SOCIAL_GROUP, build_source_assets


def build_defs(partitions: Partitions) -> dg.Definitions:
    social_job = pipeline_job(
        "social_job",
        dg.AssetSelection.groups(SOCIAL_GROUP, NEWS_GROUP),
        Scope.RANGE,
        "Social posts, news, events (live clients or replays; a source without key or network "
        "reports its status) and per-coin text signals for a range of days.",
        partitions_def=partitions.daily,
    )
    return dg.Definitions(
        assets=[*build_source_assets(partitions), *build_signal_assets(partitions)],
        jobs=[social_job],
    )
