"""One settings object for the whole project (paths, source choice, thresholds).

Values come from the environment (prefix ``CRYPTO_ASSETS_``) or a ``.env`` file in the working
directory, so nothing secret or machine-specific lives in code. Paths default to folders inside
the project root so that a fresh clone works with no set-up.

A ``Settings`` is built once by an entry point (the CLI, ``crypto_assets.definitions``) and
passed down as data: into resources (``crypto_assets.resources.settings.PipelineSettings`` for
assets) and as arguments to plain functions. Nothing else reads the environment; overrides are
constructor arguments, e.g. ``Settings(profile="demo", source="snapshot", snapshot_dir=...)``.
Each domain adds its knobs in one clearly marked block below; secrets are ``SecretStr``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
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
    model_n_estimators: int | None = None  # fewer trees for quick runs/tests; None: 300

    # --- sentiment scorer (env CRYPTO_ASSETS_SENTIMENT_*) ---------------------------------
    sentiment_hf_model: str | None = None  # a local HF classifier instead of the MLflow champion
    sentiment_label_map: dict[str, str] | None = None  # for LABEL_0-style class names
    sentiment_device: str = "auto"
    sentiment_batch_size: int = 64

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

    @property
    def models_dir(self) -> Path:
        """Local folders of trained models (signal and sentiment) of this profile."""
        return self.data_dir / "models"
