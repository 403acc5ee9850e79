"""The 7-day ranking score also learns the 30-day outcome, purged by the week's own cut.

Real daily Binance candles (40 coins, 2024); the walk-forward and the estimators are the
product's own.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from crypto_assets.horizons import HORIZONS
from crypto_assets.ml.dataset import Dataset, add_targets, longer_horizons, with_history
from crypto_assets.ml.estimators import make_estimator
from crypto_assets.ml.estimators.base import MIN_SLOW_ROWS
from crypto_assets.ml.walkforward import training_frame, walk_forward_evaluate
from crypto_assets_tests.ml.conftest import SMALL_LGBM, SMALL_XGB, small_config

H7, H30 = HORIZONS["7d"], HORIZONS["30d"]
SCORES = ["score", "pred_return"]


def test_longer_horizons_share_the_timeframe() -> None:
    assert longer_horizons(H7) == ["30d"]
    assert longer_horizons(HORIZONS["1h"]) == ["24h"]
    assert longer_horizons(H30) == [] and longer_horizons(HORIZONS["24h"]) == []


def test_the_week_dataset_carries_the_month_label(dataset_7d: Dataset) -> None:
    labelled = dataset_7d.labelled
    assert {"fwd_ret_30d", "label_end_30d"} <= set(labelled.columns)
    known = labelled["label_end_30d"].notna()
    assert known.any() and (~known).any()  # the last 30 days' month is not known yet
    assert (labelled.loc[known, "label_end_30d"] > labelled.loc[known, "label_end"]).all()
    assert "fwd_ret_30d" not in dataset_7d.features


def test_slow_rank_only_where_known_by_the_frames_own_cut() -> None:
    day = pd.Timestamp("2024-03-01", tz="UTC")
    frame = pd.DataFrame(
        {
            "symbol": ["A", "B", "C", "A", "B", "C"],
            "date": [day] * 3 + [day + pd.Timedelta(days=1)] * 3,
            "y_return": [0.1, -0.1, 0.0, 0.2, 0.1, -0.3],
            "label_end": [day + pd.Timedelta(days=8)] * 3 + [day + pd.Timedelta(days=9)] * 3,
            "fwd_ret_30d": [0.5, 0.1, 0.3, 0.9, -0.2, 0.0],
            # the first day's month resolved by the frame's last week label, the second's not
            "label_end_30d": [day + pd.Timedelta(days=9)] * 3 + [day + pd.Timedelta(days=32)] * 3,
        }
    )
    out = add_targets(frame, "30d")
    assert out["y_rank_slow"].tolist()[:3] == pytest.approx([1.0, 1 / 3, 2 / 3])
    assert out["y_rank_slow"].iloc[3:].isna().all()
    assert "y_rank_slow" not in add_targets(frame).columns  # only when asked


def test_estimators_fit_slow_models_only_with_enough_known_rows(dataset_7d: Dataset) -> None:
    config = small_config()
    train = dataset_7d.labelled
    frame = training_frame(train, H7, config)
    assert frame["y_rank_slow"].notna().sum() >= MIN_SLOW_ROWS
    views = config.views_for(H7)
    slow_views = config.views_for(H30)
    for family, small in (("lightgbm", SMALL_LGBM), ("xgboost", SMALL_XGB)):
        params = {**config.params_for(family, H7, len(frame)), **small, "n_seeds": 1}
        assert params["slow_views"] == slow_views
        with_slow = make_estimator(family, params, "cpu")
        with_slow.fit(frame, dataset_7d.features)
        assert len(with_slow.scorers) == len(views) + len(slow_views)
        without = make_estimator(family, {**params, "slow_views": None}, "cpu")
        without.fit(frame, dataset_7d.features)
        assert len(without.scorers) == len(views)
        latest = train[train["date"] == train["date"].max()]
        assert not np.allclose(with_slow.predict(latest), without.predict(latest))
        # too few known months: the slow models are left out, nothing is guessed
        few = frame.assign(y_rank_slow=frame["y_rank_slow"].where(frame.index < 100))
        early = make_estimator(family, params, "cpu")
        early.fit(few, dataset_7d.features)
        assert len(early.scorers) == len(views)


def test_no_month_that_resolves_inside_a_test_block_reaches_its_model(
    dataset_7d: Dataset,
) -> None:
    """Flip the 30-day outcomes that became known only after a fold's start: that fold's (and
    every earlier fold's) scores must not move. Flip the ones known before the first fold:
    the scores must move (the slow models are in use, so the test can fail)."""
    config = small_config()
    report = walk_forward_evaluate(dataset_7d, config)
    labelled = dataset_7d.labelled
    fold = report.folds[2]

    def rerun(mask: pd.Series) -> pd.DataFrame:
        changed = labelled.copy()
        changed.loc[mask, "fwd_ret_30d"] = -changed.loc[mask, "fwd_ret_30d"]
        return walk_forward_evaluate(dataclasses.replace(dataset_7d, labelled=changed), config).oof

    late = rerun(labelled["label_end_30d"] > fold["test_start"])
    upto = report.oof["fold"] <= fold["fold"]
    pd.testing.assert_frame_equal(report.oof.loc[upto, SCORES], late.loc[upto, SCORES])
    early = rerun(labelled["label_end_30d"] <= report.folds[0]["test_start"])
    first = report.oof["fold"] == 0
    assert not np.allclose(report.oof.loc[first, "score"], early.loc[first, "score"])


def test_older_history_keeps_the_month_label(dataset_7d: Dataset) -> None:
    labelled = dataset_7d.labelled
    cut = labelled["date"].min() + pd.Timedelta(days=90)
    stored = dataclasses.replace(dataset_7d, labelled=labelled[labelled["date"] >= cut])
    older = dataclasses.replace(dataset_7d, labelled=labelled[labelled["date"] < cut])
    combined, info = with_history(stored, older, "test history")
    assert info["rows"] == len(older.labelled)
    history = combined.labelled[combined.labelled["source"] == "test history"]
    assert history["fwd_ret_30d"].notna().sum() == older.labelled["fwd_ret_30d"].notna().sum()
