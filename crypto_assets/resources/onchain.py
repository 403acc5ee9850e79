"""The on-chain resources for one environment, from settings: live API clients, or replays of
the recorded real files. ``definitions.py`` merges this dict into its resources; secrets reach
the clients as ``dg.EnvVar`` (resolved by Dagster at run time, never stored in config)."""

from __future__ import annotations

import dagster as dg

from crypto_assets.resources.address_labels import AddressLabelsResource
from crypto_assets.resources.coingecko import CoinGeckoReplay, CoinGeckoResource
from crypto_assets.resources.esplora import EsploraReplay, EsploraResource
from crypto_assets.resources.etherscan import EtherscanReplay, EtherscanResource
from crypto_assets.resources.network_metrics import BlockchainChartsResource, RecordedNetworkMetrics
from crypto_assets.resources.whale_alert import WhaleAlertReplay, WhaleAlertResource
from crypto_assets.settings import Settings

ONCHAIN_RESOURCE_KEYS = (
    "onchain_config",
    "address_labels",
    "whale_alert",
    "etherscan",
    "bitcoin_explorer",
    "coin_list",
    "network_metrics",
)


class OnchainConfig(dg.ConfigurableResource):
    """The on-chain knobs the assets need, passed as data (assets never read settings)."""

    whale_min_usd: float = 1_000_000.0  # a transfer at or above this is a whale move
    query_min_usd: float = 500_000.0  # floor sent to the sources (Whale Alert free minimum)
    holder_max_tokens: int = 20  # holder lists fetched per day


def _secret(settings: Settings, field: str) -> dg.EnvVar | None:
    """The secret as an EnvVar reference when it is set, so its value never lands in config."""
    return dg.EnvVar(f"CRYPTO_ASSETS_{field.upper()}") if getattr(settings, field) else None


def build_onchain_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    data_dir = str(settings.onchain_data_dir)
    config = OnchainConfig(
        whale_min_usd=settings.whale_min_usd,
        query_min_usd=float(min(settings.whale_alert_min_value, settings.whale_min_usd)),
        holder_max_tokens=settings.holder_max_tokens,
    )
    labels = AddressLabelsResource(
        data_dir=data_dir,
        user_label_file=str(settings.onchain_label_file) if settings.onchain_label_file else None,
    )
    if settings.resolved_onchain_source == "replay":
        return {
            "onchain_config": config,
            "address_labels": labels,
            "whale_alert": WhaleAlertReplay(data_dir=data_dir),
            "etherscan": EtherscanReplay(data_dir=data_dir),
            "bitcoin_explorer": EsploraReplay(),
            "coin_list": CoinGeckoReplay(
                coin_list_file=str(settings.coingecko_coin_list_file)
                if settings.coingecko_coin_list_file
                else None
            ),
            "network_metrics": RecordedNetworkMetrics(data_dir=data_dir),
        }
    return {
        "onchain_config": config,
        "address_labels": labels,
        "whale_alert": WhaleAlertResource(api_key=_secret(settings, "whale_alert_api_key")),
        "etherscan": EtherscanResource(
            api_key=_secret(settings, "etherscan_api_key"),
            chain_ids=settings.etherscan_chain_ids,
            calls_per_second=settings.etherscan_calls_per_second,
            max_wallets=settings.etherscan_max_wallets,
        ),
        "bitcoin_explorer": EsploraResource(base_url=settings.bitcoin_explorer_url),
        "coin_list": CoinGeckoResource(api_key=_secret(settings, "coingecko_api_key")),
        "network_metrics": BlockchainChartsResource(),
    }
