"""Model-ready rows for one horizon: features known at t joined with the label that looks forward.

One code path for the product and the backtest: the ``models`` asset passes the STORED
``feature_table`` and ``labels`` it declares; the backtest computes the same two frames from a
snapshot's candles (``dataset_from_candles``) and calls the same ``build_dataset``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto_assets.horizons import HORIZONS, Horizon

KEY = ["symbol", "date"]


class InsufficientDataError(ValueError):
    """Too few candles or too little history for a horizon; the message says what is missing."""


@dataclass
class Dataset:
    """``labelled``: symbol, date, features, ``y_return`` (net forward return), ``label_end``
    (when that return became known), sorted by (date, symbol); and the labels of every LONGER
    horizon of the same timeframe as the labels name them (``fwd_ret_30d``, ``label_end_30d``
    on a 7d dataset; NaN where unknown), which a model may also learn from
    (``add_targets``' ``slow``)."""

    horizon: Horizon
    features: list[str]
    labelled: pd.DataFrame
    momentum_column: str | None = None

    @property
    def timeframe(self) -> str:
        return self.horizon.timeframe


def build_dataset(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    horizon: Horizon,
    feature_names: list[str] | None = None,
) -> Dataset:
    """Join features (known at t) with the horizon's net forward return (known at label_end).

    ``features``: symbol, date and feature columns of ONE timeframe (``feature_names`` picks
    them; default every numeric non-key column). ``labels``: symbol, date, ``fwd_ret_<h>``,
    ``label_end_<h>`` as ``features.labels.forward_returns`` writes them. Rows whose label is
    not known (the horizon has not passed, or the exit candle is missing) are left out. The
    labels of longer horizons of the same timeframe ride along where ``labels`` has them.
    """
    from crypto_assets.features.indicators import feature_columns

    ret_col, end_col = f"fwd_ret_{horizon.name}", f"label_end_{horizon.name}"
    missing = [c for c in (*KEY, ret_col, end_col) if c not in labels.columns]
    if missing:
        raise InsufficientDataError(f"{horizon.name}: labels lack columns {missing}")
    names = list(feature_names) if feature_names is not None else feature_columns(features)
    absent = [c for c in [*KEY, *names] if c not in features.columns]
    if absent:
        raise InsufficientDataError(f"{horizon.name}: feature frame lacks columns {absent}")
    longer = [
        column
        for name in longer_horizons(horizon)
        for column in (f"fwd_ret_{name}", f"label_end_{name}")
        if {f"fwd_ret_{name}", f"label_end_{name}"} <= set(labels.columns)
    ]
    # A join by position, not ``merge``: on years of hourly candles the merge, the filter and
    # the sort each copied every feature column (benchmarks/README.md, "Long histories").
    at = key_positions(features, labels, horizon.name)
    y = labels[ret_col].to_numpy(dtype=float)
    ends = labels[end_col]
    known = at >= 0
    known[known] = np.isfinite(y[at[known]]) & ends.iloc[at[known]].notna().to_numpy()
    rows = np.flatnonzero(known)
    dates = utc_index(features["date"]).as_unit("ns").asi8[rows]
    symbols = pd.factorize(features["symbol"].to_numpy()[rows], sort=True)[0]
    rows = rows[np.lexsort((symbols, dates))]  # by (date, symbol): the keys are unique
    columns = [features.columns.get_loc(c) for c in [*KEY, *names]]
    frame = features.iloc[rows, columns].reset_index(drop=True)
    outcome = {"y_return": ret_col, "label_end": end_col, **{c: c for c in longer}}
    for column, source in outcome.items():
        frame[column] = labels[source].iloc[at[rows]].reset_index(drop=True)
    momentum = f"ret_{horizon.name}"
    return Dataset(horizon, names, frame, momentum if momentum in names else None)


def key_positions(
    left: pd.DataFrame,
    right: pd.DataFrame,
    what: str,
    sides: tuple[str, str] = ("feature", "label"),
) -> np.ndarray:
    """For each row of ``left``, the position of ``right``'s row with the same symbol and date
    (-1 where there is none); a key that is not unique on either side is an error naming that
    side (``sides``), as in a one-to-one merge (dates match as instants, whatever their unit)."""
    left_keys, right_keys = (
        pd.MultiIndex.from_arrays(
            [frame["symbol"].to_numpy(), utc_index(frame["date"]).as_unit("ns").asi8]
        )
        for frame in (left, right)
    )
    for side, keys in zip(sides, (left_keys, right_keys), strict=True):
        if not keys.is_unique:
            raise ValueError(f"{what}: the {side} rows repeat a symbol and date")
    return right_keys.get_indexer(left_keys)


STORED = "stored"  # ``source`` of the product's own rows in a dataset with older history
# Prefix of the names (MLflow metrics, check figures) of a model's figures on the stored days
# alone, beside those over the whole span (``walkforward.figures_since``).
STORED_DAYS = "stored_days_"


def stored_from(labelled: pd.DataFrame) -> pd.Timestamp | None:
    """The first stored day of a dataset that ``with_history`` gave older rows of another
    source; None when it holds none (every row is the product's own)."""
    if "source" not in labelled or (labelled["source"] == STORED).all():
        return None
    return labelled.loc[labelled["source"] == STORED, "date"].min()


def with_history(dataset: Dataset, history: Dataset, source: str) -> tuple[Dataset, dict]:
    """``dataset`` with older training rows from another source's candles, and what was added.

    Only ``history`` rows dated before ``dataset``'s first date are used, so every date's
    cross-section (and so every rank target) comes from one source, and a coin-day is never
    taken from two. Features the history lacks (text, on-chain: stored only for the product's
    own days) stay missing on its rows, which the tree models handle. Every row carries
    ``source`` (``STORED`` or ``source``); the labels of the last history rows may end inside
    the stored span, which the walk-forward purges like any other label."""
    own = dataset.labelled.assign(source=STORED)
    if own.empty:
        return dataset, {"source": source, "rows": 0, "reason": "no stored rows"}
    first = own["date"].min()
    older = history.labelled[history.labelled["date"] < first]
    info: dict = {"source": source, "rows": len(older), "before": first.isoformat()}
    if older.empty:
        info["reason"] = f"the history has no rows before the first stored day {first:%Y-%m-%d}"
        return Dataset(dataset.horizon, dataset.features, own, dataset.momentum_column), info
    longer = [c for c in own.columns if c.startswith(("fwd_ret_", "label_end_"))]
    older = older.reindex(columns=[*KEY, *dataset.features, "y_return", "label_end", *longer])
    frame = pd.concat([older.assign(source=source), own], ignore_index=True)
    frame = frame.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)
    info.update(
        coins=int(older["symbol"].nunique()),
        start=older["date"].min().isoformat(),
        end=older["date"].max().isoformat(),
        missing_features=sorted(set(dataset.features) - set(history.features)),
    )
    return Dataset(dataset.horizon, dataset.features, frame, dataset.momentum_column), info


