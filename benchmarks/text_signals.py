"""Rank-IC of the signal models with and without the text features, where text and candles
overlap (binance_2024 candles 2024-01-01..09-06 vs the recorded Reddit / CryptoPanic texts).

    .venv/bin/python benchmarks/text_signals.py [--horizons 7d 30d 24h] [--no-sentiment]

Pipeline (the product's pure functions, nothing fitted on test rows): recorded posts ->
coin linking on the snapshot's coins -> the sentiment scorer (MLflow champion of the configured
store; ``--no-sentiment`` leaves sentiment null) -> ``coin_text_signals`` per coin per day ->
``asof_join_text_signals`` onto the product's feature frame (day D used from D+1 00:00, as
``feature_table`` joins it) -> ``crypto_assets.ml``: ``build_dataset`` / ``walk_forward_evaluate``
twice on the same candles, labels, folds and default ``TrainConfig``: once with the model
inputs (``features.pipeline.feature_names``), once with those plus the ``text_*`` columns.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crypto_assets.features.labels import forward_returns  # noqa: E402
from crypto_assets.features.pipeline import build_feature_frame, feature_names  # noqa: E402
from crypto_assets.horizons import HORIZONS, TIMEFRAMES  # noqa: E402
from crypto_assets.ml import metrics  # noqa: E402
from crypto_assets.ml.backtest import candles_for, sanitized_snapshot  # noqa: E402
from crypto_assets.ml.config import TrainConfig  # noqa: E402
from crypto_assets.ml.dataset import build_dataset  # noqa: E402
from crypto_assets.ml.walkforward import walk_forward_evaluate  # noqa: E402
from crypto_assets.news.records import cryptopanic_csv  # noqa: E402
from crypto_assets.settings import SHARED_DATA_DIR, load_settings  # noqa: E402
from crypto_assets.social import records  # noqa: E402
from crypto_assets.social.features import TEXT_FEATURES, asof_join_text_signals  # noqa: E402
from crypto_assets.social.linking import CoinLinker, explode_coins, link_frame  # noqa: E402
from crypto_assets.social.signals import coin_text_signals, daily_market_stats  # noqa: E402

SNAPSHOT = SHARED_DATA_DIR / "market" / "binance_2024"
log = logging.getLogger("text_signals")


def recorded_posts() -> pd.DataFrame:
    social = SHARED_DATA_DIR / "social"
    frames = [
        records.reddit_posts_csv(social / "reddit_rCryptoCurrency_posts_2025-04.csv.gz"),
        records.reddit_search_csv(
            social / "reddit_rCryptoCurrency_bitcoin_search_2019-2024.csv.gz"
        ),
        cryptopanic_csv(SHARED_DATA_DIR / "news" / "cryptopanic_news_feb2025.csv.gz"),
    ]
    return pd.concat(frames, ignore_index=True).drop_duplicates(["source", "id"])


def scored(rows: pd.DataFrame, use_sentiment: bool) -> tuple[pd.DataFrame, str]:
    if rows.empty or not use_sentiment:
        return rows.assign(score=np.nan, label=pd.NA), "off"
    from crypto_assets.sentiment.service import load_scorer

    scorer = load_scorer(load_settings(), train_if_missing=False)
    unique = rows.drop_duplicates("id")
    frame = scorer.score_frame(unique["text"].astype(str).tolist())
    by_id = pd.DataFrame(
        {"id": unique["id"].to_numpy(), "label": frame["label"], "score": frame["score"]}
    )
    return rows.merge(by_id, on="id", how="left"), f"{scorer.name} v{scorer.version}"


def signals_for(candles: pd.DataFrame, use_sentiment: bool) -> tuple[pd.DataFrame, dict]:
    start, end = (
        candles["date"].min().floor("D"),
        candles["date"].max().floor("D") + pd.Timedelta(days=1),
    )
    posts = recorded_posts()
    posts = posts[(posts["time"] >= start) & (posts["time"] < end)]
    linker = CoinLinker.for_universe(candles["symbol"].astype(str).str.split("/").str[0].unique())
    rows = explode_coins(link_frame(posts, linker))
    rows, scorer = scored(rows, use_sentiment)
    days = pd.date_range(start, end, freq="1D", inclusive="left", tz="UTC")
    market = daily_market_stats(candles)
    signals = coin_text_signals(
        rows, posts.iloc[0:0].assign(coin=None, kind=None, title=None), days, market=market
    )
    info = {
        "posts_in_candle_period": len(posts),
        "posts_by_source": posts["source"].value_counts().to_dict(),
        "linked_posts": int(rows["id"].nunique()) if len(rows) else 0,
        "coin_days_with_mentions": int((signals["mentions"] > 0).sum()),
        "coins_mentioned": int(signals.loc[signals["mentions"] > 0, "coin"].nunique()),
        "days_with_any_mention": int(signals.loc[signals["mentions"] > 0, "day"].nunique()),
        "scorer": scorer,
    }
    return signals, info


def overlap_ic(report, text_rows: pd.DataFrame) -> float:
    """Rank IC over the test timestamps on which at least one coin had a mention."""
    oof = report.oof.merge(text_rows, on=["symbol", "date"], how="left")
    mask = oof.groupby("date")["text_mentions"].transform(lambda s: (s > 0).any())
    part = oof[mask.fillna(False).astype(bool)]
    return (
        metrics.rank_ic(part["score"], part["y_return"], part["date"])
        if len(part)
        else float("nan")
    )


def frames_for(clean: dict, name: str, cost: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The product's feature frame (rows the daily pipeline keeps) and net labels."""
    horizon = HORIZONS[name]
    candles = candles_for(clean, horizon)
    ohlcv = candles.drop(columns="usable")
    features = build_feature_frame(ohlcv, horizon.timeframe)
    features = features.merge(candles.loc[candles["usable"], ["symbol", "date"]])
    return features, forward_returns(ohlcv, horizon.timeframe, round_trip_cost=cost)


