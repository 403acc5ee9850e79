"""Technical features per coin per candle, computed only from candles at or before that candle.

Models rank coins against each other, so every feature is scale-free (returns, ratios to the
close, z-scores, ranks): a raw price or a raw OBV level must never reach a model, because it
would let the model tell coins apart by their price unit rather than by their behaviour.

How it is computed (see benchmarks/features.py for the throughput):

* the frame is sorted once by (symbol, date), giving one contiguous slice per coin;
* TA-Lib (RSI, MACD, EMA, OBV, ATR, BBANDS) runs on each coin's contiguous numpy slice;
* everything else runs vectorised over all coins at once on a 2-D "panel" (bars x coins,
  padded with NaN at the end of shorter coins), so a rolling window never crosses from one
  coin into the next and each coin's numbers depend only on that coin's own earlier candles.

Lookbacks are counted in bars of the timeframe and assume the bars are regular; the sanitation
layer drops coins with holes. A feature is NaN until its lookback is filled (never back-filled,
never forward-looking).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import talib

from crypto_assets.horizons import TIMEFRAMES

ID_COLUMNS: tuple[str, ...] = ("symbol", "date")
OHLCV_COLUMNS: tuple[str, ...] = ("symbol", "date", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
XRANK_SUFFIX = "_xrank"
# Ranks use a dense (dates x coins) matrix unless it would hold more than this many cells per
# row of the frame (histories of very different spans), then a per-date groupby rank.
DENSE_RANK_MAX_CELLS_PER_ROW = 4
DENSE_RANK_MIN_CELLS = 1_000_000
# Work in pieces of at most this many (bars x coins) cells (8 MiB per float array).
PANEL_MAX_CELLS = 1 << 20
# Columns that may sit next to features in a merged frame but are never model inputs.
_NON_FEATURE_PREFIXES: tuple[str, ...] = ("fwd_ret_", "label_end_")

RSI_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
ATR_PERIOD = 14
BB_PERIOD, BB_NBDEV = 20, 2.0


@dataclass(frozen=True)
class TimeframeSpec:
    """Lookbacks (in bars) of one timeframe; keys are the human suffix used in column names."""

    returns: dict[str, int]
    volatility: dict[str, int]
    obv_slope: dict[str, int]
    ema_periods: tuple[int, ...]
    volume_z: tuple[str, int]
    dollar_volume: tuple[str, int]
    drawdown: tuple[str, int]


# 1h cannot exist on daily candles, so "1d" has no ret_1h. EMAs on hourly candles span one day,
# three days and one week; on daily candles the classic 12/26/50.
TIMEFRAME_SPECS: dict[str, TimeframeSpec] = {
    "1h": TimeframeSpec(
        returns={"1h": 1, "24h": 24, "7d": 168, "30d": 720},
        volatility={"24h": 24, "7d": 168},
        obv_slope={"24h": 24, "7d": 168},
        ema_periods=(24, 72, 168),
        volume_z=("7d", 168),
        dollar_volume=("24h", 24),
        drawdown=("30d", 720),
    ),
    "1d": TimeframeSpec(
        returns={"24h": 1, "7d": 7, "30d": 30},
        volatility={"7d": 7, "30d": 30},
        obv_slope={"7d": 7, "30d": 30},
        ema_periods=(12, 26, 50),
        volume_z=("30d", 30),
        dollar_volume=("7d", 7),
        drawdown=("30d", 30),
    ),
}


def technical_feature_names(timeframe: str) -> list[str]:
    """The feature columns ``build_technical_features`` returns for ``timeframe``, in order."""
    spec = _spec(timeframe)
    names = [f"ret_{k}" for k in spec.returns]
    names += [f"rsi_{RSI_PERIOD}", "macd_norm", "macd_signal_norm", "macd_hist_norm"]
    names += [f"dist_ema_{p}" for p in spec.ema_periods]
    names += [f"obv_slope_{k}" for k in spec.obv_slope]
    names += [f"atr_{ATR_PERIOD}_norm"]
    names += [f"vol_{k}" for k in spec.volatility]
    names += [f"bb_width_{BB_PERIOD}", f"bb_pctb_{BB_PERIOD}"]
    names += [f"volume_z_{spec.volume_z[0]}", f"dollar_volume_z_{spec.volume_z[0]}"]
    names += [f"log_dollar_volume_{spec.dollar_volume[0]}", "hl_range"]
    names += [f"drawdown_{spec.drawdown[0]}", "days_since_first_candle"]
    return names


def validate_ohlcv(ohlcv: pd.DataFrame, timeframe: str) -> None:
    """Raise ``ValueError`` naming the problem if ``ohlcv`` is not a canonical OHLCV frame.

    Features and labels on a corrupt frame would be silently wrong, so this refuses the frame
    instead (the sanitation layer is the place that drops bad coins).
    """
    _validate(ohlcv, timeframe, check_keys=True)


def _validate(ohlcv: pd.DataFrame, timeframe: str, check_keys: bool) -> None:
    _spec(timeframe)
    if not isinstance(ohlcv, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame, got {type(ohlcv).__name__}")
    missing = [c for c in OHLCV_COLUMNS if c not in ohlcv.columns]
    if missing:
        raise ValueError(f"OHLCV frame lacks columns {missing}; has {list(ohlcv.columns)}")
    date = ohlcv["date"]
    if not isinstance(date.dtype, pd.DatetimeTZDtype) or str(date.dt.tz) != "UTC":
        raise ValueError(f"'date' must be datetime64[ns, UTC] (candle open time), got {date.dtype}")
    if ohlcv.empty:
        return
    if date.isna().any():
        raise ValueError(f"'date' has {int(date.isna().sum())} missing values")
    if check_keys and ohlcv["symbol"].isna().any():  # else found by from_frame's factorize
        _raise_missing_symbols(int(ohlcv["symbol"].isna().sum()))
    values = ohlcv[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values).all(axis=1) | (values[:, :4] <= 0).any(axis=1) | (values[:, 4] < 0)
    bad |= values[:, 1] < values[:, 2]
    if bad.any():
        symbols = sorted(ohlcv.loc[bad, "symbol"].astype(str).unique())[:10]
        raise ValueError(
            f"{int(bad.sum())} candles have non-finite or non-positive prices, negative volume or"
            f" high < low (symbols {symbols})"
        )
    if check_keys:
        dupes = ohlcv.duplicated(["symbol", "date"])
        if dupes.any():
            _raise_duplicates(int(dupes.sum()), ohlcv.loc[dupes, ["symbol", "date"]].iloc[0])
    step = TIMEFRAMES[timeframe].value
    misaligned = (_as_ns(date) % step) != 0
    if misaligned.any():
        example = date[misaligned].iloc[0]
        raise ValueError(
            f"{int(misaligned.sum())} candle open times are not on a {timeframe} boundary"
            f" (e.g. {example}): wrong timeframe for this frame?"
        )


def build_technical_features(ohlcv: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """One row per input candle: ``symbol``, ``date`` and the float features of that candle.

    Every feature at ``date`` uses only candles of the same coin at or before ``date``. Rows are
    sorted by (symbol, date), index reset. ``days_since_first_candle`` counts from the coin's
    first candle *in this frame* ("first seen in data"), which is its listing only when the
    frame reaches back that far.
    """
    # Missing symbols and duplicates are found more cheaply below, once sorted.
    _validate(ohlcv, timeframe, check_keys=False)
    spec = _spec(timeframe)
    names = technical_feature_names(timeframe)
    sorted_frame = _SortedOhlcv.from_frame(ohlcv)
    n = len(sorted_frame.close)
    # One (features x rows) block: the frame is built on it without a copy, and pandas never
    # has to consolidate two dozen separate columns later (that cost more than the features).
    block = np.full((len(names), n), np.nan)
    out = dict(zip(names, block, strict=True))
    if n:
        obv = _talib_features(sorted_frame, spec, out)
        _panel_features(sorted_frame, spec, obv, out)
        first = sorted_frame.date_ns[sorted_frame.starts][sorted_frame.codes]
        out["days_since_first_candle"][:] = (sorted_frame.date_ns - first) / 86_400e9
    frame = pd.DataFrame(block.T, columns=names, copy=False)
    frame.insert(0, "date", sorted_frame.dates)
    frame.insert(0, "symbol", sorted_frame.symbols)
    return frame


def add_cross_sectional_ranks(
    features: pd.DataFrame, columns: list[str] | None = None
) -> pd.DataFrame:
    """Add ``<col>_xrank``: the column's percentile rank (0..1] among coins at the same date.

    Models rank coins against each other, so a rank within the date removes the market-wide
    level (a bull month lifts every return) and leaves only the relative position. NaN stays NaN
    and is not counted. Returns a new frame; the input is not modified.
    """
    if columns is None:
        columns = [c for c in feature_columns(features) if not c.endswith(XRANK_SUFFIX)]
    missing = [c for c in [*columns, "symbol", "date"] if c not in features.columns]
    if missing:
        raise ValueError(f"cannot rank: columns {missing} are not in the frame")
    if not features.columns.is_unique:
        raise ValueError("cannot rank: the frame has duplicate column names")
    names = [f"{c}{XRANK_SUFFIX}" for c in columns]
    kept = [c for c in features.columns if c not in set(names)]
    floats = [c for c in kept if features[c].dtype == np.float64]
    # Build the result on one float block (existing floats + ranks) so pandas never has to
    # consolidate it later; that consolidation cost more than the ranking itself.
    big = np.empty((len(floats) + len(names), len(features)))
    for row, c in zip(big, floats, strict=False):
        row[:] = features[c].to_numpy()
    block = big[len(floats) :]
    block.fill(np.nan)
    if columns and not features.empty:
        coin, _ = pd.factorize(features["symbol"])
        day, days = pd.factorize(features["date"])
        n_coins = int(coin.max()) + 1
        dense_limit = DENSE_RANK_MAX_CELLS_PER_ROW * len(features) + DENSE_RANK_MIN_CELLS
        dense = len(days) * n_coins <= dense_limit
        if dense:
            duplicated = np.bincount(day * n_coins + coin).max() > 1
        else:
            duplicated = features.duplicated(["symbol", "date"]).any()
        if duplicated:
            raise ValueError("cannot rank: duplicate (symbol, date) rows")
        if dense:
            _rank_dense(features, columns, block, day, len(days), coin, n_coins)
        else:  # sparse panel (histories of very different spans): rank per date group instead
            grouped = features.groupby(day, sort=False)[columns].rank(pct=True)
            block[:] = grouped.to_numpy(dtype=np.float64).T
    result = pd.DataFrame(big.T, columns=[*floats, *names], index=features.index, copy=False)
    for position, c in enumerate(kept):
        if c not in floats:
            result.insert(position, c, features[c])
    return result


def _rank_dense(
    features: pd.DataFrame,
    columns: list[str],
    block: np.ndarray,
    day: np.ndarray,
    n_days: int,
    coin: np.ndarray,
    n_coins: int,
) -> None:
    """Rank on (dates x coins) matrices, a slab of dates at a time: ~3x faster than
    groupby().rank(), and slabs of <= PANEL_MAX_CELLS keep the temporaries reusable."""
    values = [features[c].to_numpy(dtype=np.float64) for c in columns]
    order = np.argsort(day, kind="stable")
    day_starts = np.searchsorted(day[order], np.arange(n_days + 1))
    days_per_slab = max(1, PANEL_MAX_CELLS // n_coins)
    for first in range(0, n_days, days_per_slab):
        last = min(first + days_per_slab, n_days)
        rows = order[day_starts[first] : day_starts[last]]
        at = (day[rows] - first, coin[rows])
        matrix = np.empty((last - first, n_coins))
        for out_row, column in zip(block, values, strict=True):
            matrix.fill(np.nan)
            matrix[at] = column[rows]
            ranked = pd.DataFrame(matrix, copy=False).rank(axis=1, pct=True).to_numpy()
            out_row[rows] = ranked[at]


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The model-input columns of ``frame``: everything except identifiers, raw OHLCV and labels.

    Raw prices and volumes are excluded because they are not scale-free; label columns because
    they look forward.
    """
    excluded = set(OHLCV_COLUMNS)
    return [
        c
        for c in frame.columns
        if c not in excluded
        and not str(c).startswith(_NON_FEATURE_PREFIXES)
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]


