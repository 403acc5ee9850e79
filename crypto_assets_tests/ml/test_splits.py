"""Purged, embargoed walk-forward splits on inline timestamps (logic only, no market data)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from crypto_assets.ml.splits import walk_forward_splits

DAY = pd.Timedelta(days=1)


def _panel(days: int = 200, coins: int = 4) -> pd.Series:
    dates = pd.date_range("2024-01-01", periods=days, freq="D", tz="UTC")
    return pd.Series(np.repeat(dates, coins))


def test_no_training_label_overlaps_its_test_block_and_gap_covers_horizon() -> None:
    dates = _panel()
    horizon = 7 * DAY
    folds = walk_forward_splits(dates, min_train=60 * DAY, retrain_every=30 * DAY, horizon=horizon)
    assert len(folds) == 5  # test blocks start on days 60, 90, ..., 180
    for fold in folds:
        train_dates = dates.iloc[fold.train_idx]
        test_dates = dates.iloc[fold.test_idx]
        label_ends = train_dates + horizon
        assert (label_ends <= fold.test_start).all()  # purge
        assert fold.test_start - train_dates.max() >= horizon  # embargo gap
        assert test_dates.min() >= fold.test_start and test_dates.max() < fold.test_end
        assert fold.train_end == train_dates.max()
        assert not set(fold.train_idx) & set(fold.test_idx)


def test_expanding_and_deterministic() -> None:
    dates = _panel()
    kwargs = dict(min_train=60 * DAY, retrain_every=30 * DAY, horizon=30 * DAY)
    folds = walk_forward_splits(dates, **kwargs)
    again = walk_forward_splits(dates.to_numpy(), **kwargs)
    sizes = [f.n_train for f in folds]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)  # strictly growing
    for a, b in zip(folds, again, strict=True):
        np.testing.assert_array_equal(a.train_idx, b.train_idx)
        np.testing.assert_array_equal(a.test_idx, b.test_idx)
    # each train set contains the previous one (expanding, never rolling)
    for prev, cur in itertools.pairwise(folds):
        assert set(prev.train_idx) <= set(cur.train_idx)


def test_explicit_label_end_purges_late_labels_and_drops_unlabelled_rows() -> None:
    dates = _panel(days=120, coins=2)
    label_end = dates + 2 * DAY
    label_end.iloc[0] = pd.NaT  # unlabelled row: never trained on
    late = int(np.flatnonzero(dates == pd.Timestamp("2024-02-20", tz="UTC"))[0])
    label_end.iloc[late] = pd.Timestamp("2024-06-01", tz="UTC")  # known only much later
    folds = walk_forward_splits(
        dates, min_train=60 * DAY, retrain_every=30 * DAY, horizon=DAY, label_end=label_end
    )
    assert folds
    for fold in folds:
        assert 0 not in fold.train_idx
        assert late not in fold.train_idx
        assert (label_end.iloc[fold.train_idx] <= fold.test_start).all()


def test_embargo_longer_than_horizon_widens_the_gap() -> None:
    dates = _panel()
    folds = walk_forward_splits(
        dates, min_train=60 * DAY, retrain_every=30 * DAY, horizon=DAY, embargo=10 * DAY
    )
    for fold in folds:
        assert fold.test_start - fold.train_end >= 10 * DAY


def test_embargo_shorter_than_horizon_is_refused() -> None:
    with pytest.raises(ValueError, match="embargo"):
        walk_forward_splits(
            _panel(), min_train=60 * DAY, retrain_every=30 * DAY, horizon=7 * DAY, embargo=DAY
        )


def test_too_short_history_gives_no_folds() -> None:
    folds = walk_forward_splits(
        _panel(days=50), min_train=60 * DAY, retrain_every=30 * DAY, horizon=7 * DAY
    )
    assert folds == []
    assert (
        walk_forward_splits(
            pd.Series([], dtype="datetime64[ns, UTC]"),
            min_train=DAY,
            retrain_every=DAY,
            horizon=DAY,
        )
        == []
    )
