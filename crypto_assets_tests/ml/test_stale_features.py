"""A store written by an older version: its feature rows say which feature set computed them,
so the days on which a feature added since is missing are found, said, and not mistaken for
days where a feature is missing for a reason (too little history, too few coins)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crypto_assets.defs.models.assets import _features_current, stored_dataset
from crypto_assets.features import pipeline
from crypto_assets.features.factors import factor_feature_names
from crypto_assets.features.indicators import TIMEFRAME_SPECS, XRANK_SUFFIX
from crypto_assets.features.labels import forward_returns
from crypto_assets.features.pipeline import (
    FEATURE_SET,
    build_feature_frame,
    feature_set_id,
    stale_feature_rows,
)
from crypto_assets.horizons import HORIZONS
from crypto_assets.resources.storage import DuckDBStore
from crypto_assets_tests.feedback.world import write_tables

UPGRADE = pd.Timestamp("2024-06-01", tz="UTC")  # the first day the new version computed


def test_the_feature_set_id_follows_the_columns_and_their_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    daily, hourly = feature_set_id("1d"), feature_set_id("1h")
    assert daily == feature_set_id("1d") and daily != hourly and len(daily) == 12
    spec = TIMEFRAME_SPECS["1d"]
    longer = dataclasses.replace(spec, factor_windows={**spec.factor_windows, "beta_60d": 90})
    monkeypatch.setitem(TIMEFRAME_SPECS, "1d", longer)
    assert feature_set_id("1d") != daily  # a window changed, the names did not
    more = dataclasses.replace(spec, factor_windows={**spec.factor_windows, "skew_60d": 60})
    monkeypatch.setitem(TIMEFRAME_SPECS, "1d", more)
    assert "skew_60d" in pipeline.feature_names("1d") and feature_set_id("1d") != daily
    monkeypatch.setitem(TIMEFRAME_SPECS, "1d", spec)
    assert feature_set_id("1d") == daily and feature_set_id("1h") == hourly


def _upgraded_store(db: Path, candles: pd.DataFrame) -> tuple[DuckDBStore, pd.DataFrame]:
    """The daily feature table as an upgraded store holds it: days before UPGRADE written by a
    version without the risk factors (those columns null, no mark), later days by this one."""
    features = build_feature_frame(candles, "1d").assign(
        timeframe="1d", **{FEATURE_SET: feature_set_id("1d")}
    )
    old = features["date"] < UPGRADE
    factors = [c for f in factor_feature_names("1d") for c in (f, f"{f}{XRANK_SUFFIX}")]
    features.loc[old, factors] = np.nan
    features[FEATURE_SET] = features[FEATURE_SET].astype("string").mask(old)
    labels = forward_returns(candles, "1d", round_trip_cost=0.004).assign(timeframe="1d")
    write_tables(db, feature_table=features, labels=labels)
    return DuckDBStore(database=str(db)), features


def test_an_upgraded_store_is_found_and_said(tmp_path: Path, daily_40: pd.DataFrame) -> None:
    candles = daily_40[daily_40["symbol"].isin(sorted(daily_40["symbol"].unique())[:12])]
    store, features = _upgraded_store(tmp_path / "store.duckdb", candles)
    stale: dict = {}
    dataset = stored_dataset(store, HORIZONS["30d"], stale)
    old = features[features["date"] < UPGRADE]
    assert stale["rows"] == len(old) and stale["days"] == old["date"].nunique()
    assert stale["first"] == features["date"].min() and stale["last"] == UPGRADE - pd.Timedelta(
        days=1
    )
    assert len(dataset.labelled)  # the model still learns from every row; the check says so
    check = _features_current(HORIZONS["30d"], stale)
    assert not check.passed and check.severity.value == "WARN"
    assert f"{stale['rows']} stored 1d feature rows on {stale['days']} days" in check.description
    back = (pd.Timestamp.now(tz="UTC").normalize() - stale["first"]).days
    assert f"`crypto-assets run --days {back}` reaches back to 2024-01-01" in check.description
    # the hourly horizons read their own rows: none stored here, nothing stale to say
    assert stale_feature_rows(features.iloc[:0], "1h") is None


def test_a_current_store_passes_though_features_are_missing_for_a_reason(
    tmp_path: Path, daily_40: pd.DataFrame
) -> None:
    features = build_feature_frame(daily_40, "1d").assign(**{FEATURE_SET: feature_set_id("1d")})
    assert features["beta_60d"].isna().any()  # the first 60 days have no beta: not stale
    assert stale_feature_rows(features, "1d") is None
    check = _features_current(HORIZONS["7d"], {})
    assert check.passed and "this version's feature set" in check.description
    # a row of another feature set (a window changed since) is stale as well
    other = features.assign(**{FEATURE_SET: "0123456789ab"}).iloc[:5]
    assert stale_feature_rows(pd.concat([features, other]), "1d")["rows"] == 5
