"""The model zoo: per horizon, every family on the same purged walk-forward folds, one selected.

Each single family (``TrainConfig.families``: LightGBM, XGBoost, the recurrent sequence model)
and, with two or more, their equal-weight ensemble are judged out of sample on identical test
blocks with identical calibration rules (``ml.walkforward.walk_forward_zoo``). Selection
(``select_family``): a candidate qualifies only if it passes the checks a model in use must
pass (``check_problems``: rank IC above zero and above plain momentum, ECE within ``MAX_ECE``).
The first listed family is the CHAMPION: a challenger (another family, or the ensemble)
displaces it only on evidence, when its rank IC beats the champion's on the dates both scored
by more than noise (``ic_gain``: the mean per-date difference, averaged over non-overlapping
horizon-long periods, ``SIGNIFICANCE_T`` standard errors above zero over at least
``MIN_PERIODS`` periods); among such challengers the highest rank IC wins. Rank ICs of a few
hundredths differ by chance across a few months: without the guard a replay of the rule chose
the recurrent network or the ensemble after one lucky block and lost to LightGBM alone
(benchmarks/README.md, "Model zoo"). A champion that fails its checks has no such claim: the
passing candidate with the highest rank IC wins. If none qualifies, the same rule without the
checks still names one (trained, so its figures are on record) with the reason, and the
promotion rule (``ml.tracking``) keeps it out of use. The reason is a sentence stored with the
model version.

Picking the best candidate on the same folds it is then judged on flatters the choice, so the
rule is also replayed fold by fold on what was known at the time (``nested_selection``): its
out-of-sample figures are the honest measure of "selection per horizon" against any one family.

Pure domain code: no MLflow and no Dagster (``ml.tracking`` logs what this returns).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crypto_assets.horizons import HORIZONS, Horizon
from crypto_assets.ml import metrics
from crypto_assets.ml.config import TrainConfig
from crypto_assets.ml.dataset import Dataset
from crypto_assets.ml.model import HorizonModel, train_final
from crypto_assets.ml.walkforward import (
    EvaluationReport,
    fit_estimator,
    summarise,
    walk_forward_zoo,
)

MAX_ECE = 0.10
# A challenger's rank-IC gain over the champion must be this many standard errors above zero,
# estimated over at least MIN_PERIODS non-overlapping horizon-long periods (one-sided ~98 %).
SIGNIFICANCE_T = 2.0
MIN_PERIODS = 4
ENSEMBLE = "ensemble"
NESTED = "nested selection"
FIGURES = ["rank_ic_mean", "rank_ic_ir", "momentum_rank_ic_mean", "ece", "brier"]


def check_problems(overall: dict[str, Any], max_ece: float = MAX_ECE) -> list[str]:
    """Why a walk-forward result must not be used (empty: it passes)."""
    ic, momentum = overall.get("rank_ic_mean"), overall.get("momentum_rank_ic_mean")
    ece = overall.get("ece")
    problems = []
    if ic is None or not math.isfinite(ic) or ic <= 0:
        problems.append(f"rank IC {_fmt(ic)} is not above 0")
    elif momentum is not None and math.isfinite(momentum) and ic <= momentum:
        problems.append(f"rank IC {_fmt(ic)} does not beat momentum {_fmt(momentum)}")
    if ece is None or not math.isfinite(ece) or ece > max_ece:
        problems.append(f"ECE {_fmt(ece)} above {max_ece}")
    return problems


def _fmt(value: Any) -> str:
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    return f"{float(value):.4f}"


def _ic(report: EvaluationReport) -> float:
    value = report.overall.get("rank_ic_mean")
    return float(value) if value is not None and math.isfinite(value) else -math.inf


@dataclass(frozen=True)
class Selection:
    family: str
    reason: str
    passed: bool  # the selected candidate passes its checks


@dataclass(frozen=True)
class Gain:
    """A challenger's rank IC minus the champion's, per non-overlapping horizon-long period."""

    mean: float
    t: float  # mean / standard error over the periods (NaN below MIN_PERIODS)
    periods: int

    @property
    def significant(self) -> bool:
        return math.isfinite(self.t) and self.t >= SIGNIFICANCE_T and self.mean > 0

    def __str__(self) -> str:
        t = f"t {self.t:.1f}" if math.isfinite(self.t) else "t n/a"
        return f"{self.mean:+.4f} ({t} over {self.periods} periods)"


def _ic_series(oof: pd.DataFrame, column: str = "score") -> pd.Series:
    """Per-date rank IC of ``oof``'s ``column`` against its net forward return."""
    if oof.empty:
        return pd.Series(dtype=float)
    return metrics.rank_ic_series(oof[column], oof["y_return"].to_numpy(float), oof["date"])


