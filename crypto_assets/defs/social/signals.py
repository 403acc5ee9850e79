"""``coin_text_signals``: per coin per day, mention volume and its z-score against the coin's own
history, the scorer's sentiment (mean, dispersion, bull/bear ratio), distinct authors, event
flags with the source headline and the FUD / FOMO / meme-pump / influencer flags."""

import dagster as dg
import pandas as pd

from crypto_assets.defs.partitions import daily_partitions
from crypto_assets.defs.social.sources import NEWS_GROUP, SOCIAL_GROUP, read_partition
from crypto_assets.defs.storage import read_table
from crypto_assets.social.linking import explode_coins
from crypto_assets.social.signals import coin_text_signals as build_signals
from crypto_assets.social.signals import daily_market_stats

HISTORY_DAYS = 30
CANDLES_TABLE = "clean_ohlcv"  # the market asset with sanitized candles (timeframe column)


class TextSignalsConfig(dg.Config):
    score_sentiment: bool = True  # False: volumes, authors and events only (quick runs)


def _scored(posts: pd.DataFrame, scorer_resource, enabled: bool) -> tuple[pd.DataFrame, str]:
    """Exploded (post, coin) rows with the scorer's label and score (null without a scorer)."""
    rows = explode_coins(posts)
    if rows.empty:
        return rows.assign(
            score=pd.Series(dtype="float64"), label=pd.Series(dtype="string")
        ), "no linked posts"
    if not enabled:
        return rows.assign(score=float("nan"), label=pd.NA), "sentiment scoring off (config)"
    scorer, reason = scorer_resource.load()
    if scorer is None:
        return rows.assign(score=float("nan"), label=pd.NA), reason
    unique = rows.drop_duplicates("id")
    scores = scorer.score_frame(unique["text"].astype(str).tolist())
    by_id = pd.DataFrame(
        {"id": unique["id"].to_numpy(), "label": scores["label"], "score": scores["score"]}
    )
    return rows.merge(by_id, on="id", how="left"), f"{scorer.name} v{scorer.version}"


@dg.asset(
    group_name=SOCIAL_GROUP,
    partitions_def=daily_partitions,
    deps=["social_posts", "news_items", "events", dg.AssetDep(CANDLES_TABLE)],
    required_resource_keys={"duckdb", "sentiment_scorer"},
    metadata={"partition_expr": "day"},
    kinds={"pandas", "duckdb"},
)
def coin_text_signals(
    context: dg.AssetExecutionContext,
    config: TextSignalsConfig,
) -> dg.Output[pd.DataFrame]:
    """Per coin per day text signals (``crypto_assets.social.signals``); z-scores use this
    coin's previous 30 stored days only, FOMO and the pump liquidity gate use the day's candles
    (null where no candles are stored)."""
    window = context.partition_time_window
    day, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    duck = context.resources.duckdb
    social_posts, news_items, events = (
        read_partition(duck, name, day, end) for name in ("social_posts", "news_items", "events")
    )
    posts = pd.concat(
        [social_posts, news_items.drop(columns="event_kind", errors="ignore")], ignore_index=True
    )
    scored, scorer_note = _scored(posts, context.resources.sentiment_scorer, config.score_sentiment)
    since = (day - pd.Timedelta(days=HISTORY_DAYS)).to_pydatetime()
    history = read_table(
        duck, "coin_text_signals", "day >= ? and day < ?", [since, day.to_pydatetime()]
    )
    candles = read_table(
        duck,
        CANDLES_TABLE,
        "timeframe = '1d' and date >= ? and date < ?",
        [since, end.to_pydatetime()],
    )
    market = daily_market_stats(candles) if len(candles) else None
    buckets = pd.date_range(day, end, freq="1D", inclusive="left", tz="UTC")
    frame = build_signals(
        scored, events, buckets, history=history if len(history) else None, market=market
    )
    fired = {
        c: int(frame[c].fillna(False).sum())
        for c in ("fud", "fomo", "meme_pump", "influencer_push")
    }
    top = frame.sort_values("mentions", ascending=False).head(10)
    return dg.Output(
        frame,
        metadata={
            "rows": len(frame),
            "coins": int(frame["coin"].nunique()) if len(frame) else 0,
            "posts_linked": int(scored["id"].nunique()) if len(scored) else 0,
            "sentiment": scorer_note,
            "history_days": int(history["day"].nunique()) if len(history) else 0,
            "candles": "none stored (FOMO null)"
            if market is None
            else f"{len(candles)} daily candles",
            "detectors_fired": dg.MetadataValue.json(fired),
            "as_of": str(end),
            "preview": dg.MetadataValue.md(
                top[
                    [
                        "coin",
                        "mentions",
                        "mentions_z",
                        "sentiment_mean",
                        "authors",
                        "event_headline",
                    ]
                ].to_markdown(index=False)
                if len(top)
                else "(no coin mentioned)"
            ),
        },
    )


__all__ = ["NEWS_GROUP", "coin_text_signals"]