def run(horizons: list[str], use_sentiment: bool) -> dict:
    clean = sanitized_snapshot(SNAPSHOT)
    daily = candles_for(clean, HORIZONS["7d"]).drop(columns="usable")
    signals, info = signals_for(daily, use_sentiment)
    out = {"text": info, "horizons": {}}
    config = TrainConfig()
    text_cols = list(TEXT_FEATURES.values())
    for name in horizons:
        horizon = HORIZONS[name]
        features, labels = frames_for(clean, name, config.round_trip_cost)
        with_text = asof_join_text_signals(
            features, signals, TIMEFRAMES, timeframe=horizon.timeframe
        )
        base = feature_names(horizon.timeframe)
        t0 = time.perf_counter()
        reports = {
            label: walk_forward_evaluate(build_dataset(with_text, labels, horizon, names), config)
            for label, names in (("without", base), ("with", [*base, *text_cols]))
        }
        rows = with_text[["symbol", "date", "text_mentions"]]
        covered = with_text["text_mentions"].gt(0)
        oof = reports["with"].oof
        out["horizons"][name] = {
            "rank_ic_without": reports["without"].overall["rank_ic_mean"],
            "rank_ic_with": reports["with"].overall["rank_ic_mean"],
            "rank_ic_without_on_text_days": overlap_ic(reports["without"], rows),
            "rank_ic_with_on_text_days": overlap_ic(reports["with"], rows),
            "folds": reports["with"].n_folds,
            "test_rows": len(oof),
            "test_period": f"{oof['date'].min():%Y-%m-%d}..{oof['date'].max():%Y-%m-%d}",
            "test_rows_with_mentions": int(
                oof.merge(rows, on=["symbol", "date"])["text_mentions"].gt(0).sum()
            ),
            "feature_rows_with_mentions": int(covered.sum()),
            "feature_rows_with_text_columns": int(with_text[text_cols[0]].notna().sum()),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        log.info("%s: %s", name, out["horizons"][name])
    return out


def table(result: dict) -> str:
    lines = [
        "| horizon | rank IC without text | rank IC with text | change "
        "| IC on days with mentions (without / with) | folds | test rows (with a mention) "
        "| test period |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["horizons"].items():
        lines.append(
            f"| {name} | {r['rank_ic_without']:.4f} | {r['rank_ic_with']:.4f} | "
            f"{r['rank_ic_with'] - r['rank_ic_without']:+.4f} | "
            f"{r['rank_ic_without_on_text_days']:.4f} / {r['rank_ic_with_on_text_days']:.4f} | "
            f"{r['folds']} | {r['test_rows']:,} ({r['test_rows_with_mentions']:,}) | "
            f"{r['test_period']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizons", nargs="*", default=["7d", "30d"])
    parser.add_argument("--no-sentiment", dest="sentiment", action="store_false")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    result = run(args.horizons, args.sentiment)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result["text"], indent=2, default=str))
    print(table(result))
    print(f"\nwall time {result['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
