"""The model zoo: every family on the same folds, selection by out-of-sample rank IC behind the
checks, the ensemble only where it wins, the selected candidate's final fit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from crypto_assets.defs.predictions.assets import _predict_day
from crypto_assets.horizons import HORIZONS
from crypto_assets.ml import metrics
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import Dataset
from crypto_assets.ml.estimators import make_estimator
from crypto_assets.ml.model import HorizonModel
from crypto_assets.ml.tracking import latest_with_context
from crypto_assets.ml.walkforward import EvaluationReport
from crypto_assets.ml.zoo import (
    NESTED,
    ZooResult,
    check_problems,
    evaluate_zoo,
    ic_gain,
    nested_selection,
    select_family,
    train_selected,
)
from crypto_assets.resources.settings import PipelineSettings
from crypto_assets.settings import MODEL_FAMILIES, SettingsError, load_settings
from crypto_assets_tests.fixtures import isolated_settings
from crypto_assets_tests.ml.conftest import small_config

FAMILIES = ["lightgbm", "xgboost", "rnn"]


def _report(
    name: str,
    ic: float,
    ece: float = 0.05,
    momentum: float = -0.05,
    oof: pd.DataFrame | None = None,
) -> EvaluationReport:
    overall = {"rank_ic_mean": ic, "momentum_rank_ic_mean": momentum, "ece": ece}
    return EvaluationReport("7d", [], overall, pd.DataFrame() if oof is None else oof, family=name)


def _scored(skill: float, noise_seed: int, days: int = 84, coins: int = 30) -> pd.DataFrame:
    """Daily out-of-fold rows whose score is ``skill`` x the outcome plus noise; every report
    built from it shares the same outcomes (seed 0), as the zoo's candidates do."""
    outcomes = np.random.default_rng(0).normal(size=(days, coins))
    noise = np.random.default_rng(noise_seed).normal(size=(days, coins))
    dates = pd.date_range("2024-01-01", periods=days, freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "date": np.repeat(dates, coins),
            "y_return": outcomes.ravel(),
            "score": (skill * outcomes + noise).ravel(),
        }
    )


def test_the_best_passing_candidate_is_selected_and_the_reason_says_why() -> None:
    reports = {
        "lightgbm": _report("lightgbm", 0.06),
        "xgboost": _report("xgboost", 0.08, ece=0.2),  # best rank IC, badly calibrated
        "rnn": _report("rnn", 0.03),
        "ensemble": _report("ensemble", 0.05),
    }
    chosen = select_family(reports)
    assert chosen.family == "lightgbm" and chosen.passed
    assert "xgboost fails: ECE 0.2000 above 0.1" in chosen.reason
    assert "ensemble does not win" in chosen.reason
    # better on paper but with no out-of-fold rows to show it: the champion stays
    reports["ensemble"] = _report("ensemble", 0.07)
    assert select_family(reports).family == "lightgbm"


def test_a_challenger_displaces_the_champion_only_by_more_than_noise() -> None:
    champion = _scored(0.05, noise_seed=1)
    ic = lambda oof: metrics.rank_ic(oof["score"], oof["y_return"].to_numpy(), oof["date"])  # noqa: E731
    lucky = _scored(0.07, noise_seed=2)  # a little better, by chance as much as by skill
    skilled = _scored(0.5, noise_seed=3)  # far better, week after week
    assert ic(lucky) > ic(champion)
    reports = {
        "lightgbm": _report("lightgbm", ic(champion), oof=champion),
        "xgboost": _report("xgboost", ic(lucky), oof=lucky),
    }
    gain = ic_gain(lucky, champion, HORIZONS["7d"])
    assert gain.periods == 12 and not gain.significant  # 84 days = 12 weeks
    chosen = select_family(reports)
    assert chosen.family == "lightgbm" and chosen.passed
    assert "the champion" in chosen.reason and "xgboost +0.0" in chosen.reason
    assert "within noise of the champion" in chosen.reason
    reports["ensemble"] = _report("ensemble", ic(skilled), oof=skilled)
    chosen = select_family(reports)
    assert chosen.family == "ensemble"
    assert "beats the champion lightgbm by more than noise" in chosen.reason
    # over 30-day periods the same 84 days are 3 periods: too few to tell, the champion stays
    assert not ic_gain(skilled, champion, HORIZONS["30d"]).significant
    assert select_family(reports, horizon=HORIZONS["30d"]).family == "lightgbm"
    # a champion that fails its checks has no claim: the best passing candidate wins
    reports["lightgbm"] = _report("lightgbm", ic(champion), ece=0.3, oof=champion)
    chosen = select_family(reports, horizon=HORIZONS["30d"])
    assert chosen.family == "ensemble" and "the champion lightgbm fails: ECE" in chosen.reason
    # none passes: the same rule, checks aside, names the one whose figures go on record
    reports = {n: _report(n, r.overall["rank_ic_mean"], 0.3, oof=r.oof) for n, r in reports.items()}
    named = select_family(reports)
    assert named.family == "ensemble" and not named.passed
    assert "beats the champion lightgbm by more than noise" in named.reason
    assert select_family(reports, horizon=HORIZONS["30d"]).family == "lightgbm"


