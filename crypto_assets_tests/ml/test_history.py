"""Older training rows from another source (``snapshot bootstrap``) added to the stored dataset:
every date's cross-section from one source, each row labelled, nothing mixed into storage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from crypto_assets.defs.models.assets import check_summary, dataset_with_history
from crypto_assets.features.labels import forward_returns
from crypto_assets.features.pipeline import build_feature_frame
from crypto_assets.horizons import HORIZONS
from crypto_assets.market.snapshot import snapshot_source_name
from crypto_assets.ml import registry
from crypto_assets.ml.dataset import Dataset, stored_from, with_history
from crypto_assets.ml.registry import configure_tracking, ensure_experiment, set_champion
from crypto_assets.ml.tracking import TrainingRun, train_and_register
from crypto_assets.ml.walkforward import folds_for, summarise
from crypto_assets.ml.zoo import evaluate_zoo
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets.settings import SettingsError, load_settings
from crypto_assets.status import _model_row
from crypto_assets_tests.feedback.world import write_tables
from crypto_assets_tests.fixtures import cut_snapshot
from crypto_assets_tests.ml.conftest import read_binance, small_config

CUT = pd.Timestamp("2024-05-01", tz="UTC")


def _stored(dataset: Dataset) -> Dataset:
    """The product's own rows from CUT on, with a feature only the product stores."""
    own = dataset.labelled[dataset.labelled["date"] >= CUT].assign(text_sentiment_24h=0.1)
    return Dataset(dataset.horizon, [*dataset.features, "text_sentiment_24h"], own, "ret_7d")


def test_history_adds_only_older_days_each_row_labelled(dataset_7d: Dataset) -> None:
    stored = _stored(dataset_7d)
    combined, info = with_history(stored, dataset_7d, "binance")
    frame = combined.labelled
    older = dataset_7d.labelled[dataset_7d.labelled["date"] < CUT]
    assert info["rows"] == len(older) > 1000 and info["coins"] == older["symbol"].nunique()
    assert info["missing_features"] == ["text_sentiment_24h"]
    assert (frame.loc[frame["date"] < CUT, "source"] == "binance").all()
    assert (frame.loc[frame["date"] >= CUT, "source"] == "stored").all()
    assert frame.groupby("date")["source"].nunique().max() == 1  # one source per cross-section
    assert len(frame) == len(older) + len(stored.labelled)
    assert frame.loc[frame["source"] == "binance", "text_sentiment_24h"].isna().all()
    own = frame.loc[frame["source"] == "stored", list(stored.labelled.columns)]
    pd.testing.assert_frame_equal(
        own.reset_index(drop=True), stored.labelled.reset_index(drop=True)
    )
    assert frame["date"].is_monotonic_increasing and combined.features == stored.features
    assert stored_from(frame) == frame.loc[frame["source"] == "stored", "date"].min() >= CUT
    assert stored_from(stored.labelled) is None  # no source column: nothing older added


def test_history_without_older_days_adds_nothing(dataset_7d: Dataset) -> None:
    stored = _stored(dataset_7d)
    later = Dataset(dataset_7d.horizon, dataset_7d.features, stored.labelled.copy())
    combined, info = with_history(stored, later, "binance")
    assert info["rows"] == 0 and "no rows before the first stored day 2024-05-01" in info["reason"]
    assert len(combined.labelled) == len(stored.labelled)
    assert stored_from(combined.labelled) is None  # every row the product's own


def test_the_walk_forward_tests_on_the_older_days_too(dataset_7d: Dataset) -> None:
    stored = _stored(dataset_7d)
    combined, _ = with_history(stored, dataset_7d, "binance")
    config = small_config(min_train_days={"7d": 40})
    alone = evaluate_zoo(stored, config).selected
    deeper = evaluate_zoo(combined, config).selected
    assert deeper.overall["test_start"] < CUT <= alone.overall["test_start"]
    assert deeper.overall["n_predictions"] > alone.overall["n_predictions"]
    assert np.isfinite(deeper.overall["rank_ic_mean"])


def _store(db: Path, candles: dict[str, pd.DataFrame]) -> DuckDBStore:
    """feature_table and labels of the candles per timeframe, as the pipeline stores them."""
    features = pd.concat(
        [build_feature_frame(c, tf).assign(timeframe=tf) for tf, c in candles.items()]
    )
    labels = pd.concat(
        [
            forward_returns(c, tf, round_trip_cost=0.004).assign(timeframe=tf)
            for tf, c in candles.items()
        ]
    )
    write_tables(db, feature_table=features, labels=labels)
    return DuckDBStore(database=str(db))