def ic_gain(challenger: pd.DataFrame, champion: pd.DataFrame, horizon: Horizon) -> Gain:
    """How much ``challenger``'s out-of-fold ranking beats ``champion``'s, and how surely.

    The per-date rank ICs of the two are paired on the dates both scored; their difference is
    averaged within consecutive periods one horizon long (the labels of neighbouring dates
    overlap, so dates inside a period are not independent) and the t statistic is taken over
    those period means."""
    return _gain(_ic_series(challenger), _ic_series(champion), horizon)


def _gain(challenger: pd.Series, champion: pd.Series, horizon: Horizon) -> Gain:
    """``ic_gain`` from the two per-date rank-IC series."""
    paired = pd.concat({"a": challenger, "b": champion}, axis=1, join="inner").dropna()
    if paired.empty:
        return Gain(math.nan, math.nan, 0)
    diff = paired["a"] - paired["b"]
    dates = pd.DatetimeIndex(diff.index)
    period = (dates - dates.min()) // horizon.duration
    means = diff.groupby(np.asarray(period)).mean()
    n = len(means)
    spread = float(means.std(ddof=1)) if n > 1 else math.nan
    mean, t = float(means.mean()), math.nan
    if n >= MIN_PERIODS and math.isfinite(spread):
        if spread > 0:
            t = mean / (spread / math.sqrt(n))
        else:  # the same difference in every period
            t = math.copysign(math.inf, mean) if mean else 0.0
    return Gain(mean, t, n)


def _choose(
    champion: str, ics: dict[str, float], passes: dict[str, bool], gains: dict[str, Gain]
) -> str | None:
    """The champion unless a passing challenger beats it significantly (then the best such);
    a champion that does not pass yields to the best passing candidate; None if none passes."""
    if passes.get(champion):
        winners = [n for n in ics if n != champion and passes[n] and gains[n].significant]
        return max(winners, key=lambda n: ics[n]) if winners else champion
    passing = [n for n in ics if passes[n]]
    return max(passing, key=lambda n: ics[n]) if passing else None


def select_family(
    reports: dict[str, EvaluationReport],
    max_ece: float = MAX_ECE,
    horizon: Horizon | None = None,
) -> Selection:
    """The candidate in use for a horizon and why (see the module docstring). The first
    report is the champion; ``horizon`` sets the length of the periods ``ic_gain`` averages
    over (default: the reports' own horizon)."""
    if not reports:
        raise ValueError("no candidate to select from")
    champion = next(iter(reports))
    horizon = horizon or HORIZONS[reports[champion].horizon]
    problems = {name: check_problems(r.overall, max_ece) for name, r in reports.items()}
    ranked = sorted(reports, key=lambda name: _ic(reports[name]), reverse=True)
    board = ", ".join(f"{n} {_fmt(reports[n].overall.get('rank_ic_mean'))}" for n in ranked)
    series = {n: _ic_series(r.oof) for n, r in reports.items()}
    gains = {n: _gain(series[n], series[champion], horizon) for n in reports if n != champion}
    ics = {n: _ic(r) for n, r in reports.items()}
    chosen = _choose(champion, ics, {n: not p for n, p in problems.items()}, gains)
    if chosen is None:  # named by the same rule, checks aside, so its figures are on record
        best = _choose(champion, ics, dict.fromkeys(reports, True), gains) or champion
        how = (
            "the champion"
            if best == champion
            else f"beats the champion {champion} by more than noise, rank IC {gains[best]}"
        )
        reason = (
            f"no candidate passes its checks; {best} ({how}; {board}) "
            f"fails: {'; '.join(problems[best])}"
        )
        above = [n for n in ranked[: ranked.index(best)] if n != champion]
        if above:
            reason += "; " + "; ".join(
                f"{n} {gains[n]} is within noise of the champion" for n in above
            )
        return Selection(best, reason, False)
    if chosen == champion:
        reason = f"{chosen}: the champion (first listed family), passes its checks ({board})"
    elif problems[champion]:
        reason = (
            f"{chosen}: highest out-of-sample rank IC among the candidates that pass ({board}); "
            f"the champion {champion} fails: {', '.join(problems[champion])}"
        )
    else:
        reason = (
            f"{chosen}: beats the champion {champion} by more than noise, rank IC "
            f"{gains[chosen]} ({board})"
        )
    better = [n for n in ranked[: ranked.index(chosen)] if n != champion]
    failing = [n for n in better if problems[n]]
    if failing:
        reason += "; " + "; ".join(f"{n} fails: {', '.join(problems[n])}" for n in failing)
    unproven = [n for n in better if not problems[n]]
    if unproven:
        reason += "; " + "; ".join(
            f"{n} {gains[n]} is within noise of the champion" for n in unproven
        )
    if chosen != ENSEMBLE and ENSEMBLE in reports and ENSEMBLE not in better:
        reason += "; the ensemble does not win out of sample"
    return Selection(chosen, reason, True)


