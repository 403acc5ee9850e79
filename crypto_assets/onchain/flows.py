"""Exchange flows: per coin and UTC day, how much moved into and out of labelled exchange
wallets (in USD), from the classified whale transfers.

Only transfers at or above the whale threshold are counted, because those are what the sources
deliver (Whale Alert answers from $500k up): the figures are "whale-size exchange flows", not a
chain's total exchange flow. Moves between exchange wallets change no supply on exchanges and
are reported apart (``internal_usd``).
"""

from __future__ import annotations

import pandas as pd

from crypto_assets.onchain.source import conform

FLOW_SCHEMA = {
    "coin": "text",
    "flow_day": "time",  # the UTC day the transfers happened (public once the day ends)
    "inflow_usd": "float",  # to an exchange from outside: potential sell pressure
    "outflow_usd": "float",  # from an exchange to outside: accumulation
    "netflow_usd": "float",  # inflow - outflow (> 0: net deposits onto exchanges)
    "internal_usd": "float",  # between exchange wallets
    "transfers_in": "float",
    "transfers_out": "float",
    "exchanges": "text",  # exchange owners involved, comma-separated
    "sources": "text",
}


def exchange_flows(whales: pd.DataFrame) -> pd.DataFrame:
    """Per coin and day: inflow, outflow and net flow of labelled exchange wallets."""
    if whales is None or whales.empty:
        return conform(pd.DataFrame(), FLOW_SCHEMA)
    frame = whales.assign(flow_day=pd.to_datetime(whales["time"], utc=True).dt.floor("D"))
    direction = frame["direction"]
    usd = frame["amount_usd"].astype(float)
    frame = frame.assign(
        inflow_usd=usd.where(direction == "to_exchange", 0.0),
        outflow_usd=usd.where(direction == "from_exchange", 0.0),
        internal_usd=usd.where(direction.isin(["exchange_internal", "exchange_to_exchange"]), 0.0),
        transfers_in=(direction == "to_exchange").astype(float),
        transfers_out=(direction == "from_exchange").astype(float),
        exchange=frame["to_label"]
        .where(direction == "to_exchange", frame["from_label"])
        .where(direction != "wallet_to_wallet"),
    )
    grouped = frame.groupby(["coin", "flow_day"], as_index=False)
    flows = grouped[
        ["inflow_usd", "outflow_usd", "internal_usd", "transfers_in", "transfers_out"]
    ].sum()
    names = grouped.agg(
        exchanges=("exchange", _joined_exchanges), sources=("source", _joined_unique)
    )
    flows = flows.merge(names, on=["coin", "flow_day"])
    flows["netflow_usd"] = flows["inflow_usd"] - flows["outflow_usd"]
    exchange_rows = frame["direction"] != "wallet_to_wallet"
    involved = frame.loc[exchange_rows, ["coin", "flow_day"]].drop_duplicates()
    flows = flows.merge(involved, on=["coin", "flow_day"])  # days with exchange moves only
    return conform(flows.sort_values(["flow_day", "coin"]), FLOW_SCHEMA)


def _joined_unique(values: pd.Series) -> str:
    return ",".join(sorted({str(v) for v in values.dropna()}))


def _joined_exchanges(values: pd.Series) -> str:
    return _joined_unique(values.where(values.notna() & (values != "")))