# --------------------------------------------------------------------------------------------
# internals


def _raise_missing_symbols(count: int) -> None:
    raise ValueError(f"'symbol' has {count} missing values")


def _raise_duplicates(count: int, example: pd.Series) -> None:
    raise ValueError(f"{count} duplicate (symbol, date) candles, e.g. {example.tolist()}")


def _spec(timeframe: str) -> TimeframeSpec:
    if timeframe not in TIMEFRAME_SPECS:
        raise ValueError(f"unsupported timeframe {timeframe!r}; expected one of {list(TIMEFRAMES)}")
    return TIMEFRAME_SPECS[timeframe]


def _as_ns(date: pd.Series) -> np.ndarray:
    return date.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").array.asi8


@dataclass
class _SortedOhlcv:
    """The frame sorted by (symbol, date) as contiguous float64 arrays plus coin segments."""

    symbols: np.ndarray
    dates: pd.DatetimeIndex
    date_ns: np.ndarray
    codes: np.ndarray  # coin id per row, non-decreasing
    starts: np.ndarray  # first row of each coin
    lengths: np.ndarray  # rows per coin
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def from_frame(cls, ohlcv: pd.DataFrame) -> _SortedOhlcv:
        symbol = ohlcv["symbol"]
        if not (pd.api.types.is_object_dtype(symbol) or pd.api.types.is_string_dtype(symbol)):
            symbol = symbol.astype(str)
        codes, uniques = pd.factorize(symbol, sort=True)
        if (codes < 0).any():
            _raise_missing_symbols(int((codes < 0).sum()))
        date_ns = _as_ns(ohlcv["date"])
        order = np.lexsort((date_ns, codes))
        codes = codes[order]
        n = len(codes)
        boundary = np.empty(n, dtype=bool)
        boundary[:1] = True
        np.not_equal(codes[1:], codes[:-1], out=boundary[1:])
        starts = np.flatnonzero(boundary)
        lengths = np.diff(np.append(starts, n))
        date_ns = date_ns[order]
        same = ~boundary[1:] & (date_ns[1:] == date_ns[:-1])
        if same.any():
            row = order[1:][same][0]
            _raise_duplicates(int(same.sum()), ohlcv[["symbol", "date"]].iloc[row])
        cols = {
            c: np.ascontiguousarray(ohlcv[c].to_numpy(dtype=np.float64)[order])
            for c in ("open", "high", "low", "close", "volume")
        }
        return cls(
            symbols=np.asarray(uniques, dtype=object)[codes],
            dates=pd.DatetimeIndex(date_ns.view("datetime64[ns]")).tz_localize("UTC"),
            date_ns=date_ns,
            codes=codes,
            starts=starts,
            lengths=lengths,
            **cols,
        )

    def segments(self) -> Iterator[tuple[int, int]]:
        for start, length in zip(self.starts.tolist(), self.lengths.tolist(), strict=True):
            yield start, start + length


