"""Signal assets: technical features, labels, per-horizon models, predictions, the top list.

Features and labels are computed from the whole stored clean history up to the partition (a
daily run and a backfill therefore produce identical numbers), then only the partition's rows
are written. Models are one static partition per horizon, tracked in MLflow; predictions load
the version behind the registry alias, so a worse retrain never reaches the top list.
"""

import subprocess
from collections.abc import Iterator

import dagster as dg
import mlflow
import numpy as np
import pandas as pd

from crypto_assets.defs.partitions import daily_partitions, horizon_partitions, partition_days
from crypto_assets.defs.storage import delete_rows, read_table
from crypto_assets.features.indicators import XRANK_SUFFIX, technical_feature_names
from crypto_assets.features.labels import forward_returns
from crypto_assets.horizons import HORIZON_NAMES, HORIZONS, TIMEFRAMES
from crypto_assets.market.schemas import to_canonical
from crypto_assets.ml import registry
from crypto_assets.ml.selection import select_top_coins
from crypto_assets.ml.training import (
    HorizonModel,
    InsufficientDataError,
    TrainConfig,
    build_dataset,
    build_features,
    train_final,
    walk_forward_evaluate,
)
from crypto_assets.settings import PROJECT_ROOT, get_settings

SIGNALS_GROUP = "signals"
MODELS_GROUP = "models"
EXPERIMENT = "crypto_assets_signals"
LABEL_LOOKAHEAD_DAYS = 31  # the longest horizon (30d) plus the candle it is measured from


def model_name(horizon: str) -> str:
    """Registered model of a horizon; the demo profile registers its own, never the live one."""
    profile = get_settings().profile
    return f"crypto_assets_{'' if profile == 'live' else profile + '_'}signal_{horizon}"


def _feature_names(timeframe: str) -> list[str]:
    names = technical_feature_names(timeframe)
    return [*names, *(f"{n}{XRANK_SUFFIX}" for n in names)]


FEATURE_COLUMNS = sorted(set(_feature_names("1h")) | set(_feature_names("1d")))
LABEL_COLUMNS = [c for h in HORIZON_NAMES for c in (f"fwd_ret_{h}", f"label_end_{h}")]


def clean_history(duckdb, timeframe: str, until: pd.Timestamp | None = None) -> pd.DataFrame:
    """All stored clean candles of one timeframe with open time before ``until``."""
    where, params = "timeframe = ?", [timeframe]
    if until is not None:
        where += " and date < ?"
        params.append(pd.Timestamp(until).to_pydatetime())
    frame = read_table(duckdb, "clean_ohlcv", where, params)
    return to_canonical(frame) if len(frame) else frame


def _typed(
    frame: pd.DataFrame, columns: list[str], times: tuple[str, ...] = ("date",)
) -> pd.DataFrame:
    """``frame`` with exactly ``columns`` and fixed dtypes, even when empty, so the first write
    never types a storage column as NULL."""
    out = frame.reindex(columns=columns)
    for column in columns:
        if column in times or column.startswith("label_end_"):
            out[column] = pd.to_datetime(out[column], utc=True).astype("datetime64[ns, UTC]")
        elif column in TEXT_COLUMNS:
            out[column] = out[column].astype("string")
        else:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out


TEXT_COLUMNS = {"symbol", "timeframe", "horizon", "model_version", "explanation", "shap_top"}


def _utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
    return frame


@dg.asset(
    group_name=SIGNALS_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["clean_ohlcv"],
    required_resource_keys={"duckdb"},
    metadata={"partition_expr": "date"},
    kinds={"talib", "duckdb"},
)
def technical_features(context: dg.AssetExecutionContext) -> dg.Output:
    """Per coin per candle (both timeframes): returns, RSI, MACD, EMA distances, OBV slope, ATR,
    volatility, Bollinger width, volume z-scores, range, drawdown, age, and cross-sectional
    ranks. Only candles at or before each row's time are used (tested)."""
    window = context.partition_time_window
    start = pd.Timestamp(window.start)
    parts = []
    for timeframe in ("1h", "1d"):
        candles = clean_history(context.resources.duckdb, timeframe, until=window.end)
        if candles.empty:
            continue
        features = build_features(candles, timeframe)
        parts.append(features[features["date"] >= start].assign(timeframe=timeframe))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    frame = _typed(frame, ["symbol", "date", "timeframe", *FEATURE_COLUMNS])
    return dg.Output(
        frame,
        metadata={
            "rows": len(frame),
            "coins": int(frame["symbol"].nunique()),
            "features": len(FEATURE_COLUMNS),
            "first": str(frame["date"].min()) if len(frame) else "-",
            "last": str(frame["date"].max()) if len(frame) else "-",
        },
    )


