"""``coin_text_signals``: per coin per day, mention volume and its z-score against the coin's own
history, the scorer's sentiment (mean, dispersion, bull/bear ratio), distinct authors, event
flags with the source headline and the FUD / FOMO / meme-pump / influencer flags."""

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import Partitions, partition_days
from crypto_assets.defs.sentiment.assets import scorer_in_use
from crypto_assets.defs.social.sources import SOCIAL_GROUP
from crypto_assets.frames import utc, utc_columns
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.sentiment.model import ModelNotAvailableError
from crypto_assets.sentiment.tracking import NoChampionError
from crypto_assets.social.linking import explode_coins
from crypto_assets.social.signals import coin_text_signals as build_signals
from crypto_assets.social.signals import daily_market_stats

HISTORY_DAYS = 30
CANDLES_TABLE = "clean_ohlcv"  # the market asset with sanitised candles (timeframe column)
TEXT_TABLES = ("social_posts", "news_items", "events")


class TextSignalsConfig(dg.Config):
    score_sentiment: bool = True  # False: volumes, authors and events only (quick runs)


def _scored(
    posts: pd.DataFrame,
    enabled: bool,
    settings: PipelineSettings,
    mlflow_tracking: MlflowTracking,
) -> tuple[pd.DataFrame, str]:
    """Exploded (post, coin) rows with the scorer's label and score (null without a scorer:
    no trained model is a reason, not a crash, so volumes and events still come through)."""
    rows = explode_coins(posts)
    if rows.empty:
        empty = rows.assign(score=pd.Series(dtype="float64"), label=pd.Series(dtype="string"))
        return empty, "no linked posts"
    if not enabled:
        return rows.assign(score=float("nan"), label=pd.NA), "sentiment scoring off (config)"
    try:
        scorer = scorer_in_use(settings, mlflow_tracking)
    except (NoChampionError, ModelNotAvailableError) as exc:
        return rows.assign(score=float("nan"), label=pd.NA), str(exc)
    unique = rows.drop_duplicates("id")
    scores = scorer.score_frame(unique["text"].astype(str).tolist())
    by_id = pd.DataFrame(
        {"id": unique["id"].to_numpy(), "label": scores["label"], "score": scores["score"]}
    )
    return rows.merge(by_id, on="id", how="left"), f"{scorer.name} v{scorer.version}"


def _metadata(frame: pd.DataFrame, scored: pd.DataFrame, notes: dict[str, object]) -> dict:
    fired = {
        c: int(frame[c].fillna(False).sum())
        for c in ("fud", "fomo", "meme_pump", "influencer_push")
    }
    top = frame.sort_values("mentions", ascending=False).head(10)
    columns = [
        "day",
        "coin",
        "mentions",
        "mentions_z",
        "sentiment_mean",
        "authors",
        "event_headline",
    ]
    return {
        "rows": len(frame),
        "coins": int(frame["coin"].nunique()) if len(frame) else 0,
        "posts_linked": int(scored["id"].nunique()) if len(scored) else 0,
        "detectors_fired": dg.MetadataValue.json(fired),
        **notes,
        "preview": dg.MetadataValue.md(
            top[columns].to_markdown(index=False) if len(top) else "(no coin mentioned)"
        ),
    }


def coin_text_signals(
    context: dg.AssetExecutionContext,
    config: TextSignalsConfig,
    settings: PipelineSettings,
    mlflow_tracking: MlflowTracking,
    duckdb: DuckDBStore,
) -> dg.Output[pd.DataFrame]:
    """Per coin per day text signals (``crypto_assets.social.signals``); z-scores use only this
    coin's earlier days (the 30 stored before the window, then the window's own earlier days),
    FOMO and the pump liquidity gate use the day's daily candles (null where none are stored)."""
    window = context.partition_time_window
    start, end = utc(window.start), utc(window.end)
    days = partition_days(window)
    posts_, news, events = (duckdb.read_window(t, "time", start, end) for t in TEXT_TABLES)
    posts = pd.concat([posts_, news.drop(columns="event_kind", errors="ignore")], ignore_index=True)
    posts = utc_columns(posts, "time")
    scored, scorer_note = _scored(posts, config.score_sentiment, settings, mlflow_tracking)
    since = start - pd.Timedelta(days=HISTORY_DAYS)
    history = utc_columns(duckdb.read_window("coin_text_signals", "day", since, start), "day")
    candles = duckdb.read_window(CANDLES_TABLE, "date", since, end, "timeframe = ?", ["1d"])
    market = daily_market_stats(candles) if len(candles) else None
    frame = build_signals(
        scored,
        utc_columns(events, "time"),
        pd.DatetimeIndex(days),
        history=history if len(history) else None,
        market=market,
    )
    notes = {
        "sentiment": scorer_note,
        "history_days": int(history["day"].nunique()) if len(history) else 0,
        "candles": "none stored (FOMO null)" if market is None else f"{len(candles)} daily candles",
        "as_of": str(end),
    }
    return dg.Output(frame, metadata=_metadata(frame, scored, notes))


def build_signal_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """``coin_text_signals`` on the daily partitions: it reads the day's text tables and the
    30 days of candles (and its own history) before it."""
    look_back = dg.TimeWindowPartitionMapping(
        start_offset=-HISTORY_DAYS, allow_nonexistent_upstream_partitions=True
    )
    return [
        dg.asset(
            group_name=SOCIAL_GROUP,
            partitions_def=partitions.daily,
            backfill_policy=dg.BackfillPolicy.single_run(),
            deps=[*TEXT_TABLES, dg.AssetDep(CANDLES_TABLE, partition_mapping=look_back)],
            metadata={"partition_expr": "day"},
            kinds={"pandas", "duckdb"},
        )(coin_text_signals)
    ]
