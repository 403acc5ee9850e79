"""What on-chain features do in the backtest: their coverage of a snapshot, and where the
recorded data overlap it, the walk-forward with and without them on the same rows.

Only network metrics have history here (the recorded Kaggle BTC / ETH daily files, 2010-2018;
``onchain.network``): whale transfers, exchange flows and holder lists exist only as single-day
recordings, so they cannot be backtested. The features are joined exactly as the feature table
joins them (``onchain.features.asof_join_onchain``: a day's metrics only after the day ends).

Honest about what can be measured: the product's rank IC needs at least ``metrics.MIN_COINS``
coins per timestamp. BTC and ETH are two coins, so there is no cross-section and that figure is
null both ways; the report then gives what two coins do allow: the two-coin rank IC (+1 when
the pair is ordered right at a timestamp, -1 when wrong: 2 x pair hit rate - 1), the
time-series Spearman correlation of each coin's up-probability with its own net return, and the
number of independent periods these rest on (their standard error is about 1/sqrt(n)).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from crypto_assets.frames import json_safe
from crypto_assets.horizons import HORIZONS, TIMEFRAMES
from crypto_assets.ml import metrics
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import InsufficientDataError, build_dataset
from crypto_assets.ml.walkforward import independent_periods, walk_forward_evaluate
from crypto_assets.onchain.features import REGIME_COLUMNS, asof_join_onchain
from crypto_assets.onchain.network import (
    BTC_FILE,
    FEATURE_COLUMNS,
    load_recorded_metrics,
    network_features,
)

RECORDED = "recorded daily network metrics (Kaggle BTC 2010-02-23.., ETH 2015-07-30..2018-02-20)"
NO_CROSS_SECTION = (
    "fewer than {min} coins at every timestamp with on-chain features ({coins} here): there is "
    "no cross-section, so the product's rank IC is null with and without them; the two-coin "
    "rank IC and per-coin time-series IC below are what two coins allow (noisy: see "
    "independent_periods)"
)


def recorded_network(onchain_dir: Path) -> pd.DataFrame | None:
    """Network features of the recorded files in ``onchain_dir`` (None when absent)."""
    if not (Path(onchain_dir) / BTC_FILE).exists():
        return None
    return network_features(load_recorded_metrics(str(onchain_dir), RECORDED))


def join_network(features: pd.DataFrame, timeframe: str, network: pd.DataFrame) -> pd.DataFrame:
    """``features`` (one timeframe) with the network and BTC-regime columns as of each close."""
    joined = asof_join_onchain(features.assign(timeframe=timeframe), TIMEFRAMES, network=network)
    return joined[[*features.columns, *FEATURE_COLUMNS, *REGIME_COLUMNS]]


def coverage(joined: pd.DataFrame) -> dict[str, Any]:
    """Which coins got coin-level network features, on how many rows, over which dates."""
    covered = joined[FEATURE_COLUMNS].notna().any(axis=1)
    coins = sorted(joined.loc[covered, "symbol"].unique())
    dates = joined.loc[covered, "date"]
    return {
        "coins": int(joined["symbol"].nunique()),
        "covered_coins": coins,
        "uncovered_coins": int(joined["symbol"].nunique()) - len(coins),
        "rows": len(joined),
        "rows_with_features": int(covered.sum()),
        "first": dates.min() if len(dates) else None,
        "last": dates.max() if len(dates) else None,
    }


def _with_onchain(config: TrainConfig, extra: list[str]) -> TrainConfig:
    """``config`` whose score views also read ``extra`` (the classifier reads every feature)."""
    return config.model_copy(update={"view_extras": [*config.view_extras, *extra]})


def _figures(report: Any, horizon_name: str) -> dict[str, Any]:
    oof = report.oof
    y = oof["y_return"].to_numpy(dtype=float)
    per_coin = {
        str(symbol): group["prob_raw"].corr(group["y_return"], method="spearman")
        for symbol, group in oof.groupby("symbol")
    }
    return {
        "rank_ic_mean": report.overall.get("rank_ic_mean"),
        "two_coin_rank_ic": metrics.rank_ic(oof["score"], y, oof["date"], min_coins=2),
        "timeseries_ic_prob_up": per_coin,
        "n_predictions": len(oof),
        "independent_periods": independent_periods(oof["date"], HORIZONS[horizon_name]),
    }


def compare(
    joined: pd.DataFrame,
    labels: pd.DataFrame,
    horizon_name: str,
    names: list[str],
    config: TrainConfig,
) -> dict[str, Any]:
    """Walk-forward without and with the on-chain columns, on the same rows: the dates where
    any coin has coin-level network features."""
    horizon = HORIZONS[horizon_name]
    covered = joined[FEATURE_COLUMNS].notna().any(axis=1)
    first, last = joined.loc[covered, "date"].min(), joined.loc[covered, "date"].max()
    window = joined[(joined["date"] >= first) & (joined["date"] <= last)]
    extra = [c for c in [*FEATURE_COLUMNS, *REGIME_COLUMNS] if window[c].notna().any()]
    max_coins = int(window.loc[covered].groupby("date")["symbol"].nunique().max())
    out: dict[str, Any] = {"window": [first, last], "onchain_columns": extra}
    try:
        without = walk_forward_evaluate(build_dataset(window, labels, horizon, names), config)
        with_config = _with_onchain(config, extra)
        dataset = build_dataset(window, labels, horizon, [*names, *extra])
        with_onchain = walk_forward_evaluate(dataset, with_config)
    except InsufficientDataError as exc:
        return out | {"skipped": str(exc)}
    out["without"] = _figures(without, horizon_name)
    out["with"] = _figures(with_onchain, horizon_name)
    for key in ("rank_ic_mean", "two_coin_rank_ic"):
        a, b = out["without"][key], out["with"][key]
        out[f"{key}_change"] = None if a is None or b is None or a != a or b != b else b - a
    if max_coins < metrics.MIN_COINS:
        out["note"] = NO_CROSS_SECTION.format(min=metrics.MIN_COINS, coins=max_coins)
    return out


def onchain_report(
    frames: Any,
    horizons: list[str],
    onchain_dir: Path,
    config: TrainConfig,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """The backtest's on-chain section: coverage per timeframe, and per horizon the comparison
    where the recorded network metrics overlap the snapshot (skipped with the reason where
    not). ``frames``: the backtest's features/labels per timeframe (``backtest.SnapshotFrames``)."""
    from crypto_assets.features.pipeline import feature_names

    network = recorded_network(onchain_dir)
    if network is None:
        return {"source": RECORDED, "skipped": f"no recorded network metrics in {onchain_dir}"}
    report: dict[str, Any] = {"source": f"{RECORDED} in {onchain_dir}", "coverage": {}}
    report["comparison"] = {}
    for name in horizons:
        timeframe = HORIZONS[name].timeframe
        if timeframe not in frames.features:
            continue
        joined = join_network(frames.features[timeframe], timeframe, network)
        report["coverage"][timeframe] = coverage(joined)
        if not report["coverage"][timeframe]["rows_with_features"]:
            report["comparison"][name] = {
                "skipped": "no overlap: no coin of the snapshot has recorded network metrics "
                "on its dates (the recordings end 2018-02-20)"
            }
            continue
        say(f"{name}: walk-forward with and without on-chain features on the overlap")
        report["comparison"][name] = compare(
            joined, frames.labels[timeframe], name, feature_names(timeframe), config
        )
    return json_safe(report)
