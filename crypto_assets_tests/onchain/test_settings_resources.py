"""The on-chain settings block and the resources built from it: secrets travel as EnvVar
references, never as values in resource config."""

import dagster as dg
import pytest

from crypto_assets.resources.etherscan import EtherscanResource
from crypto_assets.resources.onchain import ONCHAIN_RESOURCE_KEYS, build_onchain_resources
from crypto_assets.resources.whale_alert import WhaleAlertReplay
from crypto_assets.settings import Settings


def test_onchain_source_follows_the_market_source_unless_set() -> None:
    assert Settings(source="snapshot").resolved_onchain_source == "replay"
    assert Settings(source="live").resolved_onchain_source == "live"
    assert Settings(source="snapshot", onchain_source="live").resolved_onchain_source == "live"


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_ETHERSCAN_CHAIN_IDS", "1,137")
    monkeypatch.setenv("CRYPTO_ASSETS_WHALE_MIN_USD", "2500000")
    monkeypatch.setenv("CRYPTO_ASSETS_ETHERSCAN_API_KEY", "secret-value")
    settings = Settings()
    assert settings.etherscan_chain_ids == [1, 137]
    assert settings.whale_min_usd == 2_500_000
    assert "secret-value" not in repr(settings)


def test_live_resources_carry_secrets_as_env_var_references(monkeypatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_ETHERSCAN_API_KEY", "secret-value")
    resources = build_onchain_resources(Settings(onchain_source="live", whale_min_usd=2e6))
    assert set(resources) == set(ONCHAIN_RESOURCE_KEYS)
    etherscan = resources["etherscan"]
    assert isinstance(etherscan, EtherscanResource)
    assert isinstance(etherscan.api_key, dg.EnvVar)
    assert "secret-value" not in repr(resources)
    assert resources["whale_alert"].api_key is None  # not set: the asset reports no_key
    assert resources["onchain_config"].whale_min_usd == 2e6


def test_replay_resources(tmp_path) -> None:
    resources = build_onchain_resources(
        Settings(onchain_source="replay", onchain_data_dir=tmp_path)
    )
    assert isinstance(resources["whale_alert"], WhaleAlertReplay)
    assert resources["whale_alert"].data_dir == str(tmp_path)


def test_bad_onchain_settings_are_one_line_each(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from crypto_assets.settings import SettingsError, load_settings

    monkeypatch.setenv("CRYPTO_ASSETS_ETHERSCAN_CHAIN_IDS", "1,mainnet")
    monkeypatch.setenv("CRYPTO_ASSETS_WHALE_MIN_USD", "10")
    monkeypatch.setenv("CRYPTO_ASSETS_ONCHAIN_LABEL_FILE", str(tmp_path / "missing.csv"))
    monkeypatch.setenv("CRYPTO_ASSETS_BITCOIN_EXPLORER_URL", "mempool.space")
    monkeypatch.setenv("CRYPTO_ASSETS_WHALE_ALERT_API_KEY", " ")
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    lines = str(error.value).splitlines()
    assert len(lines) == 5
    named = {line.split("=")[0] for line in lines}
    assert named == {
        "CRYPTO_ASSETS_ETHERSCAN_CHAIN_IDS",
        "CRYPTO_ASSETS_WHALE_MIN_USD",
        "CRYPTO_ASSETS_ONCHAIN_LABEL_FILE",
        "CRYPTO_ASSETS_BITCOIN_EXPLORER_URL",
        "CRYPTO_ASSETS_WHALE_ALERT_API_KEY",
    }
    assert "CRYPTO_ASSETS_WHALE_ALERT_API_KEY=***" in str(error.value)  # secrets never shown
