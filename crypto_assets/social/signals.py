"""Per-coin text signals: mention volume and its z-score against the coin's own history,
sentiment mean / dispersion and bull/bear ratio from the project's scorer, distinct authors,
event flags with the source headline, and the detector flags (``detectors``).

Time rule: a bucket's z-scores use only EARLIER buckets of the same coin (trailing window,
current bucket excluded), and a day's signals are complete only when the day has ended; the
feature join (``social.features``) uses day D from D+1 00:00 UTC on.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from crypto_assets.social.detectors import DETECTOR_COLUMNS, DetectorRules, detect_all

# Coordinated "buy now" language of pump groups (English; rockets count as words).
BUY_LANGUAGE = re.compile(
    r"\bbuy+(?:ing)?\s+(?:now|it|more|xrp|the dip|together|\w+ now)\b|\bbuy+(?:\s+buy+)+\b|"
    r"\bbuy{2,}\b|\bpump(?:ing|ed)?\b|\bto the moon\b|\ball in\b|\bdon'?t sell\b|\bhold+\b|"
    r"\bhodl\b|\blet'?s go+\b|\blfg\b|🚀",
    re.IGNORECASE,
)
EVENT_FLAGS = [
    "hack",
    "unlock",
    "fork",
    "listing",
    "delisting",
    "regulatory",
    "partnership",
    "pump",
]
COUNT_COLUMNS = ["mentions", "bullish", "bearish"]
SIGNAL_COLUMNS = [
    "day",
    "coin",
    "mentions",
    "mentions_z",
    "mentions_baseline",
    "sentiment_mean",
    "sentiment_std",
    "bullish",
    "bearish",
    "bullish_z",
    "bearish_z",
    "bull_bear_ratio",
    "authors",
    "buy_share",
    "high_reach_posts",
    "high_reach_authors",
    "reach_known",
    "sources",
    "price_return",
    "quote_volume",
    *DETECTOR_COLUMNS,
    *[f"event_{k}" for k in EVENT_FLAGS],
    "event_headline",
]


def aggregate_posts(
    posts: pd.DataFrame, freq: str = "1D", rules: DetectorRules | None = None
) -> pd.DataFrame:
    """One row per (coin, bucket) from exploded posts (``coin``, ``time``, ``text``, ``author``,
    ``score``, ``label``, optional ``reach``/``engagement``/``source``)."""
    rules = rules or DetectorRules()
    if posts.empty:
        return pd.DataFrame(columns=["coin", "bucket"])
    p = posts.copy()
    p["bucket"] = pd.to_datetime(p["time"], utc=True).dt.floor(freq)
    p["score"] = pd.to_numeric(p["score"], errors="coerce") if "score" in p else np.nan
    p["buy"] = p["text"].astype(str).str.contains(BUY_LANGUAGE)
    missing = pd.Series(np.nan, index=p.index)
    reach = pd.to_numeric(p["reach"], errors="coerce") if "reach" in p else missing
    engagement = pd.to_numeric(p["engagement"], errors="coerce") if "engagement" in p else missing
    p["high"] = np.where(
        reach.notna(),
        reach >= rules.influencer_min_reach,
        engagement >= rules.influencer_min_engagement,
    )
    p["reach_known"] = reach.notna() | engagement.notna()
    p["high_author"] = p["author"].where(p["high"])
    p["bull"] = p.get("label", pd.Series(pd.NA, p.index)).eq("bullish")
    p["bear"] = p.get("label", pd.Series(pd.NA, p.index)).eq("bearish")
    grouped = p.groupby(["coin", "bucket"], sort=True)
    agg = grouped.agg(
        mentions=("text", "size"),
        authors=("author", "nunique"),
        sentiment_mean=("score", "mean"),
        sentiment_std=("score", "std"),
        bullish=("bull", "sum"),
        bearish=("bear", "sum"),
        buy_share=("buy", "mean"),
        high_reach_posts=("high", "sum"),
        high_reach_authors=("high_author", "nunique"),
        reach_known=("reach_known", "sum"),
        sources=("source", lambda s: ",".join(sorted(set(map(str, s))))),
    ).reset_index()
    no_authors = grouped["author"].count().to_numpy() == 0
    agg.loc[no_authors, "high_reach_authors"] = agg.loc[no_authors, "high_reach_posts"]
    agg["bull_bear_ratio"] = (agg["bullish"] + 1) / (agg["bearish"] + 1)
    return agg


def add_trailing_z(
    agg: pd.DataFrame, buckets: pd.DatetimeIndex, window: int = 30, min_periods: int = 7
) -> pd.DataFrame:
    """``<col>_z`` for mentions, bullish, bearish and ``mentions_baseline``: each bucket against
    the coin's previous ``window`` covered buckets (missing = 0 posts). The spread has a floor of
    1 post, so a coin going from 0 to 1 mention is not an infinite burst. Null with fewer than
    ``min_periods`` earlier buckets."""
    out = agg.copy()
    if out.empty:
        for column in [*(f"{c}_z" for c in COUNT_COLUMNS), "mentions_baseline"]:
            out[column] = pd.Series(dtype="float64")
        return out
    index = pd.DatetimeIndex(sorted(set(buckets) | set(out["bucket"])))
    for column in COUNT_COLUMNS:
        grid = out.pivot_table(index="bucket", columns="coin", values=column, aggfunc="sum")
        grid = grid.reindex(index).fillna(0.0)
        past = grid.shift(1).rolling(window, min_periods=min_periods)
        mean, std = past.mean(), past.std().clip(lower=1.0)
        z = ((grid - mean) / std).stack(future_stack=True).rename(f"{column}_z")
        out = out.merge(z, left_on=["bucket", "coin"], right_index=True, how="left")
        if column == "mentions":
            base = mean.stack(future_stack=True).rename("mentions_baseline")
            out = out.merge(base, left_on=["bucket", "coin"], right_index=True, how="left")
    return out


def event_flags(events: pd.DataFrame, freq: str = "1D") -> pd.DataFrame:
    """Per (coin, bucket): ``event_<kind>`` flags and up to three source headlines."""
    columns = ["coin", "bucket", *[f"event_{k}" for k in EVENT_FLAGS], "event_headline"]
    if events.empty or not {"coin", "kind", "time", "title"} <= set(events.columns):
        return pd.DataFrame(columns=columns)
    rows = events[events["coin"].notna() & events["kind"].isin(EVENT_FLAGS)].copy()
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows["bucket"] = pd.to_datetime(rows["time"], utc=True).dt.floor(freq)
    flags = pd.crosstab([rows["coin"], rows["bucket"]], rows["kind"]).gt(0)
    flags = flags.reindex(columns=EVENT_FLAGS, fill_value=False).add_prefix("event_")
    headlines = rows.groupby(["coin", "bucket"])["title"].agg(lambda s: " | ".join(list(s)[:3]))
    return flags.join(headlines.rename("event_headline")).reset_index()[columns]


def daily_market_stats(candles: pd.DataFrame, window: int = 30) -> pd.DataFrame:
    """Per (coin, day): the day's return (close/open - 1) and the median daily quote volume of
    the trailing ``window`` days INCLUDING the day (both known when the day's candle closes)."""
    c = candles.copy()
    c["coin"] = c["symbol"].astype(str).str.split("/").str[0]
    c["bucket"] = pd.to_datetime(c["date"], utc=True).dt.floor("1D")
    daily = c.groupby(["coin", "bucket"]).agg(
        open=("open", "first"), close=("close", "last"), volume=("volume", "sum")
    )
    daily["price_return"] = daily["close"] / daily["open"] - 1
    daily["quote"] = daily["close"] * daily["volume"]
    daily["quote_volume"] = daily.groupby(level="coin")["quote"].transform(
        lambda s: s.rolling(window, min_periods=1).median()
    )
    return daily[["price_return", "quote_volume"]].reset_index()


def coin_text_signals(
    posts: pd.DataFrame,
    events: pd.DataFrame,
    buckets: pd.DatetimeIndex,
    history: pd.DataFrame | None = None,
    market: pd.DataFrame | None = None,
    rules: DetectorRules | None = None,
    freq: str = "1D",
) -> pd.DataFrame:
    """Signals of the buckets in ``buckets`` (``SIGNAL_COLUMNS``, ``day`` = bucket start).

    ``posts``: scored, exploded posts of those buckets; ``history``: earlier signal rows
    (``day``, ``coin``, ``mentions``, ``bullish``, ``bearish``) for the trailing z-scores;
    ``market``: ``daily_market_stats`` rows (FOMO and the liquidity gate; optional).
    """
    rules = rules or DetectorRules()
    agg = aggregate_posts(posts, freq, rules)
    past = history if history is not None and len(history) else None
    if past is not None:
        past = past.rename(columns={"day": "bucket"})[["coin", "bucket", *COUNT_COLUMNS]]
        past = past[~past["bucket"].isin(buckets)]
        agg = pd.concat([past.assign(_past=True), agg.assign(_past=False)], ignore_index=True)
    else:
        agg = agg.assign(_past=False)
    covered = pd.DatetimeIndex(buckets).union(pd.DatetimeIndex(agg["bucket"].unique()))
    scored = add_trailing_z(agg, covered)
    scored = scored[~scored["_past"].astype(bool)].drop(columns="_past")
    flags = event_flags(events, freq)
    out = scored.merge(flags, on=["coin", "bucket"], how="outer")
    if market is not None and len(market):
        out = out.merge(market, on=["coin", "bucket"], how="left")
    out = _fill_defaults(out)
    out = detect_all(out, rules).rename(columns={"bucket": "day"})
    out = out[out["day"].isin(buckets)]
    return out[SIGNAL_COLUMNS].sort_values(["day", "coin"], kind="stable").reset_index(drop=True)


def _fill_defaults(out: pd.DataFrame) -> pd.DataFrame:
    """Zero counts for coins that only had an event; fixed dtypes for storage."""
    for column in SIGNAL_COLUMNS:
        if column not in out and column != "day":
            out[column] = np.nan
    zero = [
        "mentions",
        "bullish",
        "bearish",
        "authors",
        "high_reach_posts",
        "high_reach_authors",
        "reach_known",
    ]
    out[zero] = out[zero].fillna(0).astype("int64")
    out["bull_bear_ratio"] = (out["bullish"] + 1) / (out["bearish"] + 1)
    for kind in EVENT_FLAGS:
        out[f"event_{kind}"] = out[f"event_{kind}"].astype("boolean").fillna(False).astype(bool)
    for column in ("sources", "event_headline", "coin"):
        out[column] = out[column].astype("string")
    floats = [
        "mentions_z",
        "mentions_baseline",
        "sentiment_mean",
        "sentiment_std",
        "bullish_z",
        "bearish_z",
        "buy_share",
        "price_return",
        "quote_volume",
    ]
    out[floats] = out[floats].astype("float64")
    out["bucket"] = pd.to_datetime(out["bucket"], utc=True).astype("datetime64[ns, UTC]")
    return out