def test_without_a_passing_candidate_the_best_is_named_but_marked_failed() -> None:
    reports = {
        "lightgbm": _report("lightgbm", 0.02, momentum=0.04),
        "rnn": _report("rnn", -0.01),
    }
    chosen = select_family(reports)
    assert chosen.family == "lightgbm" and not chosen.passed
    assert chosen.reason.startswith("no candidate passes its checks; lightgbm (the champion")
    assert "does not beat momentum" in chosen.reason
    assert check_problems(reports["rnn"].overall) == ["rank IC -0.0100 is not above 0"]
    with pytest.raises(ValueError, match="no candidate"):
        select_family({})


@pytest.fixture(scope="module")
def zoo_7d(dataset_7d: Dataset) -> ZooResult:
    return evaluate_zoo(dataset_7d, small_config(families={"7d": FAMILIES}))


def test_every_family_is_judged_on_the_same_folds(zoo_7d: ZooResult) -> None:
    assert list(zoo_7d.reports) == [*FAMILIES, "ensemble"]
    keys = None
    for name, report in zoo_7d.reports.items():
        assert report.family == name and report.seconds > 0
        assert np.isfinite(report.overall["rank_ic_mean"])
        these = report.oof[["symbol", "date", "fold"]].reset_index(drop=True)
        if keys is None:
            keys = these
        pd.testing.assert_frame_equal(these, keys)
    members = {p["members"] for p in zoo_7d.reports["ensemble"].params}
    assert members == {"lightgbm,xgboost,rnn"}
    figures = zoo_7d.figures()
    assert set(figures) == set(zoo_7d.reports)
    assert figures["ensemble"]["fit_seconds"] > max(figures[f]["fit_seconds"] for f in FAMILIES)
    table = zoo_7d.table()
    assert table["selected"].sum() == 1
    assert table.loc[table["selected"], "family"].item() == zoo_7d.selection.family
    text = zoo_7d.markdown()
    assert text.count("**selected**") == 1 and text.endswith(zoo_7d.selection.reason)


def test_the_ensemble_mixes_its_members(zoo_7d: ZooResult) -> None:
    oof = {name: r.oof["score"].to_numpy() for name, r in zoo_7d.reports.items()}
    blend = oof["ensemble"]
    for family in FAMILIES:
        corr = np.corrcoef(blend, oof[family])[0, 1]
        assert 0.3 < corr < 0.9999  # related to each member, identical to none


@pytest.fixture(scope="module")
def ensemble_7d(zoo_7d: ZooResult, dataset_7d: Dataset) -> HorizonModel:
    forced = dataclasses.replace(
        zoo_7d, selection=dataclasses.replace(zoo_7d.selection, family="ensemble")
    )
    return train_selected(dataset_7d, forced, small_config(families={"7d": FAMILIES}))


