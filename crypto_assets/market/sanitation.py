"""Sanitation: decide, per coin, whether its candles are fit to use, and say why not.

Rule (mission B1): a coin with corrupt, incomplete or stale candles is excluded as a whole, with
its reason in the quality table. Nothing is imputed, nothing disappears without a row saying so.
Exact duplicate candles (same values twice) are collapsed and counted; conflicting duplicates
are corruption.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crypto_assets.horizons import TIMEFRAMES
from crypto_assets.market.schemas import PRICE_COLUMNS, to_canonical

QUALITY_COLUMNS = [
    "symbol",
    "timeframe",
    "rows",
    "first_candle",
    "last_candle",
    "expected_rows",
    "missing_candles",
    "gap_ratio",
    "longest_gap_bars",
    "corrupt_rows",
    "duplicate_rows",
    "stale_hours",
    "excluded",
    "reason",
]


@dataclass(frozen=True)
class SanitationRules:
    max_gap_ratio: float = 0.05  # share of missing candles between a coin's first and last
    stale_after: dict[str, pd.Timedelta] = field(
        default_factory=lambda: {"1h": pd.Timedelta(hours=6), "1d": pd.Timedelta(days=2)}
    )
    min_rows: int = 1


def row_problems(ohlcv: pd.DataFrame, timeframe: str, as_of: pd.Timestamp | None) -> pd.Series:
    """Per row, the names of the checks it fails ('' when clean); vectorised over all coins."""
    step = TIMEFRAMES[timeframe]
    prices = ohlcv[PRICE_COLUMNS].to_numpy(dtype="float64")
    volume = ohlcv["volume"].to_numpy(dtype="float64")
    high, low = ohlcv["high"].to_numpy(), ohlcv["low"].to_numpy()
    body_max = np.fmax(ohlcv["open"].to_numpy(), ohlcv["close"].to_numpy())
    body_min = np.fmin(ohlcv["open"].to_numpy(), ohlcv["close"].to_numpy())
    checks: dict[str, np.ndarray] = {
        "non-finite value": ~np.isfinite(prices).all(axis=1) | ~np.isfinite(volume),
        "price <= 0": (prices <= 0).any(axis=1),
        "high < max(open, close)": high < body_max,
        "low > min(open, close)": low > body_min,
        "high < low": high < low,
        "volume < 0": volume < 0,
        "time not aligned": (ohlcv["date"].astype("int64").to_numpy() % step.value) != 0,
    }
    if as_of is not None:
        complete_by = ohlcv["date"] + step
        checks["candle in the future or still forming"] = (complete_by > as_of).to_numpy()
    key = ["symbol", "date"]
    dup_any = ohlcv.duplicated(key, keep=False).to_numpy()
    exact_dup = ohlcv.duplicated([*key, *PRICE_COLUMNS, "volume"], keep=False).to_numpy()
    checks["conflicting duplicate candle"] = dup_any & ~exact_dup
    problems = pd.Series("", index=ohlcv.index, dtype=object)
    for name, mask in checks.items():
        if mask.any():
            problems[mask] = problems[mask] + name + "; "
    return problems.str.rstrip("; ")


def sanitize_ohlcv(
    ohlcv: pd.DataFrame,
    timeframe: str,
    as_of: pd.Timestamp | None = None,
    rules: SanitationRules | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split candles into (clean candles, quality table with one row per coin).

    ``as_of`` is the time the data is judged at: candles not complete by then are corrupt and a
    coin whose last candle is older than ``rules.stale_after`` is stale. Without ``as_of``
    (historical use, e.g. a backtest) staleness is not judged, so delisted coins keep their
    history and the backtest has no survivorship bias.
    """
    rules = rules or SanitationRules()
    step = TIMEFRAMES[timeframe]
    frame = to_canonical(ohlcv)
    problems = row_problems(frame, timeframe, as_of)
    exact_extra = frame.duplicated(["symbol", "date", *PRICE_COLUMNS, "volume"], keep="first")
    frame = frame.assign(_problem=problems, _extra=exact_extra)
    kept = frame[~frame["_extra"]]

    grouped = kept.groupby("symbol", sort=True)
    quality = grouped["date"].agg(rows="count", first_candle="min", last_candle="max")
    quality["corrupt_rows"] = grouped["_problem"].agg(lambda s: int((s != "").sum()))
    quality["duplicate_rows"] = frame.groupby("symbol")["_extra"].sum().astype(int)
    span = (quality["last_candle"] - quality["first_candle"]) / step
    quality["expected_rows"] = (span.round().astype("int64") + 1).astype(int)
    quality["missing_candles"] = (quality["expected_rows"] - quality["rows"]).clip(lower=0)
    quality["gap_ratio"] = quality["missing_candles"] / quality["expected_rows"]
    bars_between = grouped["date"].diff().div(step).fillna(1).sub(1)
    quality["longest_gap_bars"] = (
        bars_between.groupby(kept["symbol"]).max().reindex(quality.index).fillna(0).astype(int)
    )
    if as_of is not None:
        stale_for = pd.Timestamp(as_of) - (quality["last_candle"] + step)
        quality["stale_hours"] = stale_for / pd.Timedelta(hours=1)
    else:
        quality["stale_hours"] = np.nan

    first_problem = grouped["_problem"].agg(lambda s: next((p for p in s if p), ""))
    reasons: list[str] = []
    for symbol, row in quality.iterrows():  # one iteration per coin, not per candle
        if row["corrupt_rows"]:
            reasons.append(
                f"corrupt: {row['corrupt_rows']} candle(s), e.g. {first_problem[symbol]}"
            )
        elif row["rows"] < rules.min_rows:
            reasons.append(f"incomplete: only {row['rows']} candle(s)")
        elif row["gap_ratio"] > rules.max_gap_ratio:
            reasons.append(
                f"incomplete: {row['missing_candles']} of {row['expected_rows']} candles missing "
                f"({row['gap_ratio']:.1%} > {rules.max_gap_ratio:.0%})"
            )
        elif as_of is not None and row["stale_hours"] > rules.stale_after[timeframe] / pd.Timedelta(
            hours=1
        ):
            reasons.append(f"stale: last candle {row['stale_hours']:.0f} h before {as_of}")
        else:
            reasons.append("")
    quality["reason"] = reasons
    quality["excluded"] = quality["reason"] != ""
    quality["timeframe"] = timeframe
    quality = quality.reset_index()[QUALITY_COLUMNS]

    good = set(quality.loc[~quality["excluded"], "symbol"])
    clean = kept[kept["symbol"].isin(good)].drop(columns=["_problem", "_extra"])
    return clean.reset_index(drop=True), quality


