"""Every setting is range-checked: a bad value is one line naming the variable, the value and
what is allowed (what the CLI prints), never a traceback and never a silently wrong run."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from crypto_assets.settings import (
    _RULES,
    SENTIMENT_CLASSES,
    Settings,
    SettingsError,
    load_settings,
)

BAD = [  # (variable without prefix, value, a fragment of what is allowed)
    ("CONFIDENCE_THRESHOLD", "-1", "strictly between 0 and 1"),
    ("CONFIDENCE_THRESHOLD", "1.5", "strictly between 0 and 1"),
    ("CONFIDENCE_THRESHOLD", "0", "strictly between 0 and 1"),
    ("CONFIDENCE_THRESHOLD", "nan", "strictly between 0 and 1"),
    ("CONFIDENCE_THRESHOLD", "high", "strictly between 0 and 1"),
    ("ROUND_TRIP_COST", "-0.001", "from 0 up to (not incl.) 0.2"),
    ("ROUND_TRIP_COST", "0.2", "from 0 up to (not incl.) 0.2"),
    ("ROUND_TRIP_COST", "inf", "from 0 up to (not incl.) 0.2"),
    ("PROFILE", "prod", "live or demo"),
    ("SOURCE", "coingecko-scrape", "live (a ccxt exchange) or snapshot"),
    ("EXCHANGE_ID", "krakken", "a ccxt exchange id"),
    ("EXCHANGE_ID", "", "a ccxt exchange id"),
    ("QUOTE_CURRENCIES", ",", "upper-case currency codes"),
    ("QUOTE_CURRENCIES", '["usd"]', "upper-case currency codes"),
    ("QUOTE_CURRENCIES", "US$", "upper-case currency codes"),
    ("HISTORY_START", "2024-13-01", "a date YYYY-MM-DD"),
    ("HISTORY_START", "yesterday", "a date YYYY-MM-DD"),
    ("HISTORY_START", "2999-01-01", "up to today"),
    ("HISTORY_START", "2001-01-01", "from 2009-01-03"),
    ("MAX_CONCURRENCY", "0", "from 1 to 64"),
    ("MAX_CONCURRENCY", "1000", "from 1 to 64"),
    ("MAX_CONCURRENCY", "2.5", "from 1 to 64"),
    ("REQUEST_TIMEOUT_MS", "-5", "100..600000"),
    ("MAX_RETRIES", "-1", "from 0 to 20"),
    ("MODEL_N_ESTIMATORS", "0", "1..100000"),
    ("SENTIMENT_BATCH_SIZE", "0", "from 1 to 4096"),
    ("SENTIMENT_DEVICE", "gpu", "auto, cpu, cuda or cuda:N"),
    ("SENTIMENT_HF_MODEL", "  ", "Hugging Face model"),
    ("SENTIMENT_LABEL_MAP", '{"LABEL_0": "happy"}', "bearish, bullish or neutral"),
    ("SENTIMENT_LABEL_MAP", "{not json", "bearish, bullish or neutral"),
    ("DATA_DIR", "", "a non-empty folder path"),
    ("DUCKDB_PATH", " ", "a non-empty file path"),
    ("MLFLOW_ARTIFACT_ROOT", "", "a non-empty folder path"),
    ("MLFLOW_TRACKING_URI", "mlflow.db", "a tracking URI"),
    ("SNAPSHOT_DIR", "", "a non-empty folder path"),
    ("CRYPTOPANIC_API_KEY", " ", "a non-empty key"),
]


@pytest.mark.parametrize(("name", "value", "allowed"), BAD)
def test_a_bad_value_is_one_line_naming_variable_value_and_range(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, allowed: str
) -> None:
    monkeypatch.setenv(f"CRYPTO_ASSETS_{name}", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"CRYPTO_ASSETS_{name}=")
    assert allowed in message and "expected" in message
    if "KEY" in name or "TOKEN" in name:
        assert message.startswith(f"CRYPTO_ASSETS_{name}=***:")
    elif value.strip():
        assert f"={value}:" in message


def test_secrets_never_appear_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(cryptopanic_api_key="  \t", confidence_threshold=2)
    lines = str(raised.value).splitlines()
    assert lines == [
        "CRYPTO_ASSETS_CONFIDENCE_THRESHOLD=2: not allowed; expected a probability strictly "
        "between 0 and 1, e.g. 0.8",
        "CRYPTO_ASSETS_CRYPTOPANIC_API_KEY=***: not allowed; expected unset or a non-empty key",
    ]


def test_snapshot_source_needs_an_existing_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_SOURCE", "snapshot")
    monkeypatch.setenv("CRYPTO_ASSETS_SNAPSHOT_DIR", str(tmp_path / "missing"))
    with pytest.raises(
        SettingsError, match=r"^CRYPTO_ASSETS_SNAPSHOT_DIR=.*missing: no such folder"
    ):
        load_settings()


def test_a_misspelt_variable_is_named_not_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_CONFIDENCE_TRESHOLD", "0.9")
    monkeypatch.setenv("CRYPTO_ASSETS_SOMETHING_ELSE_ENTIRELY", "x")  # not near a setting: left
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == (
        "CRYPTO_ASSETS_CONFIDENCE_TRESHOLD is not a setting; did you mean "
        "CRYPTO_ASSETS_CONFIDENCE_THRESHOLD?"
    )


def test_the_code_location_fails_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """`dagster dev` loads the definitions through the same checked settings."""
    from crypto_assets.definitions import defs

    monkeypatch.setenv("CRYPTO_ASSETS_CONFIDENCE_THRESHOLD", "-1")
    with pytest.raises(SettingsError, match=r"^CRYPTO_ASSETS_CONFIDENCE_THRESHOLD=-1: "):
        defs()


def test_good_values_pass_and_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_ASSETS_QUOTE_CURRENCIES", "usd, eur")
    settings = load_settings(
        confidence_threshold=0.55,
        round_trip_cost=0,
        exchange_id="binance",
        sentiment_device="cuda:1",
        sentiment_label_map={"LABEL_0": "bearish"},
        history_start="2013-10-01",
    )
    assert settings.quote_currencies == ["USD", "EUR"]
    assert settings.confidence_threshold == 0.55 and settings.exchange_id == "binance"


def test_every_setting_has_a_rule_and_the_classes_match_the_scorer() -> None:
    from crypto_assets.sentiment.model import LABELS

    assert set(_RULES) == set(Settings.model_fields)
    assert SENTIMENT_CLASSES == LABELS


@pytest.mark.parametrize("optional", [False, True])
def test_a_list_setting_that_is_not_json_is_one_line_too(
    monkeypatch: pytest.MonkeyPatch, optional: bool
) -> None:
    """pydantic-settings parses list/dict variables as JSON before validation (and raises its
    own error when the field cannot be None); a list setting added later without a rule (a
    watch list) is still reported in one line naming the variable."""
    from crypto_assets import settings as settings_module

    class WithWatchList(Settings):
        watch_list: list[str] = Field(default_factory=list)

    class WithOptionalWatchList(Settings):
        watch_list: list[str] | None = None

    patched = WithOptionalWatchList if optional else WithWatchList
    monkeypatch.setattr(settings_module, "Settings", patched)
    monkeypatch.setenv("CRYPTO_ASSETS_WATCH_LIST", "BTC,ETH")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith("CRYPTO_ASSETS_WATCH_LIST")
    assert optional or "could not be parsed as JSON" in str(raised.value)
    assert "\n" not in str(raised.value)
