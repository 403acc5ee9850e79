"""Prediction assets: every coin x horizon scored by the model in use, and the top list.

Predictions load the version behind the registry alias, so a worse retrain never reaches the top
list; each row names the model version that made it.
"""

import itertools
from collections.abc import Iterator

import dagster as dg
import numpy as np
import pandas as pd

from crypto_assets.defs.partitions import Partitions, partition_days
from crypto_assets.frames import pin_dtypes, utc_columns
from crypto_assets.horizons import HORIZON_NAMES, HORIZONS, TIMEFRAMES
from crypto_assets.ml import tracking
from crypto_assets.ml.model import HorizonModel
from crypto_assets.ml.selection import near_misses, select_top_coins
from crypto_assets.resources.mlflow_tracking import MlflowTracking
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.resources.storage import DuckDBStore

PREDICTIONS_GROUP = "predictions"
PREDICTION_COLUMNS = [
    "day",
    "symbol",
    "horizon",
    "as_of",
    "expected_return",
    "probability",
    "probability_estimate",
    "score",
    "model_version",
    "explanation",
    "shap_top",
]
PREDICTION_TIMES = ("day", "as_of")
PREDICTION_TEXTS = ("symbol", "horizon", "model_version", "explanation", "shap_top")
PROBABILITY_BINS = np.linspace(0.0, 1.0, 11)


def load_champion(settings: PipelineSettings, horizon: str) -> tuple[HorizonModel, str] | None:
    """The model in use for a horizon (the registry alias, and it passed its checks), or None."""
    return tracking.load_champion(
        settings.signal_model_name(horizon), settings.models_dir / "downloads"
    )


def _coverage_check(frame: pd.DataFrame, skipped: dict[str, str]) -> dg.AssetCheckResult:
    """Every coin of the day x every horizon predicted, probabilities in [0, 1]."""
    if frame.empty:
        return dg.AssetCheckResult(
            check_name="every_coin_every_horizon", passed=False, metadata={"skipped": str(skipped)}
        )
    last = frame[frame["day"] == frame["day"].max()]
    coins = last.groupby("horizon")["symbol"].nunique().to_dict()
    universe = last["symbol"].nunique()
    in_range = bool(frame["probability"].between(0, 1).all())
    complete = len(coins) == len(HORIZON_NAMES) and all(n == universe for n in coins.values())
    return dg.AssetCheckResult(
        check_name="every_coin_every_horizon",
        passed=bool(complete and in_range and np.isfinite(frame["expected_return"]).all()),
        metadata={
            "coins": universe,
            **{f"coins_{h}": n for h, n in coins.items()},
            "probabilities_in_0_1": in_range,
            "skipped": str(skipped or "-"),
        },
    )


def probability_summary(frame: pd.DataFrame, threshold: float) -> str:
    """Markdown: per horizon the quantiles of the calibrated probability and the share at or
    above the threshold, then a 10-bin histogram (counts of coins per probability decile)."""
    if frame.empty:
        return "no predictions"
    by_horizon = frame.groupby("horizon")["probability"]
    quantiles = by_horizon.quantile([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]).unstack()
    quantiles.columns = ["min", "p10", "p25", "median", "p75", "p90", "max"]
    quantiles.insert(0, "n", by_horizon.size())
    quantiles[f">= {threshold:.0%}"] = by_horizon.apply(lambda p: float((p >= threshold).mean()))
    labels = [f"{a:.1f}-{b:.1f}" for a, b in itertools.pairwise(PROBABILITY_BINS)]
    bins = pd.cut(frame["probability"], PROBABILITY_BINS, labels=labels, include_lowest=True)
    histogram = pd.crosstab(bins, frame["horizon"], dropna=False).reindex(labels, fill_value=0)
    histogram = histogram.rename_axis("probability").rename_axis(None, axis=1)
    order = [h for h in HORIZON_NAMES if h in quantiles.index]
    quantiles = quantiles.reindex(order).round(3).astype({"n": "int64"})
    return quantiles.to_markdown() + "\n\n" + histogram[order].to_markdown()


def _predict_day(
    day: pd.Timestamp, champions: dict, features_by_tf: dict, skipped: dict[str, str]
) -> list[pd.DataFrame]:
    """Each champion's predictions (with explanations) on the newest candle of ``day``."""
    from crypto_assets.ml.explain import explain_frame

    rows = []
    day_end = day + pd.Timedelta(days=1)
    for horizon, (model, version) in champions.items():
        timeframe = HORIZONS[horizon].timeframe
        features = features_by_tf[timeframe]
        latest = (
            features[(features["date"] >= day) & (features["date"] < day_end)]
            if len(features)
            else features
        )
        if latest.empty:
            skipped.setdefault(horizon, f"no {timeframe} features on {day.date()}")
            continue
        latest = latest[latest["date"] == latest.groupby("symbol")["date"].transform("max")]
        predicted = model.predict(latest)
        explained = explain_frame(model, latest, k=3)
        rows.append(
            predicted.assign(
                day=day,
                horizon=horizon,
                model_version=version,
                as_of=pd.to_datetime(predicted["date"], utc=True) + TIMEFRAMES[timeframe],
                explanation=explained["explanation"].to_numpy(),
                shap_top=explained["shap_top"].to_numpy(),
            ).drop(columns=["date"])
        )
    return rows