def _talib_features(s: _SortedOhlcv, spec: TimeframeSpec, out: dict[str, np.ndarray]) -> np.ndarray:
    """Standard indicators by TA-Lib, one call per coin on its contiguous slice; returns OBV.

    Each coin's results are normalised by its close straight into the output rows, so no
    frame-sized intermediate per indicator is kept.
    """
    obv = np.empty(len(s.close))
    rsi = out[f"rsi_{RSI_PERIOD}"]
    macd_line, macd_signal, macd_hist = (
        out[k] for k in ("macd_norm", "macd_signal_norm", "macd_hist_norm")
    )
    emas = [(p, out[f"dist_ema_{p}"]) for p in spec.ema_periods]
    atr = out[f"atr_{ATR_PERIOD}_norm"]
    bb_width, bb_pctb = out[f"bb_width_{BB_PERIOD}"], out[f"bb_pctb_{BB_PERIOD}"]
    with np.errstate(divide="ignore", invalid="ignore"):
        for a, b in s.segments():
            close, high, low = s.close[a:b], s.high[a:b], s.low[a:b]
            rsi[a:b] = talib.RSI(close, RSI_PERIOD)
            line, signal, hist = talib.MACD(close, MACD_FAST, MACD_SLOW, MACD_SIGNAL)
            np.divide(line, close, out=macd_line[a:b])
            np.divide(signal, close, out=macd_signal[a:b])
            np.divide(hist, close, out=macd_hist[a:b])
            for p, dist in emas:
                np.subtract(close / talib.EMA(close, p), 1.0, out=dist[a:b])
            np.divide(talib.ATR(high, low, close, ATR_PERIOD), close, out=atr[a:b])
            upper, middle, lower = talib.BBANDS(close, BB_PERIOD, BB_NBDEV, BB_NBDEV, 0)
            band = upper - lower
            np.divide(band, middle, out=bb_width[a:b])
            bb_pctb[a:b] = np.where(band > 0, (close - lower) / band, np.nan)
            # OBV's level depends on where the frame starts, so only its change becomes a
            # feature (obv_slope_*), computed with the other rolling features.
            obv[a:b] = talib.OBV(close, s.volume[a:b])
    return obv