def nested_selection(
    reports: dict[str, EvaluationReport], horizon: Horizon, config: TrainConfig, default: str
) -> EvaluationReport | None:
    """The selection rule replayed before each test block on what was known then.

    For block k every candidate's out-of-fold predictions of the earlier blocks whose outcome
    was known at k's first date (``label_end`` <= it: a 30d label of the block before is still
    open for 30 days) are scored, and ``select_family``'s rule is applied to them: ``default``
    (the first family, the champion) is used for block k unless a challenger above 0 and above
    plain momentum there beats it by more than noise (``ic_gain``), or the champion itself is
    not above 0 and momentum there (then the best that is). Calibration is each candidate's
    own, fitted on earlier blocks only, so the result is as out of sample as each family's own
    figures. None with fewer than two candidates (nothing to select)."""
    if len(reports) < 2 or default not in reports:
        return None
    oofs = {name: report.oof for name, report in reports.items()}
    blocks = sorted(int(k) for k in oofs[default]["fold"].unique())
    parts, choices = [], []
    for k in blocks:
        start = oofs[default].loc[oofs[default]["fold"] == k, "date"].min()
        known = {
            name: oof[(oof["fold"] < k) & (oof["label_end"] <= start)] for name, oof in oofs.items()
        }
        series = {name: _ic_series(rows) for name, rows in known.items()}
        ics, passes = {}, {}
        for name, rows in known.items():
            ics[name] = ic = float(series[name].mean()) if len(series[name]) else math.nan
            momentum = (
                float(_ic_series(rows, "momentum").mean()) if "momentum" in rows else math.nan
            )
            passes[name] = (
                math.isfinite(ic) and ic > 0 and not (math.isfinite(momentum) and ic <= momentum)
            )
        gains = {n: _gain(series[n], series[default], horizon) for n in known if n != default}
        chosen = _choose(default, ics, passes, gains) or default
        board = {n: ic for n, ic in ics.items() if passes[n]}
        parts.append(oofs[chosen][oofs[chosen]["fold"] == k])
        choices.append(
            {
                "fold": k,
                "test_start": start,
                "chosen": chosen,
                "known_rank_ic": {n: round(v, 4) for n, v in board.items()},
                "known_gain_t": {n: round(g.t, 2) for n, g in gains.items() if math.isfinite(g.t)},
            }
        )
    oof = pd.concat(parts, ignore_index=True)
    overall = summarise(oof, horizon, config.confidence_threshold, oof.get("momentum"))
    overall["n_folds"] = len(blocks)
    singles = [r for n, r in reports.items() if n != ENSEMBLE]
    return EvaluationReport(
        horizon.name,
        choices,
        overall,
        oof,
        family=NESTED,
        seconds=sum(r.seconds for r in singles),
        cpu_seconds=sum(r.cpu_seconds for r in singles),
        device=reports[default].device,
    )