def longer_horizons(horizon: Horizon) -> list[str]:
    """The horizons of ``horizon``'s timeframe that look further ahead (7d: 30d; 1h: 24h)."""
    return [
        h.name
        for h in HORIZONS.values()
        if h.timeframe == horizon.timeframe and h.duration > horizon.duration
    ]


def add_targets(frame: pd.DataFrame, slow: str | None = None) -> pd.DataFrame:
    """``frame`` with the estimator targets (see ``ml.estimators.base``) from ``y_return``:
    ``y_rank`` (percentile rank among the coins of the same date), ``y_up`` (net return > 0);
    with ``slow`` (a longer horizon whose labels the frame carries) also ``y_rank_slow``, the
    rank of that horizon's return.

    ``y_rank_slow`` is kept only where its label was known by the time the LAST of the frame's
    own labels was (``label_end_<slow>`` <= max ``label_end``), NaN elsewhere. Every training
    frame (a walk-forward fold, an inner split, the final fit) holds only rows whose own label
    was known at its cut, so the longer label is purged by the same cut without the cut being
    passed in: a 30-day outcome that resolved inside a test block can never be learned before
    it."""
    out = frame.copy()
    out["y_rank"] = out.groupby("date")["y_return"].rank(pct=True).to_numpy(dtype=float)
    out["y_up"] = (out["y_return"].to_numpy(dtype=float) > 0).astype(float)
    ret, end = f"fwd_ret_{slow}", f"label_end_{slow}"
    if slow and ret in out and end in out and len(out):
        known = out[end].notna() & (out[end] <= out["label_end"].max())
        slow_return = out[ret].astype(float).where(known.to_numpy())
        out["y_rank_slow"] = slow_return.groupby(out["date"]).rank(pct=True).to_numpy(float)
    return out


def excess_return(frame: pd.DataFrame) -> np.ndarray:
    """Net return minus the mean net return of the coins at the same date."""
    y = frame["y_return"].astype(float)
    return (y - y.groupby(frame["date"]).transform("mean")).to_numpy()


def utc_index(values: pd.Series | pd.Index | np.ndarray) -> pd.DatetimeIndex:
    """Timestamps as a UTC ``DatetimeIndex``, without a Python loop over the rows where the
    input is already datetime-typed (``np.asarray`` of a tz-aware column builds one Timestamp
    object per row: on an hourly backtest that loop was a third of the walk-forward's time)."""
    typed = isinstance(values, pd.Series | pd.Index | np.ndarray)
    if typed and pd.api.types.is_datetime64_any_dtype(values.dtype):
        index = pd.DatetimeIndex(values)
    else:
        index = pd.DatetimeIndex(pd.to_datetime(np.asarray(values), utc=True))
    return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")


def within_date_rank(values: np.ndarray, dates: pd.Series | np.ndarray) -> np.ndarray:
    """Percentile rank (0..1] of each value among the rows of the same date."""
    series = pd.Series(np.asarray(values, dtype=float))
    return series.groupby(utc_index(dates).asi8).rank(pct=True).to_numpy()


def dataset_from_candles(
    candles: pd.DataFrame, horizon: Horizon, round_trip_cost: float
) -> Dataset:
    """The dataset the stored assets would give for these candles: the feature frame
    (``features.pipeline``) and net labels (``features.labels``) computed here, then the same
    ``build_dataset``. For the backtest and tests; the ``models`` asset reads stored tables."""
    from crypto_assets.features.labels import forward_returns
    from crypto_assets.features.pipeline import build_feature_frame, feature_names

    features = build_feature_frame(candles, horizon.timeframe)
    names = [horizon.name, *longer_horizons(horizon)]
    labels = forward_returns(candles, horizon.timeframe, names, round_trip_cost=round_trip_cost)
    return build_dataset(features, labels, horizon, feature_names(horizon.timeframe))