def _panel_features(
    s: _SortedOhlcv, spec: TimeframeSpec, obv: np.ndarray, out: dict[str, np.ndarray]
) -> None:
    """Returns, rolling moments and ratios, vectorised over all coins at once per panel."""
    for panel in _panels(s.lengths, s.starts):
        close, high, volume = (panel.take(x) for x in (s.close, s.high, s.volume))
        with np.errstate(divide="ignore", invalid="ignore"):
            for key, bars in spec.returns.items():
                panel.put(out[f"ret_{key}"], close / _shift(close, bars) - 1.0)
            log_ret = np.log(close / _shift(close, 1))
            for key, bars in spec.volatility.items():
                panel.put(out[f"vol_{key}"], _rolling(log_ret, bars, lambda r: r.std(ddof=1)))
            del log_ret
            # Signed volume over the window as a share of all volume in it (-1 all selling,
            # +1 all buying): OBV's change, free of where the frame starts.
            obv_p = panel.take(obv)
            for key, bars in spec.obv_slope.items():
                slope = _safe_div(obv_p - _shift(obv_p, bars), _rolling_sum(volume, bars))
                panel.put(out[f"obv_slope_{key}"], slope)
            del obv_p
            dollar_volume = close * volume
            key, bars = spec.volume_z
            panel.put(out[f"volume_z_{key}"], _zscore(volume, bars))
            panel.put(out[f"dollar_volume_z_{key}"], _zscore(dollar_volume, bars))
            key, bars = spec.dollar_volume
            mean_dv = _rolling_sum(dollar_volume, bars) / bars
            panel.put(
                out[f"log_dollar_volume_{key}"], np.where(mean_dv > 0, np.log(mean_dv), np.nan)
            )
            del dollar_volume, mean_dv
            panel.put(out["hl_range"], (high - panel.take(s.low)) / close)
            key, bars = spec.drawdown
            rolling_high = _rolling(high, bars, lambda r: r.max())
            panel.put(out[f"drawdown_{key}"], close / rolling_high - 1.0)


