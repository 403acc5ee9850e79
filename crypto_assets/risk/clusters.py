"""Correlation clusters of coins (rule CLUSTERS in ``risk.rules``): hierarchical clustering of
trailing daily-return correlations, so the allocation can cap how much rides on one theme."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from crypto_assets.risk.rules import RiskRules

CLUSTER_COLUMNS = ["symbol", "cluster", "cluster_size", "cluster_peers", "return_days_corr"]


def daily_log_returns(candles: pd.DataFrame, days: int, day_end: pd.Timestamp) -> pd.DataFrame:
    """Wide (date x symbol) daily log returns of closes in the ``days`` days before
    ``day_end`` (candles opened before it, so nothing after the day is used)."""
    window = candles[
        (candles["date"] < day_end) & (candles["date"] >= day_end - pd.Timedelta(days=days + 1))
    ]
    closes = window.pivot_table(index="date", columns="symbol", values="close", aggfunc="last")
    closes = closes.asfreq("D") if len(closes) else closes  # missing days stay missing
    return np.log(closes).diff().iloc[1:]


def correlation_clusters(
    candles: pd.DataFrame, symbols: list[str], day_end: pd.Timestamp, rules: RiskRules
) -> pd.DataFrame:
    """CLUSTER_COLUMNS for ``symbols``: clusters numbered c1, c2, ... by size (largest first)."""
    symbols = sorted(dict.fromkeys(symbols))
    returns = daily_log_returns(
        candles[candles["symbol"].isin(symbols)], rules.correlation_days, day_end
    ).reindex(columns=symbols)
    counts = returns.notna().sum()
    enough = [s for s in symbols if counts.get(s, 0) >= rules.min_overlap_days]
    labels: dict[str, int] = {}
    if len(enough) >= 2:
        rho = returns[enough].corr(min_periods=rules.min_overlap_days).to_numpy()
        rho = np.where(np.isfinite(rho), rho, -1.0)  # too little overlap: never merge on it
        np.fill_diagonal(rho, 1.0)
        distance = np.sqrt(np.clip((1 - rho) / 2, 0, 1))
        tree = linkage(squareform(distance, checks=False), method="average")
        cut = np.sqrt((1 - rules.cluster_correlation) / 2)
        labels = dict(zip(enough, fcluster(tree, t=cut, criterion="distance"), strict=True))
    next_label = max(labels.values(), default=0) + 1
    for symbol in symbols:
        if symbol not in labels:
            labels[symbol] = next_label  # too little history: a cluster of its own
            next_label += 1
    members: dict[int, list[str]] = {}
    for symbol, label in labels.items():
        members.setdefault(label, []).append(symbol)
    order = sorted(members, key=lambda k: (-len(members[k]), sorted(members[k])[0]))
    names = {label: f"c{i}" for i, label in enumerate(order, start=1)}
    rows = [
        {
            "symbol": symbol,
            "cluster": names[labels[symbol]],
            "cluster_size": len(members[labels[symbol]]),
            "cluster_peers": ", ".join(sorted(m for m in members[labels[symbol]] if m != symbol)),
            "return_days_corr": int(counts.get(symbol, 0)),
        }
        for symbol in symbols
    ]
    frame = pd.DataFrame(rows, columns=CLUSTER_COLUMNS)
    frame["cluster_size"] = frame["cluster_size"].astype("int64")
    frame["return_days_corr"] = frame["return_days_corr"].astype("int64")
    return frame
