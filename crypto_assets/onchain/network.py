"""Daily network metrics (BTC, ETH) and the features built from them.

Sources, one canonical schema:
- recorded: the Kaggle daily datasets (``bitcoin_dataset_onchain_daily.csv.gz`` 2010-02-23..
  2018-02-20 and ``ethereum_dataset_onchain_daily.csv.gz`` 2015-07-30..2018-02-20);
- live BTC: blockchain.com's charts API (the same metric names the Kaggle BTC file was built
  from: n-transactions, n-unique-addresses, transaction-fees, hash-rate, difficulty);
- live ETH: Etherscan's daily stats (an API Pro endpoint; a free key gets a refusal, reported).

A metric of day D is only complete, hence public, when D has ended: features carry
``known_at = D + 1 day`` and the as-of join uses nothing earlier.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crypto_assets.onchain.source import conform

METRIC_SCHEMA = {
    "coin": "text",
    "metric_day": "time",  # the UTC day the metric describes
    "tx_count": "float",
    "active_addresses": "float",  # distinct addresses active that day (BTC)
    "new_addresses": "float",  # addresses first seen that day (ETH)
    "fees_native": "float",  # total fees paid that day, in the native coin
    "hash_rate": "float",
    "difficulty": "float",
    "source": "text",
    "as_of": "time",
}
METRICS = [
    "tx_count",
    "active_addresses",
    "new_addresses",
    "fees_native",
    "hash_rate",
    "difficulty",
]
FEATURE_COLUMNS = [
    "net_tx_logchg_7d",
    "net_tx_logchg_30d",
    "net_addresses_logchg_7d",
    "net_fee_per_tx_logchg_7d",
    "net_hash_rate_logchg_30d",
]
FEATURE_SCHEMA = {
    "coin": "text",
    "metric_day": "time",
    "known_at": "time",  # metric_day + 1 day: when the day's figures are complete
    **dict.fromkeys(FEATURE_COLUMNS, "float"),
    "source": "text",
}
BTC_FILE = "bitcoin_dataset_onchain_daily.csv.gz"
ETH_FILE = "ethereum_dataset_onchain_daily.csv.gz"
BLOCKCHAIN_CHARTS = {  # blockchain.com chart name -> canonical metric
    "n-transactions": "tx_count",
    "n-unique-addresses": "active_addresses",
    "transaction-fees": "fees_native",
    "hash-rate": "hash_rate",
    "difficulty": "difficulty",
}
ETHERSCAN_DAILY = {  # Etherscan stats action -> (result field, canonical metric)
    "dailytx": ("transactionCount", "tx_count"),
    "dailynewaddress": ("newAddressCount", "new_addresses"),
    "dailytxnfee": ("transactionFee_Eth", "fees_native"),
    "dailyavghashrate": ("networkHashRate", "hash_rate"),
    "dailyavgnetdifficulty": ("networkDifficulty", "difficulty"),
}


def parse_btc_daily(path: Path, source: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """The recorded Kaggle BTC daily metrics (blockchain.info columns, fees in BTC)."""
    raw = pd.read_csv(path)
    frame = pd.DataFrame(
        {
            "coin": "BTC",
            "metric_day": pd.to_datetime(raw["Date"], utc=True).dt.floor("D"),
            "tx_count": raw["btc_n_transactions"],
            "active_addresses": raw["btc_n_unique_addresses"],
            "fees_native": raw["btc_transaction_fees"],
            "hash_rate": raw["btc_hash_rate"],
            "difficulty": raw["btc_difficulty"],
            "source": source,
            "as_of": as_of,
        }
    )
    return conform(frame, METRIC_SCHEMA)


def parse_eth_daily(path: Path, source: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """The recorded Kaggle ETH daily metrics. ``eth_address`` is the running total of addresses,
    so a day's new addresses are its difference; fees = gas used x average gas price (wei)."""
    raw = pd.read_csv(path)
    day = pd.to_datetime(pd.to_numeric(raw["UnixTimeStamp"]), unit="s", utc=True).dt.floor("D")
    raw = raw.assign(_day=day).sort_values("_day")
    total = pd.to_numeric(raw["eth_address"], errors="coerce")
    fees = (
        pd.to_numeric(raw["eth_gasused"], errors="coerce").astype(float)
        * pd.to_numeric(raw["eth_gasprice"], errors="coerce").astype(float)
        / 1e18
    )
    frame = pd.DataFrame(
        {
            "coin": "ETH",
            "metric_day": raw["_day"],
            "tx_count": raw["eth_tx"],
            "new_addresses": total.diff(),
            "fees_native": fees,
            "hash_rate": raw["eth_hashrate"],
            "difficulty": raw["eth_difficulty"],
            "source": source,
            "as_of": as_of,
        }
    )
    return conform(frame, METRIC_SCHEMA)


