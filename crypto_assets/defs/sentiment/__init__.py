"""Sentiment domain in Dagster: the scorer's training job (minutes on CPU: run on demand, e.g.
`make sentiment`) and the scoring of the recorded texts (part of every whole-graph run)."""

from __future__ import annotations

import dagster as dg

from crypto_assets.defs.partitions import Partitions
from crypto_assets.defs.pipeline import Scope, pipeline_job
from crypto_assets.defs.sentiment.assets import build_assets


def build_defs(partitions: Partitions) -> dg.Definitions:
    sentiment_job = pipeline_job(
        "sentiment_job",
        dg.AssetSelection.assets("text_sentiment"),
        Scope.ONCE,
        "Scores the recorded texts with the sentiment model in use (none yet: says so).",
    )
    training_job = dg.define_asset_job(
        "sentiment_training_job",
        selection=dg.AssetSelection.assets("sentiment_model"),
        description="Fine-tunes, evaluates and registers the sentiment scorer (promoted only if "
        "its validation macro-F1 is better).",
    )
    return dg.Definitions(assets=build_assets(partitions), jobs=[sentiment_job, training_job])