@dataclass
class _Panel:
    """A group of coins laid out as (coins, bars), column 0 = each coin's first candle.

    Coin-major like the sorted frame, so taking from and putting back into the frame's arrays
    moves contiguous runs, and each coin's bars are contiguous for pandas' per-column rolling.
    """

    index: np.ndarray  # (k, L) flat row index, 0 where padded
    padded: np.ndarray  # positions in the raveled panel that are padding
    cells: np.ndarray  # positions in the raveled panel that hold a candle
    rows: np.ndarray  # flat row index of each of those cells

    def take(self, flat: np.ndarray) -> np.ndarray:
        panel = flat[self.index]
        panel.ravel()[self.padded] = np.nan
        return panel

    def put(self, flat: np.ndarray, panel: np.ndarray) -> None:
        flat[self.rows] = panel.ravel()[self.cells]


def _panels(lengths: np.ndarray, starts: np.ndarray) -> Iterator[_Panel]:
    """Group coins of similar length so that padding stays below half of each panel.

    Panels are also capped at ``PANEL_MAX_CELLS`` so their temporaries stay small enough for
    the allocator to reuse memory instead of mapping (and page-faulting) fresh arrays each time:
    without the cap a 10x larger frame took ~27x longer.
    """
    order = np.argsort(-lengths, kind="stable")
    group: list[int] = []
    longest = total = 0
    for coin in order.tolist():
        length = int(lengths[coin])
        cells = (len(group) + 1) * longest
        if group and (cells > 2 * (total + length) or cells > PANEL_MAX_CELLS):
            yield _make_panel(group, lengths, starts)
            group, total = [], 0
        if not group:
            longest = length
        group.append(coin)
        total += length
    if group:
        yield _make_panel(group, lengths, starts)


