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
# feedback loop: default rolling window of known outcomes per horizon, in days
FEEDBACK_HEALTH_WINDOW_DAYS = {"1h": 14, "24h": 30, "7d": 60, "30d": 90}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CRYPTO_ASSETS_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    # --- where things live -------------------------------------------------------------
    # "demo" keeps the recorded-snapshot run apart from live data: its own DuckDB file and
    # model folders, and its own registered signal models, so a model trained on a snapshot
    # never becomes the live model in use. MLflow and the Dagster instance are shared, so one
    # UI shows both (the sentiment scorer does not depend on the market data and is shared).
    # Whatever paths are set, the profiles never share a file: the demo's data live in
    # <data_dir>/demo and an explicit duckdb_path gets ".demo" before its suffix (see
    # profile_dir / resolved_duckdb_path), and the database records its profile and refuses
    # the other one's writes (crypto_assets.storage.claim_profile).
    profile: Literal["live", "demo"] = "live"
    data_dir: Path | None = None  # default: ./data; the demo profile uses <data_dir>/demo
    duckdb_path: Path | None = None  # default: <profile_dir>/crypto_assets.duckdb
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
    # The model zoo (crypto_assets/ml/zoo.py): the families judged per horizon on the same
    # folds (their ensemble too, with two or more), the one in use picked by out-of-sample rank
    # IC behind the checks. Default: lightgbm alone in every profile, the configuration whose
    # figures benchmarks/README.md reports; the zoo (e.g. lightgbm,xgboost,rnn) is opt-in: its
    # selection did not beat LightGBM alone on an unseen coin cut ("Model zoo"). Past
    # model_zoo_max_rows labelled rows a horizon runs the first family alone.
    model_families: Annotated[list[str], NoDecode] | None = None
    model_zoo_max_rows: int = 150_000
    # Optuna's search per family and horizon, nested in every walk-forward fold, in seconds,
    # for every horizon. Unset: TrainConfig's budget per horizon (15 s each); 0 turns it off.
    model_tuning_seconds: float | None = None
    # A snapshot folder of OLDER daily candles from another source (e.g. written by
    # `crypto-assets snapshot bootstrap`): the 7d/30d models also train on its rows dated before
    # the first stored day, each row labelled with its source; never mixed into stored candles,
    # never used for predictions. Unset: the stored history alone.
    training_history_dir: Path | None = None

    # --- sentiment scorer (env CRYPTO_ASSETS_SENTIMENT_*) ---------------------------------
    sentiment_hf_model: str | None = None  # a local HF classifier instead of the MLflow champion
    sentiment_label_map: dict[str, str] | None = None  # for LABEL_0-style class names
    sentiment_device: str = "auto"
    sentiment_batch_size: int = 64

    # --- onchain (env CRYPTO_ASSETS_ONCHAIN_*, CRYPTO_ASSETS_ETHERSCAN_*, ...) -------------
    # Which on-chain sources run: "live" APIs or "replay" of the recorded real files in
    # onchain_data_dir; None follows `source` (a snapshot run replays, a live run goes live).
    onchain_source: Literal["live", "replay"] | None = None
    onchain_data_dir: Path = SHARED_DATA_DIR / "onchain"  # recorded real files, read in place
    onchain_label_file: Path | None = None  # the user's own address labels (CSV), added last
    coingecko_coin_list_file: Path | None = None  # a recorded /coins/list?include_platform=true
    whale_min_usd: float = 1_000_000.0  # a transfer at or above this USD value is a whale move
    whale_alert_min_value: int = 500_000  # Whale Alert's query floor (free plan minimum)
    etherscan_chain_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [1, 56, 137]  # Ethereum, BNB Smart Chain, Polygon PoS
    )
    etherscan_calls_per_second: float = 3.0  # free plan: 3 calls/s, 100k calls/day
    etherscan_max_wallets: int = 50  # labelled exchange wallets followed per chain and day
    holder_max_tokens: int = 20  # token holder lists fetched per day (API Pro endpoint)
    bitcoin_explorer_url: str = "https://mempool.space/api"  # or https://blockstream.info/api
    etherscan_api_key: SecretStr | None = None
    whale_alert_api_key: SecretStr | None = None
    coingecko_api_key: SecretStr | None = None  # optional demo key (x-cg-demo-api-key)
    # --- feedback loop (crypto_assets/feedback; env CRYPTO_ASSETS_FEEDBACK_*) ------------------
    # How much live evidence model health needs, the drift bounds and the retrain cooldown (see
    # crypto_assets/feedback/policy.py). Windows count days of outcomes (or features) known.
    feedback_health_window_days: dict[str, int] = Field(
        default_factory=lambda: dict(FEEDBACK_HEALTH_WINDOW_DAYS)
    )  # rolling window of known outcomes per horizon (a horizon left out keeps its default)
    feedback_min_outcomes: int = 200  # fewer known outcomes in the window: "insufficient"
    feedback_min_dates: int = 14  # ... or fewer prediction times (cross-sections)
    feedback_band_k: float = 1.0  # performance band: mean - k * std of the fold rank ICs
    feedback_ece_bound: float = 0.10  # calibration drift: live ECE above this
    feedback_psi_bound: float = 0.25  # a feature whose PSI exceeds this (and its baseline) moved
    feedback_psi_feature_share: float = 0.25  # feature drift: this share of features moved
    feedback_psi_live_days: int = 30  # live feature window (and the training baseline blocks)
    feedback_cooldown_days: int = 14  # measured days between drift retrains of one horizon
    feedback_outcome_lookback_days: int = 40  # predictions re-checked for (revised) labels
    # --- risk (env CRYPTO_ASSETS_RISK_*; the rules are stated in crypto_assets/risk/rules.py) --
    risk_ticket_usd: float = 2_500.0  # the order size slippage is judged for
    risk_portfolio_usd: float = 25_000.0  # what suggested allocations are of
    risk_max_slippage: float = 0.01  # H1: hold back above this
    risk_max_spread: float = 0.02  # H3
    risk_warn_spread: float = 0.005  # W2
    risk_min_dollar_volume: float = 100_000.0  # H4: median daily, USD
    risk_warn_dollar_volume: float = 1_000_000.0  # W1: microcap liquidity
    risk_thin_depth_multiple: float = 5.0  # W3: depth within 2 % vs the ticket
    risk_young_listing_days: int = 90  # W4
    risk_book_max_age_hours: float = 36.0  # a book older than this is not current
    risk_require_book: bool = False  # True: no current book is a hard rule
    risk_volume_days: int = 30
    risk_volatility_days: int = 30
    risk_min_return_days: int = 20  # H5
    risk_target_daily_vol: float = 0.004  # A1
    risk_max_weight: float = 0.10  # A2
    risk_max_volume_share: float = 0.01  # A3
    risk_max_cluster_weight: float = 0.25  # A4
    risk_correlation_days: int = 90
    risk_min_overlap_days: int = 30
    risk_cluster_correlation: float = 0.7
    risk_watch_list: Annotated[list[str], NoDecode] = Field(default_factory=list)  # "A/B,C/D"
    risk_book_depth: int = 100  # levels per side fetched
    risk_book_transport: Literal["rest", "websocket"] = "rest"  # live books: Depth or ccxt.pro
    risk_orderbook_dir: Path = SHARED_DATA_DIR / "orderbook"  # recordings (snapshot source)
    # --- dashboard (env CRYPTO_ASSETS_DASHBOARD_*) ----------------------------------------
    dashboard_host: str = "127.0.0.1"  # anything else needs dashboard_token
    dashboard_port: int = 8765
    dashboard_token: SecretStr | None = None  # required when bound beyond 127.0.0.1
    dashboard_feedback_path: Path | None = None  # default: <data_dir>/feedback.sqlite3
    # an asset whose newest row is older than this shows as stale (a daily asset's newest day
    # is 24-48 h old when up to date, so a missed daily run shows)
    dashboard_stale_hours: float = 50.0
    # --- end of risk and dashboard ---------------------------------------------------------

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

    # --- ops: alerts, monitoring, logs, backup (env CRYPTO_ASSETS_ALERT_* etc.) ------------
    # One apprise URL per channel (https://github.com/caronc/apprise/wiki): each is a secret,
    # since the URL carries the bot token / webhook token / mail password.
    alert_telegram_url: SecretStr | None = None  # tgram://BOT_TOKEN/CHAT_ID
    alert_discord_url: SecretStr | None = None  # discord://WEBHOOK_ID/WEBHOOK_TOKEN
    alert_email_url: SecretStr | None = None  # mailtos://USER:PASSWORD@HOST?to=ADDRESS
    alert_webhook_url: SecretStr | None = None  # json://HOST:PORT/PATH (or jsons://)
    alert_repeat_minutes: int = 60  # the same alert again only after this long
    alert_min_severity: Literal["info", "warning", "error"] = "info"
    alert_state_path: Path | None = None  # default: <data_dir>/ops/alert_state.sqlite
    dagster_ui_url: str = "http://127.0.0.1:3000"  # run / asset links in alerts
    monitor_interval_seconds: int = 60  # host samples (the sensor ticks every 30 s)
    cpu_overload_percent: float = 95.0
    memory_overload_percent: float = 90.0
    disk_min_free_gb: float = 5.0
    gpu_memory_overload_percent: float = 95.0
    gpu_temperature_overload_c: float = 85.0
    overload_consecutive_samples: int = 3  # sustained, not a spike
    log_dir: Path | None = None  # default: <dagster_home>/logs (JSON lines)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    backup_keep: int = 7  # newest backups kept in a backup folder

    @model_validator(mode="after")
    def _default_data_dir(self) -> Settings:
        if self.data_dir is None:
            self.data_dir = PROJECT_ROOT / "data"
        return self

    @model_validator(mode="after")
    def _profile_models(self) -> Settings:
        if self.model_families is None:
            self.model_families = ["lightgbm"]
        return self

    @field_validator("model_families", mode="before")
    @classmethod
    def _split_families(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [item.strip().lower() for item in value.split(",") if item.strip()]
        return value

    @field_validator("quote_currencies", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [item.strip().upper() for item in value.split(",") if item.strip()]
        return value

    @field_validator("risk_watch_list", mode="before")
    @classmethod
    def _split_watch_list(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [item.strip().upper() for item in value.split(",") if item.strip()]
        return value

    @field_validator("risk_orderbook_dir", "dashboard_feedback_path", mode="before")
    @classmethod
    def _risk_path_not_blank(cls, value: object, info: Any) -> object:
        if isinstance(value, str) and not value.strip():  # Path("") would silently mean "."
            raise ValueError(_RULES[info.field_name][1])
        return value

    @model_validator(mode="after")
    def _risk_windows_agree(self) -> Settings:
        if self.risk_min_return_days > self.risk_volatility_days:
            raise ValueError(
                f"CRYPTO_ASSETS_RISK_MIN_RETURN_DAYS={self.risk_min_return_days} must be at most "
                f"CRYPTO_ASSETS_RISK_VOLATILITY_DAYS={self.risk_volatility_days} (H5 counts "
                "returns inside the volatility window)"
            )
        return self

    @model_validator(mode="after")
    def _dashboard_guarded(self) -> Settings:
        if not _loopback(self.dashboard_host) and self.dashboard_token is None:
            raise ValueError(
                f"CRYPTO_ASSETS_DASHBOARD_HOST={self.dashboard_host} is reachable from other "
                "machines: set CRYPTO_ASSETS_DASHBOARD_TOKEN (a password every request must carry)"
            )
        return self

    # --- validation (issue 9): every setting range-checked, see _RULES below -------------
    @field_validator(
        "data_dir",
        "duckdb_path",
        "mlflow_artifact_root",
        "snapshot_dir",
        "alert_state_path",
        "log_dir",
        "training_history_dir",
        mode="before",
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

    # --- onchain ---------------------------------------------------------------------
    @field_validator("etherscan_chain_ids", mode="before")
    @classmethod
    def _split_ints(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator(
        "onchain_data_dir", "onchain_label_file", "coingecko_coin_list_file", mode="before"
    )
    @classmethod
    def _onchain_path_not_blank(cls, value: object, info: Any) -> object:
        if isinstance(value, str) and not value.strip():  # Path("") would silently mean "."
            raise ValueError(_RULES[info.field_name][1])
        return value

    @property
    def resolved_onchain_source(self) -> str:
        """``onchain_source``, or the market source's choice (snapshot -> replay)."""
        if self.onchain_source is not None:
            return self.onchain_source
        return "replay" if self.source == "snapshot" else "live"

    @property
    def profile_dir(self) -> Path:
        """This profile's own data folder: ``data_dir`` (live) or ``data_dir/demo``."""
        assert self.data_dir is not None  # set by the validator
        return self.data_dir if self.profile == "live" else self.data_dir / self.profile

    @property
    def resolved_duckdb_path(self) -> Path:
        """This profile's DuckDB file; an explicit ``duckdb_path`` is the live one, the demo's
        sits beside it as ``<name>.demo.duckdb``, so no setting makes the profiles share it."""
        if self.duckdb_path is None:
            return self.profile_dir / "crypto_assets.duckdb"
        if self.profile == "live":
            return self.duckdb_path
        path = Path(self.duckdb_path)
        return path.with_name(f"{path.name.removesuffix('.duckdb')}.{self.profile}.duckdb")

    @property
    def resolved_feedback_path(self) -> Path:
        """The dashboard's own verdict store (never the pipeline's DuckDB file)."""
        return self.dashboard_feedback_path or self.profile_dir / "feedback.sqlite3"

    @property
    def models_dir(self) -> Path:
        """Local folders of trained models (signal and sentiment) of this profile."""
        return self.profile_dir / "models"


# --- settings errors (issue 9): a bad value is one line naming the variable -------------------
ENV_PREFIX = "CRYPTO_ASSETS_"
SECRET_FIELDS: set[str] = set()  # filled below: every SecretStr field
MODEL_FAMILIES = ("lightgbm", "xgboost", "rnn")  # = ml.estimators' single families (tested)
SENTIMENT_CLASSES = ("bearish", "bullish", "neutral")  # = sentiment.model.LABELS (tested)
_CODE = re.compile(r"^[A-Z0-9]{2,10}$")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_HTTP = re.compile(r"^https?://[^\s/]+\S*$")  # onchain
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}$")
_HTTP_URL = re.compile(r"^https?://\S+$")


def _whole(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: v is None or (isinstance(v, int) and low <= v <= high)


def _number(low: float, high: float, low_open: bool = False) -> Callable[[Any], bool]:
    return lambda v: math.isfinite(v) and (low < v if low_open else low <= v) and v <= high


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


_PAIR = re.compile(r"^[A-Z0-9]{1,12}/[A-Z0-9]{2,10}$")
_FRACTION = "a fraction in (0, 1], e.g. 0.01 for 1 %"
_DAYS = "a whole number of days from 2 to 3650"


def _positive(v: float) -> bool:
    return math.isfinite(v) and v > 0


def _non_negative(v: float) -> bool:
    return math.isfinite(v) and v >= 0


def _fraction(v: float) -> bool:
    return math.isfinite(v) and 0 < v <= 1


def _loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


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
    "model_families": (
        lambda v: (
            v is None or (bool(v) and len(set(v)) == len(v) and set(v) <= set(MODEL_FAMILIES))
        ),
        "unset or a comma-separated list of distinct families from lightgbm, xgboost, rnn",
    ),
    "model_zoo_max_rows": (_whole(0, 10**9), "a whole number of rows from 0 to 1000000000"),
    "model_tuning_seconds": (
        lambda v: v is None or (math.isfinite(v) and 0 <= v <= 86_400),
        "unset or seconds from 0 (off) to 86400",
    ),
    "training_history_dir": (
        lambda v: (
            v is None or any((Path(v) / f"ohlcv_{t}.parquet").is_file() for t in ("1d", "1h"))
        ),
        "unset or a snapshot folder (ohlcv_1d.parquet, or ohlcv_1h.parquet resampled to days), "
        "e.g. from `snapshot bootstrap`",
    ),
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
    # --- ops ---
    **{
        f"alert_{channel}_url": (
            lambda v: v is None or bool(_URI.match(v.get_secret_value())),
            f"unset or an apprise URL, e.g. {example}",
        )
        for channel, example in (
            ("telegram", "tgram://BOT_TOKEN/CHAT_ID"),
            ("discord", "discord://WEBHOOK_ID/WEBHOOK_TOKEN"),
            ("email", "mailtos://USER:PASSWORD@HOST?to=ADDRESS"),
            ("webhook", "json://HOST:PORT/PATH"),
        )
    },
    "alert_repeat_minutes": (_whole(0, 7 * 24 * 60), "minutes, a whole number 0..10080"),
    "alert_min_severity": (lambda v: True, "info, warning or error"),
    "alert_state_path": (
        lambda v: v is None or not Path(v).is_dir(),
        "unset or a file path (not a folder)",
    ),
    "dagster_ui_url": (
        lambda v: bool(re.match(r"^https?://\S+$", v)),
        "the Dagster UI's base URL, e.g. http://127.0.0.1:3000",
    ),
    "monitor_interval_seconds": (_whole(30, 3600), "seconds, a whole number 30..3600"),
    **{
        name: (_number(0, 100, low_open=True), "a percentage in (0, 100]")
        for name in (
            "cpu_overload_percent",
            "memory_overload_percent",
            "gpu_memory_overload_percent",
        )
    },
    "disk_min_free_gb": (_number(0, 100_000), "gigabytes, a number from 0"),
    "gpu_temperature_overload_c": (_number(0, 130, low_open=True), "degrees C in (0, 130]"),
    "overload_consecutive_samples": (_whole(1, 1000), "a whole number from 1 to 1000"),
    "log_dir": (lambda v: True, "unset or a non-empty folder path"),
    "log_level": (lambda v: True, "DEBUG, INFO, WARNING or ERROR"),
    "backup_keep": (_whole(1, 1000), "a whole number from 1 to 1000"),
    # --- onchain ---
    "onchain_source": (lambda v: True, "unset (follows CRYPTO_ASSETS_SOURCE), live or replay"),
    "onchain_data_dir": (lambda v: True, "a non-empty folder path (the recorded on-chain files)"),
    "onchain_label_file": (
        lambda v: v is None or Path(v).is_file(),
        "unset or an existing CSV file of address labels (chain,address,label,category)",
    ),
    "coingecko_coin_list_file": (
        lambda v: v is None or Path(v).is_file(),
        "unset or an existing JSON file: a recorded CoinGecko /coins/list?include_platform=true",
    ),
    "whale_min_usd": (
        lambda v: math.isfinite(v) and 1_000 <= v <= 1e12,
        "a USD value from 1000 to 1e12, e.g. 1000000",
    ),
    "whale_alert_min_value": (_whole(0, 10**12), "a whole USD value from 0 to 1e12 (API floor)"),
    "etherscan_chain_ids": (
        lambda v: bool(v) and all(0 < c < 2**32 for c in v),
        "a comma-separated list of EVM chain ids, e.g. 1,56,137",
    ),
    "etherscan_calls_per_second": (
        lambda v: math.isfinite(v) and 0 < v <= 100,
        "calls per second above 0, at most 100 (free plan: 3)",
    ),
    "etherscan_max_wallets": (_whole(0, 10_000), "a whole number from 0 to 10000"),
    "holder_max_tokens": (_whole(0, 10_000), "a whole number from 0 to 10000"),
    "bitcoin_explorer_url": (
        lambda v: bool(_HTTP.match(v)),
        "an http(s) base URL of an Esplora API, e.g. https://mempool.space/api",
    ),
    "etherscan_api_key": (_blank_free, "unset or a non-empty key"),
    "whale_alert_api_key": (_blank_free, "unset or a non-empty key"),
    "coingecko_api_key": (_blank_free, "unset or a non-empty key"),
    # --- feedback loop ---
    "feedback_health_window_days": (
        lambda v: (
            bool(v)
            and set(v) <= set(FEEDBACK_HEALTH_WINDOW_DAYS)
            and all(isinstance(d, int) and 1 <= d <= 3650 for d in v.values())
        ),
        'JSON mapping horizons (1h, 24h, 7d, 30d) to whole days 1..3650, e.g. {"7d": 60}',
    ),
    "feedback_min_outcomes": (_whole(1, 10_000_000), "a whole number from 1 to 10000000"),
    "feedback_min_dates": (_whole(2, 100_000), "a whole number from 2 to 100000"),
    "feedback_band_k": (
        lambda v: math.isfinite(v) and 0 <= v <= 10,
        "a number of standard deviations from 0 to 10, e.g. 1",
    ),
    "feedback_ece_bound": (
        lambda v: math.isfinite(v) and 0 < v < 1,
        "an expected calibration error strictly between 0 and 1, e.g. 0.10",
    ),
    "feedback_psi_bound": (
        lambda v: math.isfinite(v) and 0 < v <= 10,
        "a population stability index above 0 up to 10, e.g. 0.25",
    ),
    "feedback_psi_feature_share": (
        lambda v: math.isfinite(v) and 0 < v <= 1,
        "a share of features above 0 up to 1, e.g. 0.25",
    ),
    "feedback_psi_live_days": (_whole(1, 365), "a whole number of days from 1 to 365"),
    "feedback_cooldown_days": (_whole(0, 3650), "a whole number of days from 0 to 3650"),
    "feedback_outcome_lookback_days": (
        _whole(32, 3650),
        "a whole number of days from 32 (the longest horizon plus its exit candle) to 3650",
    ),
    # --- risk and dashboard ---
    "risk_ticket_usd": (_positive, "a positive amount in USD, e.g. 2500"),
    "risk_portfolio_usd": (_positive, "a positive amount in USD, e.g. 25000"),
    "risk_max_slippage": (_fraction, _FRACTION),
    "risk_max_spread": (_fraction, _FRACTION),
    "risk_warn_spread": (_fraction, _FRACTION),
    "risk_min_dollar_volume": (_non_negative, "an amount in USD, 0 or more"),
    "risk_warn_dollar_volume": (_non_negative, "an amount in USD, 0 or more"),
    "risk_thin_depth_multiple": (_positive, "a positive multiple of the ticket, e.g. 5"),
    "risk_young_listing_days": (_whole(0, 3650), "a whole number of days from 0 to 3650"),
    "risk_book_max_age_hours": (_positive, "a positive number of hours, e.g. 36"),
    "risk_require_book": (lambda v: True, "true or false"),
    "risk_volume_days": (_whole(2, 3650), _DAYS),
    "risk_volatility_days": (_whole(2, 3650), _DAYS),
    "risk_min_return_days": (_whole(2, 3650), _DAYS),
    "risk_target_daily_vol": (_fraction, _FRACTION),
    "risk_max_weight": (_fraction, _FRACTION),
    "risk_max_volume_share": (_fraction, _FRACTION),
    "risk_max_cluster_weight": (_fraction, _FRACTION),
    "risk_correlation_days": (_whole(2, 3650), _DAYS),
    "risk_min_overlap_days": (_whole(2, 3650), _DAYS),
    "risk_cluster_correlation": (
        lambda v: math.isfinite(v) and -1 < v < 1,
        "a correlation strictly between -1 and 1, e.g. 0.7",
    ),
    "risk_watch_list": (
        lambda v: all(_PAIR.match(s) for s in v),
        "a comma-separated list of pairs BASE/QUOTE, e.g. XMR/USD,NKN/USDT",
    ),
    "risk_book_depth": (_whole(1, 1000), "a whole number of levels from 1 to 1000"),
    "risk_book_transport": (lambda v: True, "rest (Kraken Depth) or websocket (ccxt.pro)"),
    "risk_orderbook_dir": (lambda v: True, "a non-empty folder path"),
    "dashboard_host": (
        lambda v: bool(re.fullmatch(r"[A-Za-z0-9.:\-]+", v)),
        "a host name or IP address to bind, e.g. 127.0.0.1",
    ),
    "dashboard_port": (_whole(1, 65535), "a TCP port from 1 to 65535"),
    "dashboard_token": (
        lambda v: v is None or len(v.get_secret_value().strip()) >= 12,
        "unset or a password of at least 12 characters",
    ),
    "dashboard_feedback_path": (
        lambda v: v is None or not Path(v).is_dir(),
        "unset or a file path (not a folder)",
    ),
    "dashboard_stale_hours": (_positive, "a positive number of hours, e.g. 50"),
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


# the prefix and its near misses (CRYPTO_ASSET_, CRYPTOASSETS_): a variable the settings never see
_NEAR_PREFIX = re.compile(r"^CRYPTO_?ASSETS?_", re.IGNORECASE)
_DOTENV_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def _dotenv_names(env_file: Any) -> dict[str, str]:
    """Variable name -> the .env file that sets it, for the files pydantic-settings reads
    (``env_file``: a path, several, or None). Only names are read, never values."""
    files = [] if env_file is None else [env_file] if isinstance(env_file, str | Path) else env_file
    names: dict[str, str] = {}
    for file in map(Path, files):
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:  # no .env (the usual case) or unreadable: pydantic-settings skips it too
            continue
        for line in text.splitlines():
            match = _DOTENV_KEY.match(line)
            if match:
                names.setdefault(match[1], str(file))
    return names


def _misspelt_variables(env_file: Any = ".env") -> list[str]:
    """CRYPTO_ASSETS_* variables, in the environment or the .env file, that are no setting but
    nearly one (a typo silently ignored would leave the default in force)."""
    fields = list(Settings.model_fields)
    found = {name: "" for name in os.environ} | {
        name: where for name, where in _dotenv_names(env_file).items() if name not in os.environ
    }
    lines = []
    for name, where in sorted(found.items()):
        prefix = _NEAR_PREFIX.match(name)
        if not prefix:
            continue
        field = name[prefix.end() :].lower().split("__")[0]
        if field in fields and name.upper().startswith(ENV_PREFIX):
            continue
        close = difflib.get_close_matches(field, fields, n=1, cutoff=0.8)
        if close:
            origin = f" (in {where})" if where else ""
            lines.append(
                f"{name}{origin} is not a setting; did you mean {ENV_PREFIX}{close[0].upper()}?"
            )
    return lines


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment / .env plus ``overrides``, or ``SettingsError`` whose
    message is one line per bad value (what the CLI prints instead of a traceback)."""
    lines = _misspelt_variables(overrides.get("_env_file", Settings.model_config.get("env_file")))
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


def export_secrets(settings: Settings) -> list[str]:
    """Put secrets that came from ``.env`` (pydantic reads that file without exporting it) into
    this process's environment, so resources refer to them by name (``dg.EnvVar``): a plain
    value in a resource's config would be stored in every run's job snapshot in Dagster's run
    storage. For entry points only (the code location, the CLI), like reading the environment;
    returns the variables set."""
    exported = []
    for field in sorted(SECRET_FIELDS):
        value, name = getattr(settings, field), f"{ENV_PREFIX}{field.upper()}"
        if value is not None and name not in os.environ:
            os.environ[name] = value.get_secret_value()
            exported.append(name)
    return exported


SECRET_FIELDS.update(
    name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
)