def test_the_selected_candidate_is_fitted_on_every_row(
    zoo_7d: ZooResult, dataset_7d: Dataset, ensemble_7d: HorizonModel
) -> None:
    model = ensemble_7d
    assert model.family == "ensemble" and model.n_train == len(dataset_7d.labelled)
    assert [m.family for m in model.estimator.members] == FAMILIES
    assert model.context_bars == model.estimator.members[2].context_bars > 1
    window, rows = latest_with_context(dataset_7d.labelled, model.context_bars)
    assert window["date"].nunique() == model.context_bars and rows.sum() > 10
    pred = model.predict(window, rows)
    assert len(pred) == rows.sum() and pred["probability"].between(0, 1).all()
    # the zoo scores the ensemble from its members' scores: exactly what predict gives
    ensemble = model.estimator
    members = ensemble.members
    score, prob = ensemble.combine(
        [m.predict(window) for m in members], [m.predict_proba(window) for m in members]
    )
    np.testing.assert_array_equal(score, ensemble.predict(window))
    np.testing.assert_array_equal(prob, ensemble.predict_proba(window))
    single = dataclasses.replace(
        zoo_7d, selection=dataclasses.replace(zoo_7d.selection, family="xgboost")
    )
    assert train_selected(dataset_7d, single, small_config()).family == "xgboost"


def test_large_datasets_judge_only_the_first_family(dataset_7d: Dataset) -> None:
    config = small_config(families={"7d": FAMILIES}, zoo_max_rows=1000)
    zoo = evaluate_zoo(dataset_7d, config)
    assert list(zoo.reports) == ["lightgbm"] and zoo.selection.family == "lightgbm"
    assert "labelled rows exceed zoo_max_rows 1000" in zoo.selection.reason
    assert config.families_for(dataset_7d.horizon) == FAMILIES  # the list itself is kept


def test_predictions_give_a_sequence_champion_its_history(
    ensemble_7d: HorizonModel, dataset_7d: Dataset
) -> None:
    """The predictions asset scores the newest rows of a day with the bars before them, so a
    champion of any family predicts as it was evaluated (the newest rows alone would not)."""
    model, labelled = ensemble_7d, dataset_7d.labelled
    window, rows = latest_with_context(labelled, model.context_bars)
    expected = model.predict(window, rows).sort_values("symbol").reset_index(drop=True)
    features = labelled[["symbol", "date", *model.features]]
    day = labelled["date"].max().normalize()
    skipped: dict[str, str] = {}
    (made,) = _predict_day(day, {"7d": (model, "4")}, {"1d": features}, skipped)
    made = made.sort_values("symbol").reset_index(drop=True)
    assert not skipped and list(made["symbol"]) == list(expected["symbol"])
    np.testing.assert_allclose(made["probability"], expected["probability"])
    np.testing.assert_allclose(made["expected_return"], expected["expected_return"])
    assert (made["model_version"] == "4").all() and made["explanation"].str.len().gt(0).all()
    newest = features[features["date"] == labelled["date"].max()]
    alone = model.predict(newest).sort_values("symbol")["score"].to_numpy()
    assert not np.allclose(alone, made["score"])  # without history the sequence member differs


def test_settings_choose_the_families_and_the_search_per_profile(tmp_path) -> None:
    horizon = HORIZONS["7d"]
    live = isolated_settings(tmp_path, model_families=None, model_tuning_seconds=None)
    demo = isolated_settings(tmp_path, profile="demo", model_families=None)
    # LightGBM alone by default in every profile (the zoo is opt-in); Optuna on by default
    # within 15 s per horizon
    assert live.model_families == ["lightgbm"] and live.model_tuning_seconds is None
    assert demo.model_families == ["lightgbm"]
    live_config = TrainConfig.from_settings(PipelineSettings.from_settings(live))
    assert live_config.families_for(horizon) == ["lightgbm"]
    assert live_config.tuning_budget(horizon) == 15.0
    assert live_config.tuning_budget(HORIZONS["30d"]) == 15.0
    assert live_config.tuning_budget(HORIZONS["1h"]) == 15.0
    assert TrainConfig().families_for(horizon) == ["lightgbm"]
    assert TrainConfig().tuning_budget(horizon) == 15.0
    off = isolated_settings(tmp_path, model_tuning_seconds=0)
    off_config = TrainConfig.from_settings(PipelineSettings.from_settings(off))
    assert off_config.tuning_budget(horizon) == 0
    chosen = load_settings(
        _env_file=None, model_families="XGBoost, lightgbm", model_tuning_seconds=60
    )
    config = TrainConfig.from_settings(chosen)
    assert config.families_for(horizon) == ["xgboost", "lightgbm"]
    assert config.tuning_budget(horizon) == 60.0
    with pytest.raises(SettingsError, match=r"CRYPTO_ASSETS_MODEL_FAMILIES=.*lightgbm, xgboost"):
        load_settings(_env_file=None, model_families="lightgbm,tft")
    # the settings' families are the estimators' single families, every one of them
    assert list(MODEL_FAMILIES) == FAMILIES
    assert {make_estimator(f, {}, "cpu").family for f in MODEL_FAMILIES} == set(FAMILIES)


