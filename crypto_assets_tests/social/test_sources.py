"""Telegram (Telethon's own Message objects behind a client stand-in at the network boundary),
token-unlock files, replays of the recordings, and honest status rows without keys."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from telethon.tl.types import Message, PeerChannel

from crypto_assets.resources.text_sources import (
    DiscordSource,
    ReplayTextSource,
    TelegramSource,
    TokenUnlocksSource,
    XSource,
    replay_text_resources,
)
from crypto_assets.social.source import fetch_or_status
from crypto_assets.sources import STATUS_COLUMNS
from crypto_assets_tests.social.conftest import CRYPTOPANIC, EVENTS


class TelegramClientStandIn:
    """Replaces only what crosses the network (TelegramClient's MTProto connection): it yields
    REAL Telethon ``Message`` objects, newest first, as ``iter_messages`` does."""

    def __init__(self, messages: list[Message], authorized: bool = True) -> None:
        self.messages = sorted(messages, key=lambda m: m.date, reverse=True)
        self.authorized = authorized
        self.calls: list[dict] = []

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def is_user_authorized(self) -> bool:
        return self.authorized

    async def iter_messages(self, channel, offset_date=None, limit=None):
        self.calls.append({"channel": channel, "offset_date": offset_date, "limit": limit})
        for message in self.messages:
            if offset_date is None or message.date < offset_date:
                yield message


@pytest.fixture(scope="module")
def real_messages(telegram_export) -> list[Message]:
    """Telethon Messages carrying the REAL texts and times of the recorded pump-group export."""
    day = telegram_export[telegram_export["time"].dt.strftime("%Y-%m-%d") == "2021-02-01"]
    rows = day.iloc[::500]
    return [
        Message(
            id=int(str(r.id).split(":")[1]),
            peer_id=PeerChannel(channel_id=1234),
            date=r.time.to_pydatetime(),
            message=r.text,
            views=100 + i,
        )
        for i, r in enumerate(rows.itertuples())
    ]


def _telegram(client: TelegramClientStandIn, **kw) -> TelegramSource:
    source = TelegramSource(api_id=1, api_hash="h", session="s", channels=["xrp_pump"], **kw)
    source._client_factory = lambda: client
    return source


def test_telegram_reads_channel_messages_in_the_window(real_messages):
    client = TelegramClientStandIn(real_messages)
    start, end = (
        pd.Timestamp("2021-02-01 04:00", tz="UTC"),
        pd.Timestamp("2021-02-01 14:00", tz="UTC"),
    )
    result = _telegram(client).fetch(start, end)
    expected = [m for m in real_messages if start <= pd.Timestamp(m.date) < end]
    assert len(result.frame) == len(expected) > 5
    assert result.frame["time"].between(start, end, inclusive="left").all()
    assert (
        result.frame["id"].str.startswith("tg").all() and result.frame["engagement"].notna().all()
    )
    assert client.calls[0]["offset_date"] == end.to_pydatetime()


def test_telegram_without_session_or_authorisation_says_no_key(real_messages):
    day = (pd.Timestamp("2021-02-01"), pd.Timestamp("2021-02-02"))
    missing = fetch_or_status(TelegramSource(channels=["x"]), *day)
    assert missing.status.status == "no_key" and missing.frame.empty
    unauthorised = fetch_or_status(_telegram(TelegramClientStandIn(real_messages, False)), *day)
    assert unauthorised.status.status == "no_key"


def test_no_key_sources_give_one_status_row_each_and_no_rows():
    day = (pd.Timestamp("2024-08-29"), pd.Timestamp("2024-08-30"))
    for source in (DiscordSource(), XSource(), TelegramSource(), TokenUnlocksSource()):
        result = fetch_or_status(source, *day)
        assert list(result.status.frame().columns) == STATUS_COLUMNS
        assert result.status.status == "no_key" and result.frame.empty
        assert result.status.rows == 0


def test_unlock_calendar_file_and_vesting_table(tmp_path: Path):
    calendar = tmp_path / "unlocks.csv"
    calendar.write_text(
        "coin,date,title\nsui,2024-09-01,SUI unlock 64M\narb,2024-09-16,ARB unlock\n"
    )
    frame = (
        TokenUnlocksSource(path=str(calendar))
        .fetch(pd.Timestamp("2024-09-01"), pd.Timestamp("2024-09-02"))
        .frame
    )
    assert frame["coin"].tolist() == ["SUI"] and frame["kind"].tolist() == ["unlock"]
    vesting = TokenUnlocksSource(path=str(EVENTS / "gogopool_ggp_vesting_schedule.csv"), coin="GGP")
    july = vesting.fetch(pd.Timestamp("2024-07-26"), pd.Timestamp("2024-07-27")).frame
    assert len(july) >= 2 and set(july["coin"]) == {"GGP"}
    no_coin = fetch_or_status(
        TokenUnlocksSource(path=str(EVENTS / "gogopool_ggp_vesting_schedule.csv")),
        pd.Timestamp("2024-07-26"),
        pd.Timestamp("2024-07-27"),
    )
    assert no_coin.status.status == "error" and "coin" in no_coin.status.reason
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,when\nX,2024-01-01\n")
    assert (
        fetch_or_status(
            TokenUnlocksSource(path=str(bad)),
            pd.Timestamp("2024-01-01"),
            pd.Timestamp("2024-01-02"),
        ).status.status
        == "error"
    )


def test_replay_serves_the_window_with_the_recording_date(tmp_path: Path):
    source = ReplayTextSource(name="cryptopanic", recordings={str(CRYPTOPANIC): "cryptopanic_csv"})
    result = source.fetch(
        pd.Timestamp("2024-08-29", tz="UTC"), pd.Timestamp("2024-08-30", tz="UTC")
    )
    assert result.status.status == "replay" and len(result.frame) == 8
    assert result.as_of <= pd.Timestamp("2024-08-30", tz="UTC")
    assert result.status.rows == 8
    missing = ReplayTextSource(name="x", recordings={str(tmp_path / "gone.csv"): "tweets_csv"})
    assert (
        fetch_or_status(
            missing, pd.Timestamp("2021-02-01"), pd.Timestamp("2021-02-02")
        ).status.status
        == "unavailable"
    )
    replays = replay_text_resources(EVENTS.parent)
    discord = fetch_or_status(
        replays["discord_source"], pd.Timestamp("2021-02-01"), pd.Timestamp("2021-02-02")
    )
    assert discord.status.status == "unavailable"
    assert "no recording" in discord.status.reason


def test_settings_feed_secrets_as_env_vars_never_values(monkeypatch: pytest.MonkeyPatch):
    import dagster as dg

    from crypto_assets.resources.text_sources import text_resources
    from crypto_assets.settings import Settings

    monkeypatch.setenv("CRYPTO_ASSETS_X_BEARER_TOKEN", "tok-secret")
    monkeypatch.setenv("CRYPTO_ASSETS_REDDIT_SUBREDDITS", "CryptoCurrency, Bitcoin")
    settings = Settings(_env_file=None)
    assert settings.reddit_subreddits == ["CryptoCurrency", "Bitcoin"]
    assert "tok-secret" not in repr(settings)
    resources = text_resources(settings)
    token = resources["x_source"].bearer_token
    assert isinstance(token, dg.EnvVar) and token.env_var_name == "CRYPTO_ASSETS_X_BEARER_TOKEN"
    assert resources["cryptopanic_source"].api_key is None  # not set: no EnvVar, status no_key
    assert resources["reddit_source"].subreddits == ["CryptoCurrency", "Bitcoin"]
    replay = text_resources(Settings(_env_file=None, text_sources="replay"))
    assert isinstance(replay["x_source"], ReplayTextSource)
    demo = text_resources(Settings(_env_file=None, profile="demo"))  # the demo is offline
    assert all(isinstance(r, ReplayTextSource) for r in demo.values())


def test_secret_from_dotenv_resolves_at_run_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A key only in .env (not in the process environment) still reaches the client through
    dg.EnvVar: the resource config holds the variable's name, never the value."""
    import dagster as dg

    from crypto_assets.resources.text_sources import text_resources
    from crypto_assets.settings import Settings

    name = "CRYPTO_ASSETS_CRYPTOPANIC_API_KEY"
    monkeypatch.setenv(name, "placeholder")  # recorded, so the test leaves no variable behind
    monkeypatch.delenv(name)
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"{name}=key-from-dotenv\n")
    resources = text_resources(Settings(_env_file=dotenv))
    key = resources["cryptopanic_source"].api_key
    assert isinstance(key, dg.EnvVar) and key.env_var_name == name
    assert key.get_value() == "key-from-dotenv"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CRYPTO_ASSETS_DISCORD_CHANNEL_IDS", "general", "numeric Discord channel ids"),
        ("CRYPTO_ASSETS_RSS_FEEDS", "ftp://example.org/feed", "http(s) feed URLs"),
        ("CRYPTO_ASSETS_REDDIT_SUBREDDITS", "r/Crypto Currency", "subreddit names"),
        ("CRYPTO_ASSETS_X_BEARER_TOKEN", "  ", "non-empty bearer token"),
        ("CRYPTO_ASSETS_TELEGRAM_API_ID", "0", "api_id"),
    ],
)
def test_bad_text_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
):
    from crypto_assets.settings import SettingsError, load_settings

    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    assert variable in str(error.value) and expected in str(error.value)
    if "TOKEN" in variable:
        assert f"{variable}=***" in str(error.value)  # a secret is never echoed
