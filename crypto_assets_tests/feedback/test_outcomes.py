"""The outcome log on real labels: predictions are judged only once their horizon has passed, by
their own candle's label; a revised or withdrawn label adds a row, never edits one."""

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

UTC = "UTC"


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def record(predictions, labels, recorded, first: str, last: str | None = None) -> pd.DataFrame:
    end = day(last or first) + pd.Timedelta(days=1)
    return record_outcomes(
        predictions, labels, recorded, start=day(first), end=end, recorded_at=day("2026-01-01")
    )


def test_outcomes_fill_as_horizons_pass(real_world) -> None:
    preds, labels = real_world.predictions, real_world.labels
    empty = typed_outcomes(pd.DataFrame())
    assert record(preds, labels, empty, "2024-01-20").empty  # no 7d horizon has passed yet

    early = record(preds, labels, empty, "2024-01-15", "2024-01-31")
    assert set(early["horizon"]) == {"7d"}  # 30d labels are not known before mid-February
    assert (early["label_end"] <= day("2024-02-01")).all()
    # each outcome is recorded on the day its label became known, 20 coins a day
    assert (early["recorded_day"] == (early["label_end"] - pd.Timedelta(days=1))).all()
    assert early.groupby("recorded_day").size().eq(20).all()

    log = pd.concat([early, record(preds, labels, early, "2024-02-01", "2024-02-29")])
    assert set(log["horizon"]) == {"7d", "30d"}
    assert len(log) > len(early)
    assert not log.duplicated(PREDICTION_KEY).any()
    assert (log["revision"] == 1).all() and log["reason"].str.startswith("horizon passed").all()


def test_outcome_is_the_label_of_the_predictions_own_candle(real_world) -> None:
    log = record(real_world.predictions, real_world.labels, pd.DataFrame(), "2024-03-01")
    row = log[(log["horizon"] == "7d")].iloc[0]
    candle = row["as_of"] - pd.Timedelta(days=1)
    assert row["candle_date"] == candle
    label = real_world.labels[
        (real_world.labels["symbol"] == row["symbol"]) & (real_world.labels["date"] == candle)
    ].iloc[0]
    assert row["realised_return"] == label["fwd_ret_7d"]
    closes = real_world.candles.set_index(["symbol", "date"])["close"]
    exit_close = closes[(row["symbol"], candle + HORIZONS["7d"].duration)]
    net = exit_close / closes[(row["symbol"], candle)] - 1 - world.COST
    assert row["realised_return"] == pytest.approx(net, abs=1e-12)


def test_recording_twice_adds_nothing(real_world) -> None:
    first = record(real_world.predictions, real_world.labels, pd.DataFrame(), "2024-02-10")
    again = record(real_world.predictions, real_world.labels, first, "2024-02-10")
    assert len(first) > 0 and again.empty


def test_revised_label_makes_a_new_row_with_a_reason(real_world) -> None:
    preds = real_world.predictions
    log = record(preds, real_world.labels, pd.DataFrame(), "2024-01-15", "2024-02-10")
    # the labels asset re-ran with a higher round-trip cost: every stored label moved
    revised = world.stored_labels(real_world.candles, "1d", cost=0.005)
    new = record(preds, revised, log, "2024-02-11")
    again = new[new["revision"] == 2]
    assert len(again) == len(log)  # every recorded outcome is revised once, none edited
    assert again["reason"].str.startswith("label revised:").all()
    before = log.set_index(PREDICTION_KEY)["realised_return"]
    after = again.set_index(PREDICTION_KEY)["realised_return"]
    assert np.allclose(after - before.loc[after.index], -0.001)
    assert (again["recorded_day"] == day("2024-02-11")).all()

    full = pd.concat([log, new], ignore_index=True)
    latest = latest_outcomes(full)
    assert len(latest) == len(full.drop_duplicates(PREDICTION_KEY))
    key = tuple(again.iloc[0][PREDICTION_KEY])
    assert latest.set_index(PREDICTION_KEY).loc[key, "revision"] == 2
    # what was believed before the revision stays readable
    as_before = latest_outcomes(full, as_of_day=day("2024-02-10"))
    assert (as_before["revision"] == 1).all() and len(as_before) == len(log)


def test_withdrawn_and_restored_label(real_world) -> None:
    preds, labels = real_world.predictions, real_world.labels
    log = record(preds, labels, pd.DataFrame(), "2024-01-15", "2024-02-10")
    target = log[log["horizon"] == "7d"].iloc[0]
    exit_day = target["candle_date"] + pd.Timedelta(days=7)
    # sanitation dropped the exit candle: the label of that candle can no longer be computed
    candles = real_world.candles
    kept = candles[~((candles["symbol"] == target["symbol"]) & (candles["date"] == exit_day))]
    without = world.stored_labels(kept, "1d")
    withdrawn = record(preds, without, log, "2024-02-11")
    row = withdrawn.set_index(PREDICTION_KEY).loc[tuple(target[PREDICTION_KEY])]
    assert (
        row["revision"] == 2
        and row["reason"].startswith("label withdrawn")
        and np.isnan(row["realised_return"])
    )
    log = pd.concat([log, withdrawn], ignore_index=True)
    assert tuple(target[PREDICTION_KEY]) not in set(
        map(tuple, latest_outcomes(log)[PREDICTION_KEY].to_numpy())
    )
    restored = record(preds, labels, log, "2024-02-12")
    match = restored.set_index(PREDICTION_KEY).loc[[tuple(target[PREDICTION_KEY])]]
    assert match["reason"].str.startswith("label restored").all() and len(match) == 1
    assert match["revision"].iloc[0] == 3
    assert match["realised_return"].iloc[0] == target["realised_return"]


def test_hourly_horizons_are_judged_by_their_hourly_candle() -> None:
    candles = world.real_candles("1h", 3, "2024-02-01", "2024-02-04")
    labels = world.stored_labels(candles, "1h")
    last = candles[candles["date"] < day("2024-02-02")].groupby("symbol").tail(1)
    preds = pd.concat(
        [
            pd.DataFrame(
                {
                    "day": day("2024-02-01"),
                    "symbol": last["symbol"],
                    "horizon": h,
                    "as_of": last["date"] + pd.Timedelta(hours=1),
                    "expected_return": 0.0,
                    "probability": 0.5,
                    "model_version": "1",
                }
            )
            for h in ("1h", "24h")
        ]
    )
    log = record(preds, labels, pd.DataFrame(), "2024-02-03")
    assert sorted(log["horizon"].unique()) == ["1h", "24h"] and len(log) == 6
    merged = log.merge(labels, left_on=["symbol", "candle_date"], right_on=["symbol", "date"])
    for h in ("1h", "24h"):
        rows = merged[merged["horizon"] == h]
        assert np.array_equal(rows["realised_return"], rows[f"fwd_ret_{h}"])


def test_bad_predictions_are_refused_with_the_reason(real_world) -> None:
    preds = real_world.predictions.head(5).copy()
    unknown = preds.assign(horizon="2w")
    with pytest.raises(ValueError, match="unknown horizon"):
        record(unknown, real_world.labels, pd.DataFrame(), "2024-02-01")
    with pytest.raises(ValueError, match="share a key"):
        record(pd.concat([preds, preds]), real_world.labels, pd.DataFrame(), "2024-02-01")
    with pytest.raises(ValueError, match="lack columns"):
        record(preds.drop(columns=["as_of"]), real_world.labels, pd.DataFrame(), "2024-02-01")
