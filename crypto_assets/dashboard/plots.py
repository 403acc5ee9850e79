"""Server-rendered SVG charts (no JavaScript, no CDN: the machine may be offline).

One small line-chart renderer serves every plot: price history with the model's past calls,
calibration curves, rolling IC, coverage over time and order-book depth. Every text in a chart
is XML-escaped; the caller passes data, never markup.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 40
PALETTE = ["#1f6feb", "#d9480f", "#2b8a3e", "#862e9c", "#868e96"]
MARKERS = {"up": "#2b8a3e", "down": "#c92a2a", "pending": "#868e96"}


@dataclass
class Line:
    name: str
    x: Sequence[float]
    y: Sequence[float]
    dashed: bool = False
    step: bool = False


@dataclass
class Points:
    name: str
    x: Sequence[float]
    y: Sequence[float]
    colors: Sequence[str]
    labels: Sequence[str] = field(default_factory=list)


def _ticks(low: float, high: float, n: int = 5) -> list[float]:
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / n
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _bounds(values: list[np.ndarray], pad: float = 0.05) -> tuple[float, float]:
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    if high == low:
        return low - 1.0, high + 1.0
    span = high - low
    return low - pad * span, high + pad * span


def chart(
    title: str,
    lines: Sequence[Line] = (),
    points: Sequence[Points] = (),
    x_label: Callable[[float], str] = lambda v: f"{v:g}",
    y_label: Callable[[float], str] = lambda v: f"{v:g}",
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
) -> str:
    """An SVG line chart (with optional coloured points) as a string, or a one-line note when
    there is nothing to draw."""
    xs = [np.asarray(s.x, dtype=float) for s in [*lines, *points]]
    ys = [np.asarray(s.y, dtype=float) for s in [*lines, *points]]
    if not xs or all(len(x) == 0 for x in xs):
        return f'<p class="note">{escape(title)}: nothing to plot yet.</p>'
    x0, x1 = x_range or _bounds(xs, pad=0.0)
    y0, y1 = y_range or _bounds(ys)
    if x1 <= x0:
        x0, x1 = x0 - 1.0, x1 + 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(v: float) -> float:
        return LEFT + (v - x0) / (x1 - x0) * plot_w

    def py(v: float) -> float:
        return TOP + (1 - (v - y0) / (y1 - y0)) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title, {chr(34): "&quot;"})}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{LEFT}" y="16" class="chart-title">{escape(title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="frame"/>',
    ]
    for tick in _ticks(y0, y1):
        y = py(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(_text(LEFT - 6, y + 4, y_label(tick), "end"))
    for tick in _ticks(x0, x1, 4):
        x = px(tick)
        parts.append(_text(x, TOP + plot_h + 16, x_label(tick), "middle"))
    for i, line in enumerate(lines):
        parts.append(_path(line, PALETTE[i % len(PALETTE)], px, py))
    for series in points:
        for x, y, color, label in zip(
            series.x,
            series.y,
            series.colors,
            list(series.labels) or [""] * len(series.x),
            strict=False,
        ):
            if math.isfinite(x) and math.isfinite(y):
                parts.append(
                    f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{color}" class="point">'
                    f"<title>{escape(label)}</title></circle>"
                )
    parts.append(_legend(lines, points))
    parts.append("</svg>")
    return "".join(parts)


def _text(x: float, y: float, text: str, anchor: str) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="tick" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _path(line: Line, color: str, px, py) -> str:
    coords = [
        (px(x), py(y))
        for x, y in zip(np.asarray(line.x, float), np.asarray(line.y, float), strict=False)
        if math.isfinite(x) and math.isfinite(y)
    ]
    if not coords:
        return ""
    steps = []
    for i, (x, y) in enumerate(coords):
        if i and line.step:
            steps.append(f"L{x:.1f},{coords[i - 1][1]:.1f}")
        steps.append(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}")
    dash = ' stroke-dasharray="4 3"' if line.dashed else ""
    return f'<path d="{" ".join(steps)}" stroke="{color}" fill="none" stroke-width="1.6"{dash}/>'


def _legend(lines: Sequence[Line], points: Sequence[Points]) -> str:
    entries = [(line.name, PALETTE[i % len(PALETTE)]) for i, line in enumerate(lines)]
    for series in points:
        entries += [(f"{series.name}: {k}", c) for k, c in MARKERS.items() if c in series.colors]
    out, x = [], LEFT
    for name, color in entries:
        out.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14}" y="{HEIGHT - 5}" class="tick">{escape(name)}</text>')
        x += 22 + 7 * len(name)
    return "".join(out)


def epoch_days(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC times as fractional days since 1970 (the x axis of time charts)."""
    index = pd.DatetimeIndex(pd.to_datetime(times, utc=True)).as_unit("ns")
    return index.asi8 / 86_400e9


