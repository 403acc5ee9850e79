"""As-of join of the on-chain features onto a feature frame, and the coverage report.

A feature row (``symbol``, ``date`` = candle open, ``timeframe``) is known at its candle's
close; it receives only on-chain facts public by then:
- network features of day D are public at D + 1 day (``known_at``), coin-specific for BTC/ETH
  rows and, for every row, as BTC "regime" columns;
- whale transfers are public at their block time: USD to / from exchanges and their count in
  the 24 hours before the row is known;
- exchange flows of day D (public at D + 1 day): the net flow of the last completed day;
- holder concentration as of its snapshot (``as_of``), at most ``HOLDER_MAX_AGE`` old.
A coin without a source keeps nulls: no value is invented, and the coverage report says which
coins have what.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crypto_assets.frames import UTC_DTYPE
from crypto_assets.onchain.network import FEATURE_COLUMNS as NETWORK_COLUMNS

NETWORK_MAX_AGE = pd.Timedelta(days=3)  # a metric older than this is stale, not current
HOLDER_MAX_AGE = pd.Timedelta(days=7)
WHALE_WINDOW = pd.Timedelta(hours=24)
REGIME_COIN = "BTC"
REGIME_COLUMNS = [f"regime_btc_{c.removeprefix('net_')}" for c in NETWORK_COLUMNS]
WHALE_COLUMNS = ["whale_to_exchange_usd_24h", "whale_from_exchange_usd_24h", "whale_count_24h"]
FLOW_COLUMNS = ["exchange_netflow_usd_1d"]
HOLDER_COLUMNS = ["holder_top10_share", "holder_gini", "holder_hhi", "holder_top10_share_change"]
ONCHAIN_COLUMNS = [
    *NETWORK_COLUMNS,
    *REGIME_COLUMNS,
    *WHALE_COLUMNS,
    *FLOW_COLUMNS,
    *HOLDER_COLUMNS,
]
COIN_COLUMNS = [c for c in ONCHAIN_COLUMNS if c not in REGIME_COLUMNS]  # about the row's coin
# How far back a feature row may reach for an on-chain fact: a holder snapshot up to
# HOLDER_MAX_AGE old, plus the day its partition spans (network: 3 days + 1, whales: 1 day).
ONCHAIN_LOOKBACK = HOLDER_MAX_AGE + pd.Timedelta(days=1)


def known_at(features: pd.DataFrame, timeframes: dict[str, pd.Timedelta]) -> pd.Series:
    """When each feature row is known: its candle's close (open + timeframe)."""
    step = features["timeframe"].map(timeframes) if "timeframe" in features else pd.Timedelta(0)
    return _ns(features["date"]) + step


def _ns(values: pd.Series) -> pd.Series:
    """UTC times in nanoseconds: DuckDB hands back microseconds, and merge_asof / int64 windows
    need one resolution on both sides."""
    return pd.to_datetime(values, utc=True).astype(UTC_DTYPE)


