"""One settings object for the whole project (paths, source choice, thresholds).

Values come from the environment (prefix ``CRYPTO_ASSETS_``) or a ``.env`` file in the working
directory, so nothing secret or machine-specific lives in code. Paths default to folders inside
the project root so that a fresh clone works with no set-up.

A ``Settings`` is built once by an entry point (the CLI, ``crypto_assets.definitions``) through
``load_settings(**overrides)``, which range-checks every value and says what is wrong in one line
per bad value, and is passed down as data: into resources
(``crypto_assets.resources.settings.PipelineSettings`` for assets) and as arguments to plain
functions. Nothing else reads the environment. Each domain adds its knobs in one clearly marked
block below; secrets are ``SecretStr``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic_settings
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
DEFAULT_SNAPSHOT_DIR = SHARED_DATA_DIR / "market" / "binance_2024"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CRYPTO_ASSETS_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    # --- where things live -------------------------------------------------------------
    # "demo" keeps the recorded-snapshot run apart from live data: its own DuckDB file and
    # model folders, and its own registered signal models, so a model trained on a snapshot
    # never becomes the live model in use. MLflow and the Dagster instance are shared, so one
    # UI shows both (the sentiment scorer does not depend on the market data and is shared).
    profile: Literal["live", "demo"] = "live"
    data_dir: Path | None = None  # default: ./data (live) or ./data/demo
    duckdb_path: Path | None = None  # default: <data_dir>/crypto_assets.duckdb
    mlflow_tracking_uri: str = f"sqlite:///{PROJECT_ROOT / 'mlruns' / 'mlflow.db'}"
    mlflow_artifact_root: Path = PROJECT_ROOT / "mlruns" / "artifacts"
    # Dagster's own variable (no prefix): the instance the CLI runs in and `make dev` shows.
    dagster_home: Path = Field(
        PROJECT_ROOT / ".dagster_home",
        validation_alias=AliasChoices("DAGSTER_HOME", "dagster_home"),
    )

    # --- market ------------------------------------------------------------------------
    source: Literal["live", "snapshot"] = "live"
    snapshot_dir: Path = DEFAULT_SNAPSHOT_DIR
    exchange_id: str = "kraken"
    quote_currencies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["USD", "USDT", "USDC"]
    )
    history_start: str = "2024-01-01"  # first daily partition
    max_concurrency: int = 4
    request_timeout_ms: int = 20_000
    max_retries: int = 4

    # --- signals (features, labels, models, predictions) --------------------------------
    # The one source of both values: labels, training, the backtest and the top list read them
    # from here (through the `settings` resource or an argument), never from a default.
    round_trip_cost: float = 0.004  # 2 x Kraken Pro entry-tier taker fee (0.40 %)
    confidence_threshold: float = 0.80
    # The calibration bound a model must meet to be used (its out-of-sample ECE); skill is
    # required as well (rank IC above 0 and above momentum). See crypto_assets/ml/tracking.py.
    model_max_ece: float = 0.10
    model_n_estimators: int | None = None  # fewer trees for quick runs/tests; None: 300

    # --- sentiment scorer (env CRYPTO_ASSETS_SENTIMENT_*) ---------------------------------
    sentiment_hf_model: str | None = None  # a local HF classifier instead of the MLflow champion
    sentiment_label_map: dict[str, str] | None = None  # for LABEL_0-style class names
    sentiment_device: str = "auto"
    sentiment_batch_size: int = 64

    # --- social, news and events (crypto_assets.social / news; env CRYPTO_ASSETS_*) ---------
    # "live": the API clients below (a source without its key reports status no_key);
    # "replay": the recorded real files under text_replay_dir (../shared/data), read in place.
    # The demo profile always replays (see crypto_assets.definitions.build_resources).
    text_sources: Literal["live", "replay"] = "live"
    text_replay_dir: Path = SHARED_DATA_DIR
    reddit_subreddits: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["CryptoCurrency"]
    )
    reddit_user_agent: str = "crypto_assets/0.1 (text signals)"
    rss_feeds: Annotated[list[str], NoDecode] | None = None  # None: CoinDesk, Cointelegraph, ...
    telegram_api_id: int | None = None
    telegram_channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    discord_channel_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    x_query: str = "(bitcoin OR crypto OR $BTC OR $ETH) lang:en -is:retweet"
    token_unlocks_file: Path | None = None  # calendar CSV (coin,date,title) or a vesting table
    token_unlocks_coin: str | None = None  # the coin of a vesting table
    # secrets (never logged; SecretStr hides them in reprs and settings errors)
    reddit_client_id: SecretStr | None = None
    reddit_client_secret: SecretStr | None = None
    cryptopanic_api_key: SecretStr | None = None
    telegram_api_hash: SecretStr | None = None
    telegram_session: SecretStr | None = None  # a Telethon StringSession (one-time login)
    discord_bot_token: SecretStr | None = None
    x_bearer_token: SecretStr | None = None

    @field_validator(
        "reddit_subreddits", "rss_feeds", "telegram_channels", "discord_channel_ids", mode="before"
    )
    @classmethod
    def _split_text_csv(cls, value: object) -> object:
        """Comma-separated lists from the environment, case kept (URLs, channel names)."""
        if isinstance(value, str) and not value.strip().startswith("["):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    # --- end of social, news and events ------------------------------------------------

    @model_validator(mode="after")
    def _profile_paths(self) -> Settings:
        if self.data_dir is None:
            suffix = Path() if self.profile == "live" else Path(self.profile)
            self.data_dir = PROJECT_ROOT / "data" / suffix
        return self

    @field_validator("quote_currencies", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [item.strip().upper() for item in value.split(",") if item.strip()]
        return value

    # --- validation (issue 9): every setting range-checked, see _RULES below -------------
    @field_validator(
        "data_dir", "duckdb_path", "mlflow_artifact_root", "snapshot_dir", mode="before"
    )
    @classmethod
    def _path_not_blank(cls, value: object, info: Any) -> object:
        if isinstance(value, str) and not value.strip():  # Path("") would silently mean "."
            raise ValueError(_RULES.get(info.field_name, (None, "a non-empty path"))[1])
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _in_range(cls, value: object, info: Any) -> object:
        check, allowed = _RULES.get(info.field_name, (lambda v: True, ""))
        if not check(value):
            raise ValueError(allowed)
        return value

    @model_validator(mode="after")
    def _snapshot_exists(self) -> Settings:
        if self.source == "snapshot" and not Path(self.snapshot_dir).is_dir():
            raise ValueError(
                f"CRYPTO_ASSETS_SNAPSHOT_DIR={self.snapshot_dir}: no such folder, and "
                "CRYPTO_ASSETS_SOURCE=snapshot needs one (ohlcv_1h.parquet and/or ohlcv_1d.parquet)"
            )
        return self

    # --- end of validation -------------------------------------------------------------

    @property
    def resolved_duckdb_path(self) -> Path:
        return self.duckdb_path or self.data_dir / "crypto_assets.duckdb"

    @property
    def models_dir(self) -> Path:
        """Local folders of trained models (signal and sentiment) of this profile."""
        return self.data_dir / "models"


# --- settings errors (issue 9): a bad value is one line naming the variable -------------------
ENV_PREFIX = "CRYPTO_ASSETS_"
SECRET_FIELDS: set[str] = set()  # filled below: every SecretStr field
SENTIMENT_CLASSES = ("bearish", "bullish", "neutral")  # = sentiment.model.LABELS (tested)
_CODE = re.compile(r"^[A-Z0-9]{2,10}$")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}$")
_HTTP_URL = re.compile(r"^https?://\S+$")


def _whole(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: v is None or (isinstance(v, int) and low <= v <= high)


def _blank_free(v: Any) -> bool:
    if isinstance(v, SecretStr):
        v = v.get_secret_value()
    return v is None or bool(str(v).strip())


def _exchange(v: str) -> bool:
    import ccxt  # only here: a settings object must not cost the ccxt import otherwise

    return v in ccxt.exchanges


def _date(v: str) -> bool:
    try:
        day = dt.date.fromisoformat(v)
    except (TypeError, ValueError):
        return False
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) is not None and (
        dt.date(2009, 1, 3) <= day <= dt.datetime.now(dt.UTC).date()
    )


def _label_map(v: dict[str, str] | None) -> bool:
    return v is None or (
        bool(v) and all(k.strip() for k in v) and set(v.values()) <= set(SENTIMENT_CLASSES)
    )


# field -> (check on the parsed value, what is allowed); every field has one (tested)
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "profile": (lambda v: True, "live or demo"),
    "data_dir": (lambda v: True, "a non-empty folder path"),
    "duckdb_path": (
        lambda v: v is None or not Path(v).is_dir(),
        "a non-empty file path (not a folder)",
    ),
    "mlflow_tracking_uri": (
        lambda v: bool(_URI.match(v)),
        "a tracking URI such as sqlite:///path/mlflow.db or http://host:5000",
    ),
    "mlflow_artifact_root": (lambda v: True, "a non-empty folder path"),
    "dagster_home": (lambda v: True, "a non-empty folder path (DAGSTER_HOME)"),
    "source": (lambda v: True, "live (a ccxt exchange) or snapshot (a recorded snapshot)"),
    "snapshot_dir": (lambda v: True, "a non-empty folder path"),
    "exchange_id": (_exchange, "a ccxt exchange id such as kraken (see ccxt.exchanges)"),
    "quote_currencies": (
        lambda v: bool(v) and all(_CODE.match(c) for c in v),
        "a comma-separated list of upper-case currency codes, e.g. USD,USDT,USDC",
    ),
    "history_start": (_date, "a date YYYY-MM-DD from 2009-01-03 up to today"),
    "max_concurrency": (_whole(1, 64), "a whole number from 1 to 64"),
    "request_timeout_ms": (_whole(100, 600_000), "milliseconds, a whole number 100..600000"),
    "max_retries": (_whole(0, 20), "a whole number from 0 to 20"),
    "round_trip_cost": (
        lambda v: math.isfinite(v) and 0 <= v < 0.2,
        "a fraction from 0 up to (not incl.) 0.2, e.g. 0.004 for 0.4 %",
    ),
    "confidence_threshold": (
        lambda v: math.isfinite(v) and 0 < v < 1,
        "a probability strictly between 0 and 1, e.g. 0.8",
    ),
    "model_max_ece": (
        lambda v: math.isfinite(v) and 0 < v <= 1,
        "an expected calibration error in (0, 1], e.g. 0.10",
    ),
    "model_n_estimators": (_whole(1, 100_000), "unset (300 trees) or a whole number 1..100000"),
    "sentiment_hf_model": (_blank_free, "unset or a local Hugging Face model id or folder"),
    "sentiment_label_map": (
        _label_map,
        "unset or JSON mapping the model's class names to bearish, bullish or neutral",
    ),
    "sentiment_device": (lambda v: bool(_DEVICE.match(v)), "auto, cpu, cuda or cuda:N"),
    "sentiment_batch_size": (_whole(1, 4096), "a whole number from 1 to 4096"),
    # --- social, news and events ---
    "text_sources": (lambda v: True, "live (the API clients) or replay (the recorded files)"),
    "text_replay_dir": (lambda v: True, "a non-empty folder path"),
    "reddit_subreddits": (
        lambda v: all(_SUBREDDIT.match(n) for n in v),
        "a comma-separated list of subreddit names, e.g. CryptoCurrency,Bitcoin",
    ),
    "reddit_user_agent": (_blank_free, "a non-empty User-Agent (Reddit requires one)"),
    "rss_feeds": (
        lambda v: v is None or (bool(v) and all(_HTTP_URL.match(u) for u in v)),
        "unset (the built-in feeds) or a comma-separated list of http(s) feed URLs",
    ),
    "telegram_api_id": (_whole(1, 2**31 - 1), "unset or the numeric api_id of my.telegram.org"),
    "telegram_channels": (
        lambda v: all(c.strip() for c in v),
        "a comma-separated list of public channel names",
    ),
    "discord_channel_ids": (
        lambda v: all(c.isdigit() for c in v),
        "a comma-separated list of numeric Discord channel ids",
    ),
    "x_query": (_blank_free, "a non-empty X recent-search query"),
    "token_unlocks_file": (
        lambda v: v is None or bool(str(v).strip()),
        "unset or the path of an unlock calendar CSV",
    ),
    "token_unlocks_coin": (
        lambda v: v is None or bool(_CODE.match(v)),
        "unset or an upper-case coin code such as ARB (for a vesting table)",
    ),
    "reddit_client_id": (_blank_free, "unset or a non-empty Reddit app client id"),
    "reddit_client_secret": (_blank_free, "unset or a non-empty Reddit app secret"),
    "cryptopanic_api_key": (_blank_free, "unset or a non-empty key"),
    "telegram_api_hash": (_blank_free, "unset or a non-empty api_hash"),
    "telegram_session": (_blank_free, "unset or a non-empty Telethon StringSession"),
    "discord_bot_token": (_blank_free, "unset or a non-empty bot token"),
    "x_bearer_token": (_blank_free, "unset or a non-empty bearer token"),
}


class SettingsError(ValueError):
    """Bad settings: one line per bad value, naming the variable, the value, what is allowed."""


def _shown(field: str, value: Any) -> str:
    if field in SECRET_FIELDS:
        return "***"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _error_line(error: dict[str, Any]) -> str:
    loc = error.get("loc") or ()
    reason = str(error.get("msg", "")).removeprefix("Value error, ")
    if not loc:  # a check across settings words its own line
        return reason
    field = str(loc[0])
    allowed = _RULES.get(field, (None, ""))[1]
    name = f"{ENV_PREFIX}{field.upper()}={_shown(field, error.get('input'))}"
    if reason == allowed:
        return f"{name}: not allowed; expected {allowed}"
    return f"{name}: {reason}" + (f"; expected {allowed}" if allowed else "")


def _misspelt_variables() -> list[str]:
    """CRYPTO_ASSETS_* variables that are no setting but nearly one (a typo silently ignored
    would leave the default in force)."""
    fields = list(Settings.model_fields)
    lines = []
    for name in sorted(os.environ):
        if not name.startswith(ENV_PREFIX):
            continue
        field = name[len(ENV_PREFIX) :].lower().split("__")[0]
        if field in fields:
            continue
        close = difflib.get_close_matches(field, fields, n=1, cutoff=0.8)
        if close:
            lines.append(f"{name} is not a setting; did you mean {ENV_PREFIX}{close[0].upper()}?")
    return lines


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment / .env plus ``overrides``, or ``SettingsError`` whose
    message is one line per bad value (what the CLI prints instead of a traceback)."""
    lines = _misspelt_variables()
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        lines += [_error_line(e) for e in error.errors(include_url=False)]
    except pydantic_settings.SettingsError as error:  # a list/dict variable that is not JSON
        field = re.search(r'field "(\w+)"', str(error))
        name = f"{ENV_PREFIX}{field[1].upper()}" if field else "a CRYPTO_ASSETS_ variable"
        allowed = _RULES.get(field[1], (None, ""))[1] if field else ""
        lines.append(
            f"{name}: could not be parsed as JSON ({error})"
            + (f"; expected {allowed}" if allowed else "")
        )
    if lines:
        raise SettingsError("\n".join(dict.fromkeys(lines))) from None
    return settings


SECRET_FIELDS.update(
    name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
)