@dataclass
class ZooResult:
    horizon: str
    reports: dict[str, EvaluationReport]  # single families, then "ensemble" when judged
    selection: Selection
    max_ece: float = MAX_ECE  # the checks' calibration bound (TrainConfig.max_ece)
    nested: EvaluationReport | None = None  # nested_selection (two candidates or more)

    def nested_figures(self) -> dict[str, Any] | None:
        """The nested selection's out-of-sample figures and its choice per block (the
        backtest's ``nested_selection``); None with a single candidate."""
        if self.nested is None:
            return None
        return {
            **{key: _number(self.nested.overall.get(key)) for key in FIGURES},
            "choices": [
                {**c, "test_start": pd.Timestamp(c["test_start"]).isoformat()}
                for c in self.nested.folds
            ],
        }

    @property
    def selected(self) -> EvaluationReport:
        return self.reports[self.selection.family]

    def figures(self) -> dict[str, dict[str, Any]]:
        """Per candidate: out-of-sample figures, cost, checks (the backtest's ``models``)."""
        out = {}
        for name, report in self.reports.items():
            seconds, cpu = report.seconds, report.cpu_seconds
            if name == ENSEMBLE:  # it costs its members' fits too
                members = [r for n, r in self.reports.items() if n != ENSEMBLE]
                seconds += sum(r.seconds for r in members)
                cpu += sum(r.cpu_seconds for r in members)
            problems = check_problems(report.overall, self.max_ece)
            out[name] = {
                **{key: _number(report.overall.get(key)) for key in FIGURES},
                "fit_seconds": round(seconds, 1),
                "cpu_seconds": round(cpu, 1),
                "device": report.device,
                "passed": not problems,
                "problems": problems,
                "tuning": report.tuning or None,
            }
        return out

    def table(self) -> pd.DataFrame:
        """One row per candidate (for the ``models`` asset's metadata and the benchmark)."""
        rows = [
            {"family": name, **{k: v for k, v in f.items() if k not in ("problems", "tuning")}}
            for name, f in self.figures().items()
        ]
        frame = pd.DataFrame(rows)
        frame["selected"] = frame["family"] == self.selection.family
        return frame

    def markdown(self) -> str:
        """The candidates as a markdown table, the selected one marked, then the reason."""
        lines = [
            "| family | rank IC | momentum IC | ECE | passes checks | fit s | device | |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, f in self.figures().items():
            mark = "**selected**" if name == self.selection.family else ""
            lines.append(
                f"| {name} | {_fmt(f['rank_ic_mean'])} | {_fmt(f['momentum_rank_ic_mean'])} | "
                f"{_fmt(f['ece'])} | {'yes' if f['passed'] else 'no'} | "
                f"{f['fit_seconds']:.0f} | {f['device']} | {mark} |"
            )
        return "\n".join([*lines, "", self.selection.reason])


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def evaluate_zoo(dataset: Dataset, config: TrainConfig | None = None) -> ZooResult:
    """Walk-forward every candidate of the horizon on the same folds and select one."""
    config = config or TrainConfig()
    reports = walk_forward_zoo(dataset, config)
    selection = select_family(reports, config.max_ece, dataset.horizon)
    listed = config.families_for(dataset.horizon)
    if len(listed) > 1 and len(reports) == 1:
        rows = len(dataset.labelled)
        note = (
            f"; only {listed[0]} was judged: {rows} labelled rows exceed zoo_max_rows "
            f"{config.zoo_max_rows} (each of {', '.join(listed[1:])} would cost about as much)"
        )
        selection = Selection(selection.family, selection.reason + note, selection.passed)
    nested = nested_selection(reports, dataset.horizon, config, next(iter(reports)))
    return ZooResult(dataset.horizon.name, reports, selection, config.max_ece, nested)


def train_selected(
    dataset: Dataset, zoo: ZooResult, config: TrainConfig | None = None
) -> HorizonModel:
    """The selected candidate fitted on every labelled row (its tuner continuing where the
    walk-forward left it; the ensemble's members each with their own), calibrated on its own
    out-of-fold predictions."""
    from crypto_assets.ml.estimators import EnsembleEstimator

    config = config or TrainConfig()
    family = zoo.selection.family
    report = zoo.selected
    chosen = config.model_copy(update={"family": family})
    if family != ENSEMBLE:
        return train_final(dataset, chosen, report.oof, tuner=report.tuner)
    data, horizon, features = dataset.labelled, dataset.horizon, dataset.features
    members = [
        fit_estimator(data, features, horizon, config, name, tuner=r.tuner, stage="final")
        for name, r in zoo.reports.items()
        if name != ENSEMBLE
    ]
    estimator = EnsembleEstimator.from_members(members, data, features)
    return train_final(dataset, chosen, report.oof, estimator=estimator)


def train_horizon(
    dataset: Dataset, config: TrainConfig | None = None
) -> tuple[ZooResult, HorizonModel]:
    """What the ``models`` asset runs per horizon: the zoo's walk-forward, the selection, and
    the final fit of the selected candidate (its metrics set to its out-of-sample figures)."""
    zoo = evaluate_zoo(dataset, config)
    model = train_selected(dataset, zoo, config)
    model.metrics = zoo.selected.overall
    return zoo, model
