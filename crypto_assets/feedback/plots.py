"""Small PNG plots of model health for people: the reliability curve and the rolling rank IC.

Drawn on a bare matplotlib ``Figure`` (no pyplot state, no display needed), returned as bytes so
the Dagster layer can embed them in metadata and MLflow can keep them as artifacts.
"""

from __future__ import annotations

import base64
import io

import pandas as pd
from matplotlib.figure import Figure


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return buffer.getvalue()


def reliability_png(curve: list[dict], title: str) -> bytes:
    """Predicted probability against the share that came true, per bin (marker size ~ count)."""
    fig = Figure(figsize=(4, 4))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    if curve:
        x = [b["mean_probability"] for b in curve]
        y = [b["hit_rate"] for b in curve]
        total = sum(b["n"] for b in curve) or 1
        sizes = [20 + 300 * b["n"] / total for b in curve]
        ax.plot(x, y, color="tab:blue", linewidth=1)
        ax.scatter(x, y, s=sizes, color="tab:blue", label="live outcomes")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted P(net return > 0)", ylabel="share up")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def rank_ic_png(history: pd.DataFrame, band_lower: float | None, title: str) -> bytes:
    """Rolling rank IC by day (``day``, ``rank_ic``), with the walk-forward band's lower edge."""
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    ax.axhline(0, color="grey", linewidth=0.8)
    if len(history):
        ax.plot(pd.to_datetime(history["day"]), history["rank_ic"], marker=".", label="live")
    if band_lower is not None:
        ax.axhline(band_lower, color="tab:red", linestyle="--", label="band (walk-forward)")
    ax.set(ylabel="rolling rank IC")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    return _png(fig)


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that shows ``png`` inline (Dagster's UI renders data-URI images in md metadata)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