def date_label(value: float) -> str:
    return f"{pd.Timestamp(value * 86_400e9, tz='UTC'):%Y-%m-%d}"


def percent(value: float) -> str:
    return f"{value:.0%}"


def time_chart(title: str, series: dict[str, pd.Series], y_label=lambda v: f"{v:g}") -> str:
    """One line per named series indexed by UTC time."""
    lines = [
        Line(name, epoch_days(values.index), values.to_numpy(dtype=float))
        for name, values in series.items()
        if len(values)
    ]
    return chart(title, lines, x_label=date_label, y_label=y_label)


def calibration_chart(curves: dict[str, pd.DataFrame]) -> str:
    """Share that went up against the predicted probability, per horizon, with the diagonal of
    perfect calibration."""
    lines = [Line("perfect calibration", [0, 1], [0, 1], dashed=True)]
    lines += [
        Line(horizon, curve["mean_probability"], curve["hit_rate"])
        for horizon, curve in curves.items()
        if len(curve)
    ]
    if len(lines) == 1:
        return '<p class="note">Calibration curve: no prediction has a known outcome yet.</p>'
    return chart(
        "Calibration: share that went up vs predicted probability",
        lines,
        x_label=percent,
        y_label=percent,
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
    )


def price_chart(symbol: str, prices: pd.DataFrame, calls: pd.DataFrame) -> str:
    """Daily closes, with the model's 30d and 7d calls as points coloured by their outcome."""
    if prices.empty:
        return f'<p class="note">{escape(symbol)}: no stored daily candles.</p>'
    line = Line(f"{symbol} daily close", epoch_days(prices["date"]), prices["close"])
    points = []
    shown = calls[calls["horizon"].isin(["7d", "30d"])] if len(calls) else calls
    if len(shown):  # known outcomes drawn last, on top of pending calls of the same day
        shown = shown.sort_values("outcome", key=lambda o: o.eq("pending"), ascending=False)
    if len(shown):
        closes = prices.set_index(prices["date"].dt.normalize())["close"]
        at = closes.reindex(shown["day"].dt.normalize()).to_numpy()
        labels = [
            f"{r.day:%Y-%m-%d} {r.horizon}: expected {r.expected_return:+.1%}, "
            f"confidence {r.probability:.0%}, outcome {r.outcome}"
            for r in shown.itertuples()
        ]
        colors = [MARKERS.get(o, MARKERS["pending"]) for o in shown["outcome"]]
        points.append(Points("call", epoch_days(shown["day"]), at, colors, labels))
    return chart(
        f"{symbol}: price and the model's 7d / 30d calls",
        [line],
        points,
        x_label=date_label,
        y_label=lambda v: f"{v:,.4g}",
    )


def depth_chart(symbol: str, curve: pd.DataFrame) -> str:
    """Cumulative quote value resting on each side of the book, by price."""
    if curve.empty:
        return f'<p class="note">{escape(symbol)}: no order book stored.</p>'
    lines = [
        Line(f"{side}s (cumulative value)", rows["price"], rows["cumulative_quote"], step=True)
        for side, rows in curve.groupby("side")
        for rows in [rows.sort_values("price")]
    ]
    return chart(
        f"{symbol}: order-book depth",
        lines,
        x_label=lambda v: f"{v:,.4g}",
        y_label=lambda v: f"{v:,.3g}",
    )