def merge_new_candles(
    stored: pd.DataFrame, fetched: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stored candles plus the fetched ones that are new; stored values always win.

    Returns (merged, conflicts): a fetched candle that disagrees with a stored one for the same
    (symbol, date) is reported in ``conflicts`` and never written over the stored one.
    """
    if stored is None or stored.empty:
        return to_canonical(fetched) if len(fetched) else fetched, fetched.iloc[0:0]
    stored = to_canonical(stored)
    if fetched.empty:
        return stored, fetched
    fetched = to_canonical(fetched)
    both = fetched.merge(stored, on=["symbol", "date"], how="left", suffixes=("", "_stored"))
    known = both["close_stored"].notna().to_numpy()
    value_cols = [*PRICE_COLUMNS, "volume"]
    differs = np.zeros(len(both), dtype=bool)
    for col in value_cols:
        differs |= ~np.isclose(both[col], both[f"{col}_stored"], rtol=1e-9, equal_nan=True)
    conflicts = both.loc[known & differs, ["symbol", "date", *value_cols]]
    new_rows = fetched.loc[~known]
    merged = pd.concat([stored, new_rows], ignore_index=True)
    return merged.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True), conflicts


def usable_history(
    ohlcv: pd.DataFrame,
    timeframe: str,
    lookback: pd.Timedelta = pd.Timedelta(days=30),
    rules: SanitationRules | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long histories judged the way the daily pipeline judges each day (``clean_ohlcv``): a
    coin's candle is usable when the trailing ``lookback`` window ending at it holds no corrupt
    candle and misses at most ``rules.max_gap_ratio`` of its bars.

    ``sanitize_ohlcv`` judges a coin over its whole span, which drops a ten-year history for
    one bad candle in its first year; a backtest over years must judge as production did on
    each day instead. Returns (candles without corrupt rows and exact duplicates, with a
    boolean ``usable`` column; a quality table with one row per coin: rows, corrupt rows,
    usable share). Conflicting duplicates are corrupt (both rows dropped). Nothing is imputed.
    """
    rules = rules or SanitationRules()
    step = TIMEFRAMES[timeframe]
    frame = to_canonical(ohlcv)
    frame = frame[~frame.duplicated(["symbol", "date", *PRICE_COLUMNS, "volume"], keep="first")]
    problems = row_problems(frame, timeframe, None)
    conflicting = frame.duplicated(["symbol", "date"], keep=False)
    bad = (problems != "").to_numpy() | conflicting.to_numpy()
    frame = frame.assign(_bad=bad).sort_values(["symbol", "date"], kind="stable")
    usable = np.zeros(len(frame), dtype=bool)
    bars = max(1, int(lookback / step))
    when = frame["date"].dt.tz_convert("UTC").astype("datetime64[ns, UTC]").array.asi8
    for start, stop in _segments(frame["symbol"].to_numpy()):
        usable[start:stop] = _usable_rows(
            when[start:stop],
            frame["_bad"].to_numpy()[start:stop],
            lookback,
            step,
            bars,
            rules.max_gap_ratio,
        )
    frame["usable"] = usable
    quality = frame.groupby("symbol").agg(
        rows=("date", "size"), corrupt_rows=("_bad", "sum"), usable_share=("usable", "mean")
    )
    clean = frame[~frame["_bad"]].drop(columns="_bad").reset_index(drop=True)
    return clean, quality.reset_index()


def _segments(symbols: np.ndarray) -> list[tuple[int, int]]:
    if not len(symbols):
        return []
    starts = np.flatnonzero(np.r_[True, symbols[1:] != symbols[:-1]])
    return list(zip(starts, np.r_[starts[1:], len(symbols)], strict=True))


def _usable_rows(
    when: np.ndarray,
    bad: np.ndarray,
    lookback: pd.Timedelta,
    step: pd.Timedelta,
    bars: int,
    max_gap_ratio: float,
) -> np.ndarray:
    """Per candle of one coin (``when``: sorted open times in ns): is its trailing window clean
    and complete?"""
    first = np.searchsorted(when, when - lookback.value + step.value, side="left")
    position = np.arange(len(when))
    present = position - first + 1
    corrupt = np.concatenate([[0], np.cumsum(bad)])
    corrupt_in_window = corrupt[position + 1] - corrupt[first]
    since_first = (when - when[0]) // step.value + 1
    expected = np.minimum(bars, since_first)
    good_present = present - corrupt_in_window
    missing = 1.0 - good_present / np.maximum(expected, 1)
    return (corrupt_in_window == 0) & (missing <= max_gap_ratio) & ~bad