@dg.asset(
    group_name=SIGNALS_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        dg.AssetDep(
            "clean_ohlcv",
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=0,
                end_offset=LABEL_LOOKAHEAD_DAYS,
                allow_nonexistent_upstream_partitions=True,
            ),
        )
    ],
    required_resource_keys={"duckdb"},
    metadata={"partition_expr": "date"},
    kinds={"duckdb"},
)
def labels(context: dg.AssetExecutionContext) -> dg.Output:
    """Realised NET forward returns (1h, 24h, 7d, 30d; round-trip cost deducted) per coin and
    candle. The partition mapping looks 31 days forward; a horizon that has not fully passed is
    null, so re-materializing a partition later fills it (the daily labels schedule does)."""
    window = context.partition_time_window
    cost = get_settings().round_trip_cost
    until = pd.Timestamp(window.end) + pd.Timedelta(days=LABEL_LOOKAHEAD_DAYS)
    parts = []
    for timeframe in ("1h", "1d"):
        candles = clean_history(context.resources.duckdb, timeframe, until=until)
        if candles.empty:
            continue
        start = pd.Timestamp(window.start)
        returns = forward_returns(candles, timeframe, round_trip_cost=cost)
        in_window = (returns["date"] >= start) & (returns["date"] < pd.Timestamp(window.end))
        parts.append(returns[in_window].assign(timeframe=timeframe))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    frame = _typed(frame, ["symbol", "date", "timeframe", *LABEL_COLUMNS])
    known = {h: int(frame[f"fwd_ret_{h}"].notna().sum()) for h in HORIZON_NAMES}
    return dg.Output(
        frame,
        metadata={
            "rows": len(frame),
            "round_trip_cost": cost,
            **{f"known_{h}": n for h, n in known.items()},
        },
    )


@dg.asset(
    group_name=SIGNALS_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    required_resource_keys={"duckdb"},
    metadata={"partition_expr": "date"},
    kinds={"duckdb"},
)
def feature_table(context: dg.AssetExecutionContext, technical_features: pd.DataFrame) -> dg.Output:
    """One row per coin per timestamp: technical features plus, by as-of join, market-wide text
    sentiment of the preceding 24 hours (null where no scored texts exist: a source without data
    leaves its columns null, it does not fail the table)."""
    from crypto_assets.features.external import asof_join_sentiment

    frame = _utc(technical_features, "date")
    texts = read_table(context.resources.duckdb, "text_sentiment")
    frame = asof_join_sentiment(frame, texts, TIMEFRAMES)
    covered = int(frame["sentiment_count_24h"].gt(0).sum()) if len(frame) else 0
    return dg.Output(
        frame,
        metadata={
            "rows": len(frame),
            "coins": int(frame["symbol"].nunique()) if len(frame) else 0,
            "rows_with_sentiment": covered,
        },
    )


class ModelConfig(dg.Config):
    retrain_every_days: float = 30.0
    optuna_trials: int = 0
    n_estimators: int | None = None  # None: settings.model_n_estimators, else the default (300)
    min_improvement: float = 0.0  # rank-IC gain a retrain needs to replace the model in use


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _clean_metrics(values: dict) -> dict[str, float]:
    out = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
            continue
        if np.isfinite(value):
            out[key] = float(value)
    return out