def predictions(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    duckdb: DuckDBStore,
    mlflow_tracking: MlflowTracking,
) -> Iterator:
    """Every coin of the clean universe x every horizon: expected net return, calibrated
    probability, the model version that made it, and the three features that pushed it most."""
    mlflow_tracking.configure()
    window = context.partition_time_window
    skipped: dict[str, str] = {}
    champions = {}
    for horizon in HORIZON_NAMES:
        loaded = load_champion(settings, horizon)
        if loaded is None:
            skipped[horizon] = (
                "no model in use: none trained yet, or no version passed its checks "
                "(see the `models` asset's skill_and_calibration check)"
            )
        else:
            champions[horizon] = loaded
    features_by_tf = {  # one read per timeframe for the whole window, sliced per day
        timeframe: utc_columns(
            duckdb.read_window(
                "feature_table", "date", window.start, window.end, "timeframe = ?", [timeframe]
            ),
            "date",
        )
        for timeframe in {HORIZONS[h].timeframe for h in champions}
    }
    rows = [
        part
        for day in partition_days(window)
        for part in _predict_day(day, champions, features_by_tf, skipped)
    ]
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    frame = pin_dtypes(frame, PREDICTION_COLUMNS, times=PREDICTION_TIMES, texts=PREDICTION_TEXTS)
    yield _coverage_check(frame, skipped)
    yield dg.Output(frame, metadata=_predictions_metadata(frame, champions, skipped, settings))


def _predictions_metadata(
    frame: pd.DataFrame, champions: dict, skipped: dict[str, str], settings: PipelineSettings
) -> dict:
    last = frame[frame["day"] == frame["day"].max()] if len(frame) else frame
    preview = (
        last.sort_values(["horizon", "probability"], ascending=[True, False])
        .groupby("horizon", sort=False)
        .head(5)[["horizon", "symbol", "expected_return", "probability", "model_version"]]
    )
    return {
        "rows": len(frame),
        "coins": int(frame["symbol"].nunique()) if len(frame) else 0,
        "model_versions": dg.MetadataValue.json(
            {h: f"{settings.signal_model_name(h)} v{v}" for h, (_, v) in champions.items()}
        ),
        "skipped": dg.MetadataValue.json(skipped),
        "probability_distribution": dg.MetadataValue.md(
            probability_summary(last, settings.confidence_threshold)
        ),
        "preview": dg.MetadataValue.md(
            preview.to_markdown(index=False, floatfmt=".4f") if len(preview) else "no predictions"
        ),
    }


def top_coins(
    context: dg.AssetExecutionContext, settings: PipelineSettings, duckdb: DuckDBStore
) -> dg.Output:
    """Coins whose 30d probability is at least the configured threshold, sorted by expected 30d
    return; all others hidden. Empty, with the reason, when none qualify."""
    threshold = settings.confidence_threshold
    window = context.partition_time_window
    # read, not an IO-manager input: with no model in use yet there is no predictions table
    frame = duckdb.read_window("predictions", "day", window.start, window.end)
    frame = pin_dtypes(frame, PREDICTION_COLUMNS, times=PREDICTION_TIMES, texts=PREDICTION_TEXTS)
    tables, reasons = [], {}
    for day in partition_days(window):
        table, reasons[str(day.date())] = select_top_coins(frame[frame["day"] == day], threshold)
        tables.append(table)
    result = pd.concat(tables, ignore_index=True)
    near = near_misses(frame[frame["day"] == frame["day"].max()], threshold, n=10)
    last = list(reasons.values())[-1] if reasons else "no days"
    context.log.info(f"top_coins: {last}")
    day_frame = frame[frame["day"] == frame["day"].max()] if len(frame) else frame
    versions = (
        day_frame.groupby("horizon")["model_version"].first().to_dict() if len(day_frame) else {}
    )
    return dg.Output(
        result,
        metadata={
            "coins": len(result),
            "threshold": threshold,
            "reason": last,
            "model_versions": dg.MetadataValue.json(
                {h: f"{settings.signal_model_name(h)} v{v}" for h, v in versions.items()}
            ),
            "probability_distribution": dg.MetadataValue.md(
                probability_summary(day_frame, threshold)
            ),
            "preview": dg.MetadataValue.md(
                result.head(20)[
                    ["symbol", "expected_return_30d", "confidence_30d", "explanation"]
                ].to_markdown(index=False, floatfmt=".4f")
                if len(result)
                else last
            ),
            "near_misses": dg.MetadataValue.md(
                near[
                    ["symbol", "confidence_30d", "confidence_estimate_30d", "expected_return_30d"]
                ].to_markdown(index=False, floatfmt=".4f")
                if len(near)
                else "none below the threshold"
            ),
        },
    )


def build_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """The prediction assets on the code location's daily partitions."""
    daily = {
        "group_name": PREDICTIONS_GROUP,
        "partitions_def": partitions.daily,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "metadata": {"partition_expr": "day"},
    }
    return [
        dg.asset(
            # the models asset is only the registry's door: the version in use is loaded
            deps=[
                "feature_table",
                dg.AssetDep("models", partition_mapping=dg.AllPartitionMapping()),
            ],
            kinds={"lightgbm", "duckdb"},
            check_specs=[dg.AssetCheckSpec("every_coin_every_horizon", asset="predictions")],
            **daily,
        )(predictions),
        dg.asset(deps=["predictions"], kinds={"duckdb"}, **daily)(top_coins),
    ]