def _make_panel(coins: list[int], lengths: np.ndarray, starts: np.ndarray) -> _Panel:
    coin_idx = np.asarray(coins)
    bars = np.arange(int(lengths[coin_idx].max()))[None, :]
    valid = bars < lengths[coin_idx][:, None]
    index = np.where(valid, starts[coin_idx][:, None] + bars, 0)
    flat_valid = valid.ravel()
    cells = np.flatnonzero(flat_valid)
    return _Panel(
        index=index, padded=np.flatnonzero(~flat_valid), cells=cells, rows=index.ravel()[cells]
    )


def _shift(panel: np.ndarray, bars: int) -> np.ndarray:
    """Each coin's value ``bars`` candles earlier (NaN before its first candle)."""
    shifted = np.full_like(panel, np.nan)
    if bars < panel.shape[1]:
        shifted[:, bars:] = panel[:, :-bars]
    return shifted


def _rolling(panel: np.ndarray, bars: int, agg: Callable[[Any], pd.DataFrame]) -> np.ndarray:
    """Trailing window of ``bars`` candles per coin; NaN until the window is full.

    pandas computes column by column, so each coin's numbers depend only on its own past.
    """
    frame = pd.DataFrame(panel.T, copy=False)  # columns = coins, each contiguous
    return agg(frame.rolling(bars, min_periods=bars)).to_numpy().T


def _rolling_sum(panel: np.ndarray, bars: int) -> np.ndarray:
    """Trailing sum by cumulative sums along each coin: a coin only sees its own past."""
    total = np.cumsum(panel, axis=1)
    out = np.full_like(panel, np.nan)
    if bars <= panel.shape[1]:
        out[:, bars - 1] = total[:, bars - 1]
        np.subtract(total[:, bars:], total[:, :-bars], out=out[:, bars:])
    return out


def _zscore(panel: np.ndarray, bars: int) -> np.ndarray:
    mean = _rolling_sum(panel, bars) / bars
    std = _rolling(panel, bars, lambda r: r.std(ddof=1))
    return _safe_div(panel - mean, std)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)
