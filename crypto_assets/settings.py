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

    @field_validator("etherscan_chain_ids", mode="before")
    @classmethod
    def _split_ints(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [int(item) for item in value.split(",") if item.strip()]
        return value

    @property
    def resolved_onchain_source(self) -> str:
        """``onchain_source``, or the market source's choice (snapshot -> replay)."""
        if self.onchain_source is not None:
            return self.onchain_source
        return "replay" if self.source == "snapshot" else "live"

    @property
    def resolved_duckdb_path(self) -> Path:
        return self.duckdb_path or self.data_dir / "crypto_assets.duckdb"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