@dg.asset(
    group_name=MODELS_GROUP,
    partitions_def=horizon_partitions,
    deps=[
        dg.AssetDep("feature_table", partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep("labels", partition_mapping=dg.AllPartitionMapping()),
    ],
    required_resource_keys={"duckdb", "mlflow"},
    metadata={"partition_expr": "horizon"},
    kinds={"lightgbm", "mlflow"},
    check_specs=[dg.AssetCheckSpec("skill_and_calibration", asset="models")],
)
def models(context: dg.AssetExecutionContext, config: ModelConfig) -> Iterator:
    """Per horizon: LightGBM regressor (expected net return) + calibrated classifier
    (P(net return > 0)), evaluated walk-forward with purge and embargo, logged to MLflow and
    registered; the alias moves only if rank IC beats the model in use."""
    horizon = HORIZONS[context.partition_key]
    duckdb = context.resources.duckdb
    candles = clean_history(duckdb, horizon.timeframe)
    features = read_table(duckdb, "technical_features", "timeframe = ?", [horizon.timeframe])
    empty = pd.DataFrame(
        {
            "horizon": pd.Series(dtype=str),
            "fold": pd.Series(dtype="int64"),
            "rank_ic_mean": pd.Series(dtype=float),
        }
    )
    if candles.empty or features.empty:
        context.log.warning(f"{horizon.name}: no clean candles/features stored yet; skipped")
        yield from _skipped_model(empty, "no clean candles or features stored")
        return
    features = _utc(features, "date")[["symbol", "date", *_feature_names(horizon.timeframe)]]
    train_config = TrainConfig(
        retrain_every_days=config.retrain_every_days, optuna_trials=config.optuna_trials
    )
    trees = config.n_estimators or get_settings().model_n_estimators
    if trees:
        train_config.lgbm.n_estimators = trees
    try:
        dataset = build_dataset(
            {horizon.timeframe: candles},
            horizon,
            get_settings().round_trip_cost,
            features=features,
        )
        report = walk_forward_evaluate(dataset, horizon, train_config)
        model = train_final(dataset, horizon, train_config, report.oof)
    except InsufficientDataError as exc:
        context.log.warning(f"{horizon.name}: {exc}")
        yield from _skipped_model(empty, str(exc))
        return
    model.metrics = report.overall
    tracking = context.resources.mlflow
    profile = get_settings().profile
    experiment_id = tracking.experiment_id(
        EXPERIMENT if profile == "live" else f"{EXPERIMENT}_{profile}"
    )
    name = model_name(horizon.name)
    local_root = get_settings().data_dir / "models" / "signals"
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{name}") as run:
        mlflow.set_tags(
            {
                "horizon": horizon.name,
                "git_commit": _git_commit(),
                "device": train_config.resolved_device(),
                "dagster_run_id": context.run_id,
            }
        )
        mlflow.log_params(
            {
                "horizon": horizon.name,
                "timeframe": horizon.timeframe,
                "retrain_every_days": config.retrain_every_days,
                "round_trip_cost": get_settings().round_trip_cost,
                "n_features": len(dataset.features),
                "data_from": str(dataset.labelled["date"].min()),
                "data_to": str(dataset.labelled["date"].max()),
                "coins": int(dataset.labelled["symbol"].nunique()),
                **{f"lgbm_{k}": v for k, v in model.params.items()},
            }
        )
        for fold in report.folds:
            mlflow.log_metrics(
                {f"fold_{k}": v for k, v in _clean_metrics(fold).items() if k != "fold"},
                step=int(fold["fold"]),
            )
        mlflow.log_metrics(_clean_metrics(report.overall))
        mlflow.log_dict({"features": dataset.features}, "features.json")
        local_dir = model.save(local_root / run.info.run_id)
        mlflow.log_artifacts(str(local_dir), artifact_path="model")
        version = registry.register_model_dir(
            name, run.info.run_id, run.info.artifact_uri, local_dir, "model"
        )
    decision = registry.promote_if_better(
        name, version, "rank_ic_mean", min_improvement=config.min_improvement
    )
    folds = pd.DataFrame(report.folds).assign(horizon=horizon.name, model_version=version)
    for column in folds:  # fixed types: an all-null metric must not type a DuckDB column NULL
        if column in ("train_end", "test_start", "test_end"):
            folds[column] = pd.to_datetime(folds[column], utc=True)
        elif column in ("horizon", "model_version", "calibrator", "calibration_source"):
            folds[column] = folds[column].astype("string")
        else:
            folds[column] = pd.to_numeric(folds[column], errors="coerce").astype("float64")
    folds = folds[
        ["horizon", "model_version", *[c for c in folds if c not in ("horizon", "model_version")]]
    ]
    overall = report.overall
    yield dg.Output(
        folds,
        metadata={
            "model": f"{name} v{version}",
            "in_use": f"v{decision.champion_version}",
            "promoted": decision.promoted,
            "decision": decision.reason,
            "mlflow_run_id": run.info.run_id,
            "n_folds": report.n_folds,
            "rows": len(dataset.labelled),
            **{k: dg.MetadataValue.float(float(v)) for k, v in _clean_metrics(overall).items()},
        },
    )
    yield _skill_check(overall)


MAX_ECE = 0.10


def _skill_check(overall: dict) -> dg.AssetCheckResult:
    """Warn when the walk-forward says the model does not beat momentum or is miscalibrated."""
    ic, momentum = overall.get("rank_ic_mean"), overall.get("momentum_rank_ic_mean")
    ece = overall.get("ece")
    problems = []
    if ic is None or not np.isfinite(ic) or (momentum is not None and ic <= momentum):
        problems.append(f"rank IC {ic} does not beat momentum {momentum}")
    if ece is None or not np.isfinite(ece) or ece > MAX_ECE:
        problems.append(f"ECE {ece} above {MAX_ECE}")
    return dg.AssetCheckResult(
        check_name="skill_and_calibration",
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or "beats momentum, calibrated within the bound",
        metadata=_clean_metrics(
            {k: overall.get(k) for k in ("rank_ic_mean", "momentum_rank_ic_mean", "ece", "brier")}
        ),
    )


def _skipped_model(empty: pd.DataFrame, reason: str) -> Iterator:
    yield dg.Output(empty, metadata={"skipped": reason})
    yield dg.AssetCheckResult(
        check_name="skill_and_calibration",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"no model trained: {reason}",
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


def load_champion(horizon: str) -> tuple[HorizonModel, str] | None:
    """The model in use for a horizon (by registry alias), or None when none is registered."""
    name = model_name(horizon)
    version = registry.champion_version(name)
    if version is None:
        return None
    folder = registry.version_dir(
        name, version, get_settings().data_dir / "models" / "downloads", "meta.json"
    )
    return HorizonModel.load(folder), version


PREDICTION_COLUMNS = [
    "day",
    "symbol",
    "horizon",
    "as_of",
    "expected_return",
    "probability",
    "model_version",
    "explanation",
    "shap_top",
]


@dg.asset(
    group_name=SIGNALS_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["feature_table", "models"],
    required_resource_keys={"duckdb", "mlflow"},
    metadata={"partition_expr": "day"},
    kinds={"lightgbm"},
    check_specs=[dg.AssetCheckSpec("every_coin_every_horizon", asset="predictions")],
)
def predictions(context: dg.AssetExecutionContext) -> Iterator:
    """Every coin of the clean universe x every horizon: expected net return, calibrated
    probability, the model version that made it, and the three features that pushed it most."""
    from crypto_assets.ml.explain import explain_frame

    context.resources.mlflow.configure()
    window = context.partition_time_window
    duckdb = context.resources.duckdb
    rows: list[pd.DataFrame] = []
    skipped: dict[str, str] = {}
    champions = {}
    for horizon in HORIZON_NAMES:
        loaded = load_champion(horizon)
        if loaded is None:
            skipped[horizon] = "no model in use (materialize `models` first)"
        else:
            champions[horizon] = loaded
    features_by_tf = {  # one read per timeframe for the whole window, sliced per day below
        timeframe: _utc(
            read_table(
                duckdb,
                "feature_table",
                "timeframe = ? and date >= ? and date < ?",
                [
                    timeframe,
                    pd.Timestamp(window.start).to_pydatetime(),
                    pd.Timestamp(window.end).to_pydatetime(),
                ],
            ),
            "date",
        )
        for timeframe in {HORIZONS[h].timeframe for h in champions}
    }
    for day in partition_days(window):
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
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    frame = _typed(frame, PREDICTION_COLUMNS, times=("day", "as_of"))
    if frame.empty:  # the IO manager skips empty frames: clear stale rows of these days here
        delete_rows(duckdb, "predictions", "day", window.start, window.end)
    yield _coverage_check(frame, skipped)
    yield dg.Output(
        frame,
        metadata={
            "rows": len(frame),
            "coins": int(frame["symbol"].nunique()) if len(frame) else 0,
            "horizons": ", ".join(sorted(champions)) or "-",
            "skipped": dg.MetadataValue.json(skipped),
        },
    )


@dg.asset(
    group_name=SIGNALS_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["predictions"],
    required_resource_keys={"duckdb"},
    metadata={"partition_expr": "day"},
    kinds={"duckdb"},
)
def top_coins(context: dg.AssetExecutionContext) -> dg.Output:
    """Coins whose 30d probability is at least the threshold (default 80 %), sorted by expected
    30d return; all others hidden. Empty, with the reason, when none qualify."""
    threshold = get_settings().confidence_threshold
    tables, reasons = [], {}
    window = context.partition_time_window
    # read, not an IO-manager input: with no model in use yet there is no predictions table
    frame = read_table(
        context.resources.duckdb,
        "predictions",
        "day >= ? and day < ?",
        [pd.Timestamp(window.start).to_pydatetime(), pd.Timestamp(window.end).to_pydatetime()],
    )
    frame = _typed(frame, PREDICTION_COLUMNS, times=("day", "as_of"))
    for day in partition_days(context.partition_time_window):
        table, reason = select_top_coins(frame[frame["day"] == day], threshold)
        tables.append(table)
        reasons[str(day.date())] = reason
    result = pd.concat(tables, ignore_index=True)
    if result.empty:  # the IO manager skips empty frames: clear stale rows of these days here
        delete_rows(context.resources.duckdb, "top_coins", "day", window.start, window.end)
    last = list(reasons.values())[-1] if reasons else "no days"
    context.log.info(f"top_coins: {last}")
    return dg.Output(
        result,
        metadata={
            "coins": len(result),
            "threshold": threshold,
            "reason": last,
            "preview": dg.MetadataValue.md(
                result.head(20)[["symbol", "expected_return_30d", "confidence_30d"]].to_markdown()
                if len(result)
                else last
            ),
        },
    )


signal_assets = [technical_features, labels, feature_table, models, predictions, top_coins]
