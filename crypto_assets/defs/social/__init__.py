"""The Dagster layer of social text, news and events (one folder: the three source assets share
one status pattern, and ``coin_text_signals`` joins them).

Resources the lead wires (crypto_assets.resources.text_sources.text_resources(settings) builds
them): reddit_source, telegram_source, discord_source, x_source, rss_source, cryptopanic_source,
hacks_source, unlocks_source, pump_events_source, plus sentiment_scorer
(resources.sentiment_scorer.SentimentScorerResource) and the existing duckdb / io_manager.
"""

import dagster as dg

from crypto_assets.defs.social.signals import coin_text_signals
from crypto_assets.defs.social.sources import events, news_items, social_posts

social_assets = [social_posts, news_items, events, coin_text_signals]

defs = dg.Definitions(assets=social_assets)
