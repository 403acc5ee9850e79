"""Technical features per coin per candle, computed only from candles at or before that candle.

Models rank coins against each other, so every feature is scale-free (returns, ratios to the
close, z-scores, ranks): a raw price or a raw OBV level must never reach a model, because it
would let the model tell coins apart by their price unit rather than by their behaviour.

Every feature is an EXACT function of a trailing window of fixed length in bars of time
(``lookback_bars`` gives the longest), so a daily partition computed from only that look-back
equals, bit for bit, the same partition computed from the whole stored history (tested). How
(``crypto_assets.features.windows`` has the window arithmetic):

* the frame is sorted once by (symbol, date) and laid out as "panels" (coins x bars) on the
  absolute time grid of the timeframe, coins with similar spans together; a missing candle is a
  hole (NaN), so a lag of k bars is k bars of time, and a window over a hole is incomplete;
* EMA, MACD, RSI (Wilder) and ATR (Wilder) are exponential kernels truncated where the weight
  left out is below ``KERNEL_TOLERANCE`` (1e-9), instead of TA-Lib's recursions, which depend on
  where the frame starts; after warm-up they match TA-Lib to ~1e-10 (benchmarks/README.md);
* rolling sums, moments and maxima are sums within absolute-time blocks, never differences of
  a running sum from the frame's start;
* ``days_since_first_candle`` counts from the coin's first stored candle when the caller gives
  it (``first_candle``), else from its first candle in the frame.

A feature is NaN until its window is filled (never back-filled, never forward-looking).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crypto_assets.features import windows
from crypto_assets.features.windows import kernel_ema, kernel_length, lag
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
    # The RETURN PROFILE (daily only): the yardstick's features (shared/bench/minimal_lgbm.py)
    # beyond those above — trailing returns and volatility over more windows, the z-score of
    # log dollar volume, the drawdown from the closing high. ``features.pipeline`` makes them a
    # view of their own (with the returns and volatility above they share).
    profile_returns: dict[str, int] = field(default_factory=dict)
    profile_volatility: dict[str, int] = field(default_factory=dict)
    profile_log_dollar_volume_z: tuple[str, int] | None = None
    profile_close_drawdown: tuple[str, int] | None = None
    # RISK FACTORS of daily returns (daily only; ``features.factors`` computes them, since beta
    # and idiosyncratic volatility need the whole market at once): feature name -> window.
    factor_windows: dict[str, int] = field(default_factory=dict)


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
        profile_returns={"3d": 3, "14d": 14, "60d": 60},
        profile_volatility={"14d": 14},
        profile_log_dollar_volume_z=("30d", 30),
        profile_close_drawdown=("60d", 60),
        factor_windows={
            "max_ret_30d": 30,
            "skew_30d": 30,
            "beta_60d": 60,
            "idio_vol_60d": 60,
            "amihud_30d": 30,
        },
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
    return names + return_profile_names(timeframe)


def return_profile_names(timeframe: str) -> list[str]:
    """The return-profile columns of ``timeframe`` (empty for hourly candles), in order."""
    spec = _spec(timeframe)
    names = [f"ret_{k}" for k in spec.profile_returns]
    names += [f"vol_{k}" for k in spec.profile_volatility]
    if spec.profile_log_dollar_volume_z:
        names.append(f"log_dollar_volume_z_{spec.profile_log_dollar_volume_z[0]}")
    if spec.profile_close_drawdown:
        names.append(f"close_drawdown_{spec.profile_close_drawdown[0]}")
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


def lookback_bars(timeframe: str) -> int:
    """Bars before a candle that its features read: the longest window of the timeframe's
    spec (an EMA kernel, MACD's signal over its line, a 30-day return ...). A frame that holds
    this many bars before ``start`` gives exactly the features of the whole history."""
    spec = _spec(timeframe)
    kernels = [kernel_length(2 / (p + 1)) - 1 for p in (*spec.ema_periods, MACD_FAST, MACD_SLOW)]
    macd_signal = kernel_length(2 / (MACD_SLOW + 1)) + kernel_length(2 / (MACD_SIGNAL + 1)) - 2
    wilder = kernel_length(1 / max(RSI_PERIOD, ATR_PERIOD))  # over changes: one close more
    profile = [
        *spec.profile_returns.values(),
        *spec.profile_volatility.values(),
        *(w[1] - 1 for w in (spec.profile_log_dollar_volume_z, spec.profile_close_drawdown) if w),
    ]
    windows_ = [  # a return, log return or signed volume over k bars needs the close k bars back
        *profile,
        *spec.factor_windows.values(),
        *spec.returns.values(),
        *spec.volatility.values(),
        *spec.obv_slope.values(),
        spec.volume_z[1] - 1,
        spec.dollar_volume[1] - 1,
        spec.drawdown[1] - 1,
        BB_PERIOD - 1,
    ]
    return max([*kernels, macd_signal, wilder, *windows_])


def lookback(timeframe: str) -> pd.Timedelta:
    """``lookback_bars`` as a span of time."""
    return lookback_bars(timeframe) * TIMEFRAMES[timeframe]


def build_technical_features(
    ohlcv: pd.DataFrame,
    timeframe: str,
    *,
    start: pd.Timestamp | None = None,
    first_candle: Mapping[str, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """One row per input candle dated at or after ``start`` (every candle when None):
    ``symbol``, ``date`` and the float features of that candle.

    Every feature at ``date`` uses only candles of the same coin at or before ``date``, and at
    most ``lookback_bars(timeframe)`` bars back. ``first_candle`` (per symbol) anchors
    ``days_since_first_candle``; without it the coin's first candle in this frame is used
    ("first seen in data"). Rows are sorted by (symbol, date), index reset.
    """
    # Missing symbols and duplicates are found more cheaply below, once sorted.
    _validate(ohlcv, timeframe, check_keys=False)
    spec = _spec(timeframe)
    names = technical_feature_names(timeframe)
    sorted_frame = _SortedOhlcv.from_frame(ohlcv, TIMEFRAMES[timeframe].value)
    n = len(sorted_frame.close)
    # One (features x rows) block: the frame is built on it without a copy, and pandas never
    # has to consolidate two dozen separate columns later (that cost more than the features).
    block = np.full((len(names), n), np.nan)
    out = dict(zip(names, block, strict=True))
    if n:
        for panel in _panels(sorted_frame):
            _panel_features(sorted_frame, panel, spec, out)
        out["days_since_first_candle"][:] = _days_listed(sorted_frame, first_candle)
    frame = pd.DataFrame(block.T, columns=names, copy=False)
    frame.insert(0, "date", sorted_frame.dates)
    frame.insert(0, "symbol", sorted_frame.symbols)
    if start is not None:
        frame = frame[sorted_frame.date_ns >= pd.Timestamp(start).value].reset_index(drop=True)
    return frame


def _days_listed(s: _SortedOhlcv, first_candle: Mapping[str, pd.Timestamp] | None) -> np.ndarray:
    """Days since each coin's first candle: the stored one if known, else the frame's first."""
    first = s.date_ns[s.starts]
    if first_candle:
        stored = pd.Series(s.symbols[s.starts]).map(
            {k: pd.Timestamp(v).value for k, v in first_candle.items()}
        )
        known = stored.notna().to_numpy()
        first = np.where(known, stored.fillna(0).to_numpy(dtype=np.int64), first)
    return (s.date_ns - first[s.codes]) / 86_400e9


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
    grid: np.ndarray  # absolute bar index of each row: date // timeframe (epoch-aligned)
    codes: np.ndarray  # coin id per row, non-decreasing
    starts: np.ndarray  # first row of each coin
    lengths: np.ndarray  # rows per coin
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def from_frame(cls, ohlcv: pd.DataFrame, step_ns: int) -> _SortedOhlcv:
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
            grid=date_ns // step_ns,
            codes=codes,
            starts=starts,
            lengths=lengths,
            **cols,
        )


@dataclass
class _Panel:
    """A group of coins laid out as (coins, bars) on the absolute time grid: column ``j`` is
    bar ``origin + j``; a bar without a candle (before listing, after the last candle, or a
    hole) holds NaN."""

    origin: int  # absolute bar index (date // step) of column 0
    index: np.ndarray  # (k, L) flat row index, 0 where no candle
    empty: np.ndarray  # positions in the raveled panel without a candle
    cells: np.ndarray  # positions in the raveled panel that hold a candle
    rows: np.ndarray  # flat row index of each of those cells

    def take(self, flat: np.ndarray) -> np.ndarray:
        panel = flat[self.index]
        panel.ravel()[self.empty] = np.nan
        return panel

    def put(self, flat: np.ndarray, panel: np.ndarray) -> None:
        flat[self.rows] = panel.ravel()[self.cells]


def _panels(s: _SortedOhlcv) -> Iterator[_Panel]:
    """Group coins of similar spans (sorted by first bar) so that empty cells stay below half
    of each panel, and cap panels at ``PANEL_MAX_CELLS`` so their temporaries stay small enough
    for the allocator to reuse memory (without the cap a 10x larger frame took ~27x longer)."""
    first = s.grid[s.starts]
    last = s.grid[s.starts + s.lengths - 1]
    group: list[int] = []
    lo = hi = filled = 0
    for coin in np.lexsort((last, first)).tolist():
        if group:
            width = max(hi, last[coin]) - min(lo, first[coin]) + 1
            cells = (len(group) + 1) * width
            if cells > 2 * (filled + s.lengths[coin]) or cells > PANEL_MAX_CELLS:
                yield _make_panel(group, s)
                group = []
        if not group:
            lo, hi, filled = first[coin], last[coin], 0
        lo, hi = min(lo, first[coin]), max(hi, last[coin])
        group.append(coin)
        filled += int(s.lengths[coin])
    if group:
        yield _make_panel(group, s)


def _make_panel(coins: list[int], s: _SortedOhlcv) -> _Panel:
    coin_idx = np.asarray(coins)
    starts, lengths = s.starts[coin_idx], s.lengths[coin_idx]
    rows = np.concatenate([np.arange(a, a + n) for a, n in zip(starts, lengths, strict=True)])
    slot = np.repeat(np.arange(len(coins)), lengths)
    origin = int(s.grid[rows].min())
    width = int(s.grid[rows].max()) - origin + 1
    cells = slot * width + (s.grid[rows] - origin)
    index = np.zeros(len(coins) * width, dtype=np.int64)
    index[cells] = rows
    filled = np.zeros(len(coins) * width, dtype=bool)
    filled[cells] = True
    return _Panel(
        origin=origin,
        index=index.reshape(len(coins), width),
        empty=np.flatnonzero(~filled),
        cells=cells,
        rows=rows,
    )


def _panel_features(
    s: _SortedOhlcv, panel: _Panel, spec: TimeframeSpec, out: dict[str, np.ndarray]
) -> None:
    """Every feature of one panel, each from its trailing window only."""
    close, high, low, volume = (panel.take(x) for x in (s.close, s.high, s.low, s.volume))
    origin = panel.origin
    with np.errstate(divide="ignore", invalid="ignore"):
        _kernel_features(close, high, low, origin, spec, panel, out)
        for key, bars in spec.returns.items():
            panel.put(out[f"ret_{key}"], close / lag(close, bars) - 1.0)
        log_ret = np.log(close / lag(close, 1))
        for key, bars in spec.volatility.items():
            panel.put(
                out[f"vol_{key}"], np.sqrt(windows.window_mean_var(log_ret, bars, origin, 1)[1])
            )
        # Signed volume over the window as a share of all volume in it (-1 all selling, +1 all
        # buying): OBV's change over the window, free of where OBV started.
        signed = np.sign(close - lag(close, 1)) * volume
        for key, bars in spec.obv_slope.items():
            panel.put(
                out[f"obv_slope_{key}"],
                _safe_div(
                    windows.window_sum(signed, bars, origin),
                    windows.window_sum(volume, bars, origin),
                ),
            )
        dollar_volume = close * volume
        key, bars = spec.volume_z
        panel.put(out[f"volume_z_{key}"], _zscore(volume, bars, origin))
        panel.put(out[f"dollar_volume_z_{key}"], _zscore(dollar_volume, bars, origin))
        key, bars = spec.dollar_volume
        mean_dv = windows.window_sum(dollar_volume, bars, origin) / bars
        panel.put(out[f"log_dollar_volume_{key}"], np.where(mean_dv > 0, np.log(mean_dv), np.nan))
        panel.put(out["hl_range"], (high - low) / close)
        key, bars = spec.drawdown
        panel.put(out[f"drawdown_{key}"], close / windows.window_max(high, bars, origin) - 1.0)
        mean, var = windows.window_mean_var(close, BB_PERIOD, origin, 0)
        band = 2 * BB_NBDEV * np.sqrt(var)  # upper - lower, TA-Lib's population stddev
        panel.put(out[f"bb_width_{BB_PERIOD}"], band / mean)
        lower = mean - BB_NBDEV * np.sqrt(var)
        panel.put(out[f"bb_pctb_{BB_PERIOD}"], np.where(band > 0, (close - lower) / band, np.nan))
        _profile_features(close, volume, log_ret, origin, spec, panel, out)


def _profile_features(
    close: np.ndarray,
    volume: np.ndarray,
    log_ret: np.ndarray,
    origin: int,
    spec: TimeframeSpec,
    panel: _Panel,
    out: dict[str, np.ndarray],
) -> None:
    """The return profile (see ``TimeframeSpec``), each from its trailing window only."""
    for key, bars in spec.profile_returns.items():
        panel.put(out[f"ret_{key}"], close / lag(close, bars) - 1.0)
    for key, bars in spec.profile_volatility.items():
        panel.put(out[f"vol_{key}"], np.sqrt(windows.window_mean_var(log_ret, bars, origin, 1)[1]))
    if spec.profile_log_dollar_volume_z:
        key, bars = spec.profile_log_dollar_volume_z
        log_dv = np.log1p(close * volume)
        panel.put(out[f"log_dollar_volume_z_{key}"], _zscore(log_dv, bars, origin))
    if spec.profile_close_drawdown:
        key, bars = spec.profile_close_drawdown
        high_close = windows.window_max(close, bars, origin)
        panel.put(out[f"close_drawdown_{key}"], close / high_close - 1.0)


def _kernel_features(
    close: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    origin: int,
    spec: TimeframeSpec,
    panel: _Panel,
    out: dict[str, np.ndarray],
) -> None:
    """EMA distances, MACD, RSI and ATR (Wilder) as truncated exponential kernels."""
    for p in spec.ema_periods:
        panel.put(out[f"dist_ema_{p}"], close / kernel_ema(close, 2 / (p + 1), origin, p) - 1.0)
    fast = kernel_ema(close, 2 / (MACD_FAST + 1), origin, MACD_FAST)
    slow = kernel_ema(close, 2 / (MACD_SLOW + 1), origin, MACD_SLOW)
    line = fast - slow
    signal = kernel_ema(line, 2 / (MACD_SIGNAL + 1), origin, MACD_SIGNAL)
    line = np.where(np.isnan(signal), np.nan, line)  # as TA-Lib: all three from the same bar
    panel.put(out["macd_norm"], line / close)
    panel.put(out["macd_signal_norm"], signal / close)
    panel.put(out["macd_hist_norm"], (line - signal) / close)
    previous = lag(close, 1)
    change = close - previous
    gain = kernel_ema(
        np.where(change > 0, change, 0.0 * change), 1 / RSI_PERIOD, origin, RSI_PERIOD
    )
    loss = kernel_ema(
        np.where(change < 0, -change, 0.0 * change), 1 / RSI_PERIOD, origin, RSI_PERIOD
    )
    total = gain + loss
    panel.put(out[f"rsi_{RSI_PERIOD}"], np.where(total > 0, 100 * gain / total, 0.0 * total))
    true_range = np.fmax(high - low, np.fmax(np.abs(high - previous), np.abs(low - previous)))
    true_range = np.where(np.isnan(previous), np.nan, true_range)
    atr = kernel_ema(true_range, 1 / ATR_PERIOD, origin, ATR_PERIOD)
    panel.put(out[f"atr_{ATR_PERIOD}_norm"], atr / close)


def _zscore(panel: np.ndarray, bars: int, origin: int) -> np.ndarray:
    mean, var = windows.window_mean_var(panel, bars, origin, 1)
    return _safe_div(panel - mean, np.sqrt(var))


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)
