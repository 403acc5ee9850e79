"""The outcome log on real labels and the real model's predictions: a prediction is judged only
once its horizon has passed, by its own candle's label; a revised or withdrawn label adds a row,
never edits one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_assets.feedback.outcomes import (
    PREDICTION_KEY,
    latest_outcomes,
    record_outcomes,
    typed_outcomes,
)
from crypto_assets.horizons import HORIZONS
from crypto_assets_tests.feedback import world


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def record(predictions, labels, recorded, first: str, last: str | None = None) -> pd.DataFrame:
    end = day(last or first) + pd.Timedelta(days=1)
    return record_outcomes(
        predictions, labels, recorded, start=day(first), end=end, recorded_at=day("2026-01-01")
    )


def test_outcomes_fill_as_horizons_pass(real_world) -> None:
    preds, labels = real_world.predictions, real_world.labels
    assert set(preds["horizon"]) == set(world.MODELLED)  # the versions in use made them
    empty = typed_outcomes(pd.DataFrame())
    # a day's predictions are made from its last candle (as_of = the next midnight): the 1h and
    # 24h outcomes are known during the next day, never on the day itself
    assert record(preds, labels, empty, "2024-04-01").empty
    next_day = record(preds, labels, empty, "2024-04-02")
    first_day = preds[preds["day"] == day("2024-04-01")]
    assert len(next_day) == len(first_day) > 0
    assert (next_day["day"] == day("2024-04-01")).all()

    april = record(preds, labels, empty, "2024-04-01", "2024-04-30")
    judged = preds[(preds["day"] >= day("2024-04-01")) & (preds["day"] <= day("2024-04-29"))]
    assert len(april) == len(judged)  # every prediction whose horizon passed by April 30
    assert (april["label_end"] <= day("2024-05-01")).all()
    # each outcome is recorded on the day its label became known
    known_on = (april["label_end"] - pd.Timedelta(1, "ns")).dt.floor("D")
    assert (april["recorded_day"] == known_on).all()
    assert not april.duplicated(PREDICTION_KEY).any()
    assert (april["revision"] == 1).all() and april["reason"].str.startswith("horizon passed").all()


@pytest.mark.parametrize("horizon", world.MODELLED)
def test_outcome_is_the_label_of_the_predictions_own_candle(real_world, horizon) -> None:
    log = record(real_world.predictions, real_world.labels, pd.DataFrame(), "2024-05-02")
    row = log[log["horizon"] == horizon].iloc[0]
    candle = row["as_of"] - pd.Timedelta(hours=1)  # the day's last hourly candle
    assert row["candle_date"] == candle
    closes = real_world.candles.set_index(["symbol", "date"])["close"]
    exit_close = closes[(row["symbol"], candle + HORIZONS[horizon].duration)]
    net = exit_close / closes[(row["symbol"], candle)] - 1 - world.COST
    assert row["realised_return"] == pytest.approx(net, abs=1e-12)
    assert row["label_end"] == candle + HORIZONS[horizon].duration + pd.Timedelta(hours=1)


def test_recording_twice_adds_nothing(real_world) -> None:
    first = record(real_world.predictions, real_world.labels, pd.DataFrame(), "2024-04-10")
    again = record(real_world.predictions, real_world.labels, first, "2024-04-10")
    assert len(first) > 0 and again.empty


def test_revised_label_makes_a_new_row_with_a_reason(real_world) -> None:
    preds = real_world.predictions
    log = record(preds, real_world.labels, pd.DataFrame(), "2024-04-01", "2024-04-20")
    # the labels asset re-ran with a higher round-trip cost: every stored label moved
    revised = world.stored_labels(real_world.candles, "1h", cost=0.005)
    new = record(preds, revised, log, "2024-04-21")
    again = new[new["revision"] == 2]
    assert len(again) == len(log)  # every recorded outcome is revised once, none edited
    assert again["reason"].str.startswith("label revised:").all()
    before = log.set_index(PREDICTION_KEY)["realised_return"]
    after = again.set_index(PREDICTION_KEY)["realised_return"]
    assert np.allclose(after - before.loc[after.index], -0.001)
    assert (again["recorded_day"] == day("2024-04-21")).all()

    full = pd.concat([log, new], ignore_index=True)
    latest = latest_outcomes(full)
    assert len(latest) == len(full.drop_duplicates(PREDICTION_KEY))
    key = tuple(again.iloc[0][PREDICTION_KEY])
    assert latest.set_index(PREDICTION_KEY).loc[key, "revision"] == 2
    # what was believed before the revision stays readable
    as_before = latest_outcomes(full, as_of_day=day("2024-04-20"))
    assert (as_before["revision"] == 1).all() and len(as_before) == len(log)


def test_withdrawn_and_restored_label(real_world) -> None:
    preds, labels = real_world.predictions, real_world.labels
    log = record(preds, labels, pd.DataFrame(), "2024-04-01", "2024-04-20")
    target = log[log["horizon"] == "24h"].iloc[0]
    exit_time = target["candle_date"] + pd.Timedelta(hours=24)
    # sanitation dropped the exit candle: the label of that candle can no longer be computed
    candles = real_world.candles
    kept = candles[~((candles["symbol"] == target["symbol"]) & (candles["date"] == exit_time))]
    withdrawn = record(preds, world.stored_labels(kept, "1h"), log, "2024-04-21")
    key = tuple(target[PREDICTION_KEY])
    row = withdrawn.set_index(PREDICTION_KEY).loc[key]
    assert row["revision"] == 2 and row["reason"].startswith("label withdrawn")
    assert np.isnan(row["realised_return"])
    log = pd.concat([log, withdrawn], ignore_index=True)
    assert key not in set(map(tuple, latest_outcomes(log)[PREDICTION_KEY].to_numpy()))
    restored = record(preds, labels, log, "2024-04-22")
    match = restored.set_index(PREDICTION_KEY).loc[[key]]
    assert match["reason"].str.startswith("label restored").all() and len(match) == 1
    assert match["revision"].iloc[0] == 3
    assert match["realised_return"].iloc[0] == target["realised_return"]


def test_bad_predictions_are_refused_with_the_reason(real_world) -> None:
    preds = real_world.predictions.head(5).copy()
    with pytest.raises(ValueError, match="unknown horizon"):
        record(preds.assign(horizon="2w"), real_world.labels, pd.DataFrame(), "2024-04-05")
    with pytest.raises(ValueError, match="share a key"):
        record(pd.concat([preds, preds]), real_world.labels, pd.DataFrame(), "2024-04-05")
    with pytest.raises(ValueError, match="lack columns"):
        record(preds.drop(columns=["as_of"]), real_world.labels, pd.DataFrame(), "2024-04-05")
    with pytest.raises(ValueError, match="have no day"):
        record(preds.assign(day=pd.NaT), real_world.labels, pd.DataFrame(), "2024-04-05")
