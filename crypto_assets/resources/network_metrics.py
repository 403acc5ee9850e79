"""Daily network metrics: live BTC from blockchain.com's charts API (no key), and the replay of
the recorded Kaggle BTC / ETH daily datasets (2010-02-23..2018-02-20 / 2015-07-30..2018-02-20).

Live ETH metrics come from Etherscan (``EtherscanResource.fetch_network_metrics``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pandas as pd

from crypto_assets.frames import utc
from crypto_assets.onchain.network import (
    BLOCKCHAIN_CHARTS,
    BTC_FILE,
    ETH_FILE,
    METRIC_SCHEMA,
    load_recorded_metrics,
    metrics_frame,
    parse_blockchain_chart,
    window,
)
from crypto_assets.onchain.source import OnchainResult, OnchainUnavailable, empty, now_utc, result
from crypto_assets.resources.onchain_http import HttpSourceResource, readable_answer

CHARTS_URL = "https://api.blockchain.info"


class BlockchainChartsResource(HttpSourceResource):
    """Live BTC daily metrics from blockchain.com's charts API."""

    base_url: str = CHARTS_URL
    timeout_s: float = 30.0

    client_name: ClassVar[str] = "blockchain.com"

    def describe(self) -> str:
        return f"blockchain.com charts ({self.base_url})"

    def network_coins(self) -> list[str]:
        return ["BTC"]

    def fetch_network_metrics(
        self, coins: Sequence[str], start: pd.Timestamp, end: pd.Timestamp
    ) -> OnchainResult:
        as_of, before = now_utc(), self.http.requests
        if "BTC" not in {c.upper() for c in coins}:
            return result(empty(METRIC_SCHEMA), self.describe(), "ok", as_of)
        days = max(1, int((utc(end) - utc(start)) / pd.Timedelta(days=1)))
        series = []
        for chart, metric in BLOCKCHAIN_CHARTS.items():
            payload = self.http.get(
                f"charts/{chart}",
                {
                    "timespan": f"{days}days",
                    "start": str(utc(start).date()),
                    "format": "json",
                    "sampled": "false",
                },
            )
            with readable_answer(f"blockchain.com {chart}"):
                series.append(parse_blockchain_chart(payload, metric))
        frame = window(metrics_frame(series, "BTC", self.describe(), as_of), utc(start), utc(end))
        return result(frame, self.describe(), "ok", as_of, requests=self.http.requests - before)


class RecordedNetworkMetrics(dg.ConfigurableResource):
    """Replay of the recorded Kaggle daily network metrics (BTC and ETH)."""

    data_dir: str

    def describe(self) -> str:
        return f"recorded daily network metrics ({self.data_dir}: {BTC_FILE}, {ETH_FILE})"

    def network_coins(self) -> list[str]:
        return ["BTC", "ETH"]

    def fetch_network_metrics(
        self, coins: Sequence[str], start: pd.Timestamp, end: pd.Timestamp
    ) -> OnchainResult:
        if not (Path(self.data_dir) / BTC_FILE).exists():
            raise OnchainUnavailable(f"recorded network metrics not found in {self.data_dir}")
        recorded = load_recorded_metrics(self.data_dir, self.describe())
        wanted = recorded[recorded["coin"].isin([c.upper() for c in coins])]
        frame = window(wanted, utc(start), utc(end))
        as_of = wanted["as_of"].max() if len(wanted) else pd.Timestamp("2018-02-21", tz="UTC")
        reason = ""
        if frame.empty:
            spans = wanted.groupby("coin")["metric_day"].agg(["min", "max"])
            reason = "the recording covers " + "; ".join(
                f"{coin} {row['min']:%Y-%m-%d}..{row['max']:%Y-%m-%d}"
                for coin, row in spans.iterrows()
            )
        return result(frame, self.describe(), "replay", as_of, reason=reason)