def test_the_models_asset_reads_a_bootstrap_folder(tmp_path: Path, daily_40) -> None:
    history_dir = cut_snapshot(
        tmp_path / "boot", 12, "2024-01-01", "2024-05-01", timeframes=("1d",)
    )
    (history_dir / "SOURCE.json").write_text(json.dumps({"exchange": "binance (live)"}))
    symbols = sorted(daily_40["symbol"].unique())[:12]
    own = daily_40[daily_40["symbol"].isin(symbols) & (daily_40["date"] >= CUT)]
    hourly_candles = read_binance("1h", 40)
    hourly_candles = hourly_candles[
        hourly_candles["symbol"].isin(symbols[:6]) & (hourly_candles["date"] >= CUT)
    ]
    store = _store(tmp_path / "store.duckdb", {"1d": own, "1h": hourly_candles})
    settings = PipelineSettings(data_dir=str(tmp_path), training_history_dir=str(history_dir))
    added: dict = {}
    dataset = dataset_with_history(store, HORIZONS["7d"], settings, added)
    assert added["source"] == "binance (live)" == snapshot_source_name(history_dir)
    assert added["rows"] > 0 and added["end"] < CUT.isoformat()
    assert set(dataset.labelled["source"]) == {"binance (live)", "stored"}
    # both sources carry the 30-day outcome the 7d score also learns, as UTC times (the stored
    # labels come back from DuckDB naive: add_targets compares them with label_end)
    assert dataset.labelled.groupby("source")["label_end_30d"].count().min() > 0
    assert str(dataset.labelled["label_end_30d"].dtype) == "datetime64[ns, UTC]"
    hourly: dict = {}  # an hourly horizon keeps its own rows only
    plain = dataset_with_history(store, HORIZONS["24h"], settings, hourly)
    assert hourly == {} and "source" not in plain.labelled
    assert plain.labelled["date"].min() >= CUT
    assert snapshot_source_name(tmp_path) == tmp_path.name  # no SOURCE.json: the folder's name


def test_the_setting_needs_a_daily_snapshot_folder(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="TRAINING_HISTORY_DIR"):
        load_settings(_env_file=None, training_history_dir=str(tmp_path))
    cut_snapshot(tmp_path / "ok", 3, "2024-01-01", "2024-02-01", timeframes=("1d",))
    settings = load_settings(_env_file=None, training_history_dir=str(tmp_path / "ok"))
    resource = PipelineSettings.from_settings(settings)
    assert resource.training_history_dir == str(tmp_path / "ok")


def test_a_model_with_history_reports_the_stored_days_beside_the_span(
    dataset_7d: Dataset, tmp_path: Path
) -> None:
    stored = _stored(dataset_7d)
    combined, _ = with_history(stored, dataset_7d, "binance")
    configure_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts")
    experiment = ensure_experiment("history_test", tmp_path / "artifacts")
    config = small_config(min_train_days={"7d": 40})

    def train(dataset: Dataset) -> TrainingRun:
        return train_and_register(
            "7d",
            lambda: dataset,
            config,
            profile="test",
            experiment_id=experiment,
            models_dir=tmp_path / "models",
        )

    run = train(combined)
    days = run.stored_days
    assert days is not None and days["test_start"] >= CUT > run.report.overall["test_start"]
    oof = run.report.oof
    assert days["n_predictions"] == int((oof["date"] >= CUT).sum()) > 0
    assert days["n_predictions"] < run.report.overall["n_predictions"]
    recent = oof[oof["date"] >= CUT]
    mine = summarise(recent, HORIZONS["7d"], 0.80, recent["momentum"])
    assert days["ece"] == pytest.approx(mine["ece"])
    assert days["rank_ic_mean"] == pytest.approx(mine["rank_ic_mean"])
    metrics = MlflowClient().get_run(run.run_id).data.metrics
    assert metrics["stored_days_ece"] == pytest.approx(days["ece"])
    text, figures = check_summary(run)
    assert f"on the stored days alone ({days['test_start']:%Y-%m-%d}.." in text
    assert f"ECE {days['ece']:.3f}" in text and "older history included" in text
    assert figures["stored_days_ece"] == days["ece"]
    set_champion(run.name, run.version)  # `crypto-assets status` shows them beside the span's
    row = _model_row(MlflowClient(), registry, "7d", run.name)
    assert row["stored_ece"] == round(days["ece"], 4) and row["ece"] != row["stored_ece"]

    alone = train(stored)  # no history: nothing beside the span
    assert alone.stored_days is None
    text, figures = check_summary(alone)
    assert "stored days" not in text and "stored_days_ece" not in figures
    set_champion(alone.name, alone.version)
    assert "stored_ece" not in _model_row(MlflowClient(), registry, "7d", alone.name)


def test_tested_like_keeps_the_test_blocks_of_the_run_alone(dataset_7d: Dataset) -> None:
    stored = _stored(dataset_7d)
    combined, _ = with_history(stored, dataset_7d, "binance")
    config = small_config(min_train_days={"7d": 40})
    alone = folds_for(stored, config)
    deeper = folds_for(combined, config.tested_like(stored))
    assert len(alone) > 1 and [f.test_start for f in deeper] == [f.test_start for f in alone]
    assert len(deeper[0].train_idx) > len(alone[0].train_idx)  # the older rows only train
    whole = folds_for(combined, config)  # without it the walk-forward tests the older days
    assert whole[0].test_start < CUT
