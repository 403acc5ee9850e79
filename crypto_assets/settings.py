"""One settings object for the whole project (paths, source choice, thresholds, secrets).

Values come from the environment (prefix ``CRYPTO_ASSETS_``) or a ``.env`` file in the working
directory, so nothing secret or machine-specific lives in code. Paths default to folders inside
the project root so that a fresh clone works with no set-up.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
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

    # --- market data source ------------------------------------------------------------
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

    # --- signals -----------------------------------------------------------------------
    round_trip_cost: float = 0.004  # 2 x Kraken Pro entry-tier taker fee (0.40 %)
    confidence_threshold: float = 0.80
    model_n_estimators: int | None = None  # fewer trees for quick runs/tests; None: 300

    # --- sentiment scorer (env CRYPTO_ASSETS_SENTIMENT_*) ---------------------------------
    sentiment_hf_model: str | None = None  # a local HF classifier instead of the MLflow champion
    sentiment_label_map: dict[str, str] | None = None  # for LABEL_0-style class names
    sentiment_device: str = "auto"
    sentiment_batch_size: int = 64

    # --- social, news and events (crypto_assets.social / news; env CRYPTO_ASSETS_*) ---------
    # "live": the API clients below (a source without its key reports status no_key);
    # "replay": the recorded real files under text_replay_dir (../shared/data), read in place.
    text_sources: Literal["live", "replay"] = "live"
    text_replay_dir: Path = SHARED_DATA_DIR
    reddit_subreddits: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["CryptoCurrency"]
    )
    reddit_client_id: SecretStr | None = None
    reddit_client_secret: SecretStr | None = None
    reddit_user_agent: str = "crypto_assets/0.1 (text signals)"
    rss_feeds: Annotated[list[str], NoDecode] | None = None  # None: CoinDesk, Cointelegraph, ...
    telegram_api_id: int | None = None
    telegram_api_hash: SecretStr | None = None
    telegram_session: SecretStr | None = None  # a Telethon StringSession (one-time login)
    telegram_channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    discord_bot_token: SecretStr | None = None
    discord_channel_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    x_bearer_token: SecretStr | None = None
    x_query: str = "(bitcoin OR crypto OR $BTC OR $ETH) lang:en -is:retweet"
    token_unlocks_file: Path | None = None  # calendar CSV (coin,date,title) or a vesting table
    token_unlocks_coin: str | None = None  # the coin of a vesting table
    # cryptopanic_api_key: in the secrets block below (shared with earlier code)

    # --- secrets (never logged; SecretStr hides them in reprs) ---------------------------
    cryptopanic_api_key: SecretStr | None = None
    telegram_bot_token: SecretStr | None = None

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

    @field_validator(
        "reddit_subreddits", "rss_feeds", "telegram_channels", "discord_channel_ids", mode="before"
    )
    @classmethod
    def _split_text_csv(cls, value: object) -> object:
        """Comma-separated lists from the environment, case kept (URLs, channel names)."""
        if isinstance(value, str) and not value.strip().startswith("["):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def resolved_duckdb_path(self) -> Path:
        return self.duckdb_path or self.data_dir / "crypto_assets.duckdb"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
