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

    # --- secrets (never logged; SecretStr hides them in reprs) ---------------------------
    cryptopanic_api_key: SecretStr | None = None
    telegram_bot_token: SecretStr | None = None

    # --- ops: alerts, monitoring, logs, backup (env CRYPTO_ASSETS_ALERT_* etc.) ------------
    # One apprise URL per channel (https://github.com/caronc/apprise/wiki): each is a secret,
    # since the URL carries the bot token / webhook token / mail password.
    alert_telegram_url: SecretStr | None = None  # tgram://BOT_TOKEN/CHAT_ID
    alert_discord_url: SecretStr | None = None  # discord://WEBHOOK_ID/WEBHOOK_TOKEN
    alert_email_url: SecretStr | None = None  # mailtos://USER:PASSWORD@HOST?to=ADDRESS
    alert_webhook_url: SecretStr | None = None  # json://HOST:PORT/PATH (or jsons://)
    alert_repeat_minutes: int = Field(60, ge=0, le=7 * 24 * 60)  # same alert again after
    alert_min_severity: Literal["info", "warning", "error"] = "info"
    alert_state_path: Path | None = None  # default: <data root>/ops/alert_state.sqlite
    dagster_ui_url: str = "http://127.0.0.1:3000"  # run / asset links in alerts
    monitor_interval_seconds: int = Field(60, ge=30, le=3600)  # sensor ticks every 30 s
    cpu_overload_percent: float = Field(95.0, gt=0, le=100)
    memory_overload_percent: float = Field(90.0, gt=0, le=100)
    disk_min_free_gb: float = Field(5.0, ge=0)
    gpu_memory_overload_percent: float = Field(95.0, gt=0, le=100)
    gpu_temperature_overload_c: float = Field(85.0, gt=0, le=130)
    overload_consecutive_samples: int = Field(3, ge=1, le=1000)  # sustained, not a spike
    log_dir: Path | None = None  # default: $DAGSTER_HOME/logs (JSON lines)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    backup_keep: int = Field(7, ge=1, le=1000)  # newest backups kept in a backup folder

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

    @property
    def resolved_duckdb_path(self) -> Path:
        return self.duckdb_path or self.data_dir / "crypto_assets.duckdb"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