def asof_join_onchain(
    features: pd.DataFrame,
    timeframes: dict[str, pd.Timedelta],
    network: pd.DataFrame | None = None,
    whales: pd.DataFrame | None = None,
    flows: pd.DataFrame | None = None,
    holders: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``features`` plus ONCHAIN_COLUMNS, each from data public at the row's candle close."""
    out = features.copy()
    for column in ONCHAIN_COLUMNS:
        out[column] = np.nan
    if out.empty:
        return out
    out["_known_at"] = known_at(out, timeframes)
    out["_coin"] = out["symbol"].astype(str).str.split("/").str[0].str.upper()
    out["_row"] = np.arange(len(out))
    if network is not None and len(network):
        _join_network(out, network)
    if whales is not None and len(whales):
        _join_whales(out, whales)
    if flows is not None and len(flows):
        flow = flows.assign(known_at=_ns(flows["flow_day"]) + _DAY)
        flow = flow.rename(columns={"netflow_usd": "exchange_netflow_usd_1d"})
        _asof(out, flow, FLOW_COLUMNS, by_coin=True, tolerance=_DAY)
    if holders is not None and len(holders):
        held = holders.dropna(subset=["coin"]).assign(known_at=lambda f: f["as_of"])
        held = held.rename(columns={f"{c.removeprefix('holder_')}": c for c in HOLDER_COLUMNS})
        _asof(out, held, HOLDER_COLUMNS, by_coin=True, tolerance=HOLDER_MAX_AGE)
    return out.drop(columns=["_known_at", "_coin", "_row"])


_DAY = pd.Timedelta(days=1)


def _join_network(out: pd.DataFrame, network: pd.DataFrame) -> None:
    _asof(out, network, NETWORK_COLUMNS, by_coin=True, tolerance=NETWORK_MAX_AGE)
    regime = network[network["coin"] == REGIME_COIN].rename(
        columns=dict(zip(NETWORK_COLUMNS, REGIME_COLUMNS, strict=True))
    )
    if len(regime):
        _asof(out, regime, REGIME_COLUMNS, by_coin=False, tolerance=NETWORK_MAX_AGE)


def _asof(
    out: pd.DataFrame,
    source: pd.DataFrame,
    columns: list[str],
    by_coin: bool,
    tolerance: pd.Timedelta,
) -> None:
    """Fill ``columns`` of ``out`` in place with the newest ``source`` row whose ``known_at`` is
    at or before the row's ``_known_at`` (and not older than ``tolerance``)."""
    right = source.assign(known_at=_ns(source["known_at"]))
    right = right.dropna(subset=["known_at"])
    keys = ["coin"] if by_coin else []
    right = right[[*keys, "known_at", *columns]]
    if by_coin:
        right = right.assign(coin=right["coin"].astype(str).str.upper())
    right = right.drop_duplicates([*keys, "known_at"], keep="last").sort_values("known_at")
    left = out[["_row", "_known_at", "_coin"]].sort_values("_known_at")
    merged = pd.merge_asof(
        left,
        right,
        left_on="_known_at",
        right_on="known_at",
        left_by="_coin" if by_coin else None,
        right_by="coin" if by_coin else None,
        direction="backward",
        tolerance=tolerance,
        allow_exact_matches=True,
    ).set_index("_row")
    for column in columns:
        out[column] = merged[column].reindex(out["_row"]).to_numpy()


def _join_whales(out: pd.DataFrame, whales: pd.DataFrame) -> None:
    """USD to/from exchanges and count of whale transfers in the 24 h before each row is known."""
    times = _ns(whales["time"]).astype("int64")
    usd = whales["amount_usd"].astype(float).fillna(0.0)
    columns = {
        "whale_to_exchange_usd_24h": usd.where(whales["direction"] == "to_exchange", 0.0),
        "whale_from_exchange_usd_24h": usd.where(whales["direction"] == "from_exchange", 0.0),
        "whale_count_24h": pd.Series(1.0, index=whales.index),
    }
    coins = whales["coin"].astype(str).str.upper()
    for coin, rows in out.groupby("_coin").groups.items():
        mine = (coins == coin).to_numpy()
        if not mine.any():
            continue
        order = np.argsort(times[mine].to_numpy(), kind="stable")
        stamps = times[mine].to_numpy()[order]
        known = out.loc[rows, "_known_at"].astype("int64").to_numpy()
        hi = np.searchsorted(stamps, known, side="right")
        lo = np.searchsorted(stamps, known - WHALE_WINDOW.value, side="right")
        for name, values in columns.items():
            cumulative = np.concatenate([[0.0], np.cumsum(values[mine].to_numpy()[order])])
            out.loc[rows, name] = cumulative[hi] - cumulative[lo]


def onchain_coverage(
    coins: Sequence[str],
    contracts: pd.DataFrame | None = None,
    network: pd.DataFrame | None = None,
    whales: pd.DataFrame | None = None,
    flows: pd.DataFrame | None = None,
    holders: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per universe coin: what on-chain data it has (contracts, network metrics, whale transfers,
    exchange-flow days, holder snapshots) and ``has_onchain`` if any of it exists."""
    frame = pd.DataFrame({"coin": sorted({str(c).upper() for c in coins})})

    def count(data: pd.DataFrame | None, column: str = "coin") -> pd.Series:
        if data is None or data.empty:
            return pd.Series(0, index=frame.index, dtype="int64")
        counts = data.dropna(subset=[column])[column].astype(str).str.upper().value_counts()
        return frame["coin"].map(counts).fillna(0).astype("int64")

    mapped = None if contracts is None else contracts.dropna(subset=["chain"])
    frame["chains"] = (
        frame["coin"].map(mapped.groupby("coin")["chain"].agg(lambda c: ",".join(sorted(set(c)))))
        if mapped is not None and len(mapped)
        else None
    )
    frame["contracts"] = count(None if mapped is None else mapped.dropna(subset=["contract"]))
    frame["network_days"] = count(network)
    frame["whale_transfers"] = count(whales)
    frame["exchange_flow_days"] = count(flows)
    frame["holder_snapshots"] = count(holders)
    measured = ["network_days", "whale_transfers", "exchange_flow_days", "holder_snapshots"]
    frame["has_onchain"] = frame[measured].sum(axis=1) > 0
    return frame


def coverage_summary(coverage: pd.DataFrame) -> str:
    """One line for logs and metadata: how many universe coins have any on-chain data."""
    total = len(coverage)
    have = int(coverage["has_onchain"].sum()) if total else 0
    with_data = ", ".join(coverage.loc[coverage["has_onchain"], "coin"].head(20))
    return (
        f"{have} of {total} universe coins have on-chain data"
        + (f" ({with_data})" if have else "")
        + f"; {total - have} have none"
    )


def onchain_feature_coverage(features: pd.DataFrame) -> dict[str, object]:
    """Which coins of a joined feature frame got coin-level on-chain features and which did
    not, and how many rows got any (coin-level or the BTC network regime): what the feature
    table's metadata and the demo say about coverage."""
    if features.empty or not set(COIN_COLUMNS) <= set(features.columns):
        return {"onchain_coins": "0 coins", "onchain_coins_without": "-", "rows_with_onchain": 0}
    coin_level = features[COIN_COLUMNS].notna().any(axis=1)
    regime = features[REGIME_COLUMNS].notna().any(axis=1)
    symbols = features["symbol"].astype(str)
    covered = sorted(symbols[coin_level].unique())
    without = sorted(set(symbols) - set(covered))
    return {
        "onchain_coins": f"{len(covered)} of {symbols.nunique()} coins"
        + (f": {', '.join(covered[:30])}" if covered else ""),
        "onchain_coins_without": ", ".join(without[:60]) + (" ..." if len(without) > 60 else "")
        or "-",
        "rows_with_onchain": int(coin_level.sum()),
        "rows_with_onchain_regime": int(regime.sum()),
    }