RECORDING_AS_OF = pd.Timestamp("2018-02-21", tz="UTC")  # the day after the files' last day


@functools.lru_cache(maxsize=4)
def load_recorded_metrics(data_dir: str | Path, source: str) -> pd.DataFrame:
    """Both recorded files (BTC and ETH), parsed once per process and read in place (never
    copied); each coin's ``as_of`` is the day after its last recorded day."""
    directory = Path(data_dir)
    btc = parse_btc_daily(directory / BTC_FILE, source, RECORDING_AS_OF)
    eth = parse_eth_daily(directory / ETH_FILE, source, RECORDING_AS_OF)
    frame = pd.concat([btc, eth], ignore_index=True)
    last_days = frame.groupby("coin")["metric_day"].transform("max")
    frame["as_of"] = last_days + pd.Timedelta(days=1)  # complete once its last day ended
    return frame


def parse_blockchain_chart(payload: Mapping[str, Any], metric: str) -> pd.Series:
    """One blockchain.com chart (``{"status": "ok", "values": [{"x": unix, "y": value}]}``) as a
    series indexed by UTC day."""
    if payload.get("status") != "ok":
        raise ValueError(f"blockchain.com chart answered status {payload.get('status')!r}")
    values = payload.get("values") or []
    days = pd.to_datetime([int(v["x"]) for v in values], unit="s", utc=True).floor("D")
    series = pd.Series([float(v["y"]) for v in values], index=days, name=metric)
    return series[~series.index.duplicated(keep="last")]


def parse_etherscan_daily(rows: Sequence[Mapping[str, Any]], action: str) -> pd.Series:
    """One Etherscan daily stats result (``UTCDate``, ``unixTimeStamp``, the metric field)."""
    field, metric = ETHERSCAN_DAILY[action]
    if not rows:
        return pd.Series(dtype=float, name=metric)
    missing = [r for r in rows if field not in r]
    if missing:
        raise ValueError(f"Etherscan {action}: rows without {field!r}: {missing[0]}")
    days = pd.to_datetime([int(r["unixTimeStamp"]) for r in rows], unit="s", utc=True)
    return pd.Series([float(r[field]) for r in rows], index=days.floor("D"), name=metric)


def metrics_frame(
    series: Sequence[pd.Series], coin: str, source: str, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Metric series of one coin (each named by its canonical metric) -> METRIC_SCHEMA rows."""
    if not series:
        return conform(pd.DataFrame(), METRIC_SCHEMA)
    wide = pd.concat(list(series), axis=1).sort_index()
    frame = wide.rename_axis("metric_day").reset_index()
    return conform(frame.assign(coin=coin, source=source, as_of=as_of), METRIC_SCHEMA)


def window(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    mask = (frame["metric_day"] >= start) & (frame["metric_day"] < end)
    return frame.loc[mask].reset_index(drop=True)


def _log(values: pd.Series) -> pd.Series:
    positive = values.where(values > 0)
    return np.log(positive)


def network_features(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per coin and day: log changes of the 7-day (30-day) mean of tx count, addresses, fee per
    transaction and hash rate against the window before it. Each row uses only days up to its
    own ``metric_day`` and is known a day later. Zero or missing values give nulls, not 0."""
    out = []
    for coin, group in metrics.sort_values("metric_day").groupby("coin", sort=False):
        daily = group.set_index("metric_day")
        daily = daily[~daily.index.duplicated(keep="last")].asfreq("D")
        addresses = daily["active_addresses"].fillna(daily["new_addresses"])
        fee_per_tx = daily["fees_native"] / daily["tx_count"].where(daily["tx_count"] > 0)
        features = pd.DataFrame(index=daily.index)
        features["net_tx_logchg_7d"] = _log_mean_change(daily["tx_count"], 7)
        features["net_tx_logchg_30d"] = _log_mean_change(daily["tx_count"], 30)
        features["net_addresses_logchg_7d"] = _log_mean_change(addresses, 7)
        features["net_fee_per_tx_logchg_7d"] = _log_mean_change(fee_per_tx, 7)
        features["net_hash_rate_logchg_30d"] = _log_mean_change(daily["hash_rate"], 30)
        features = features.loc[daily["source"].notna()]  # no rows for days never recorded
        features["coin"] = coin
        features["source"] = daily["source"].dropna()
        out.append(features.rename_axis("metric_day").reset_index())
    if not out:
        return conform(pd.DataFrame(), FEATURE_SCHEMA)
    frame = pd.concat(out, ignore_index=True)
    frame["known_at"] = frame["metric_day"] + pd.Timedelta(days=1)
    return conform(frame, FEATURE_SCHEMA)


def _log_mean_change(values: pd.Series, days: int) -> pd.Series:
    """log(mean of the last ``days`` days / mean of the ``days`` before), complete windows only."""
    mean = values.rolling(days, min_periods=days).mean()
    return _log(mean) - _log(mean.shift(days))