def _block_oof(fold: int, start: str, sign: float, label_days: float) -> pd.DataFrame:
    """Ten coins on three days of one block; ``sign`` +1 ranks them right, -1 wrong."""
    rows = []
    for day in pd.date_range(start, periods=3, freq="D", tz="UTC"):
        for coin in range(10):
            rows.append(
                {
                    "symbol": f"C{coin}/USD",
                    "date": day,
                    "fold": fold,
                    "score": sign * coin,
                    "y_return": coin / 100,
                    "prob_calibrated": 0.5,
                    "prob_estimate": 0.5,
                    "prob_raw": 0.5,
                    "label_end": day + pd.Timedelta(days=label_days),
                }
            )
    return pd.DataFrame(rows)


def _nested_reports(label_days: float) -> dict[str, EvaluationReport]:
    # lightgbm ranks block 0 wrong and block 1 right; xgboost the other way round
    def report(name: str, signs: tuple[float, float]) -> EvaluationReport:
        oof = pd.concat(
            [
                _block_oof(0, "2024-01-01", signs[0], label_days),
                _block_oof(1, "2024-02-01", signs[1], label_days),
            ],
            ignore_index=True,
        )
        return EvaluationReport("7d", [], {}, oof, family=name)

    return {"lightgbm": report("lightgbm", (-1, 1)), "xgboost": report("xgboost", (1, -1))}


def test_nested_selection_chooses_each_block_on_what_was_known_before_it() -> None:
    config = small_config()
    nested = nested_selection(_nested_reports(7), HORIZONS["7d"], config, "lightgbm")
    assert nested is not None and nested.family == NESTED
    assert [c["chosen"] for c in nested.folds] == ["lightgbm", "xgboost"]
    assert nested.folds[1]["known_rank_ic"] == {"xgboost": 1.0}
    # block 0 with the default (wrong), block 1 with the block-0 winner (wrong there): the
    # replay shows what the rule earns, where picking on the judged folds would show +1
    assert nested.overall["rank_ic_mean"] == pytest.approx(-1.0)
    # outcomes still open at block 1's start are not evidence: the default stays
    late = nested_selection(_nested_reports(40), HORIZONS["7d"], config, "lightgbm")
    assert [c["chosen"] for c in late.folds] == ["lightgbm", "lightgbm"]
    assert late.overall["rank_ic_mean"] == pytest.approx(0.0)
    single = {"lightgbm": _nested_reports(7)["lightgbm"]}
    assert nested_selection(single, HORIZONS["7d"], config, "lightgbm") is None


def test_the_zoo_reports_its_nested_selection(zoo_7d: ZooResult) -> None:
    figures = zoo_7d.nested_figures()
    assert figures is not None and np.isfinite(figures["rank_ic_mean"])
    choices = figures["choices"]
    assert len(choices) == zoo_7d.reports["lightgbm"].n_folds
    assert choices[0]["chosen"] == "lightgbm" and choices[0]["known_rank_ic"] == {}
    assert {c["chosen"] for c in choices} <= set(zoo_7d.reports)
    assert len(zoo_7d.nested.oof) == len(zoo_7d.reports["lightgbm"].oof)  # every row, once
