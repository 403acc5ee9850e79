"""One settings object for the whole project (paths, source choice, thresholds, secrets).

Values come from the environment (prefix ``CRYPTO_ASSETS_``) or a ``.env`` file in the working
directory, so nothing secret or machine-specific lives in code. Paths default to folders inside
the project root so that a fresh clone works with no set-up.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
DEFAULT_SNAPSHOT_DIR = SHARED_DATA_DIR / "market" / "binance_2024"


# --- feedback loop ---------------------------------------------------------------------------
# Knobs of the feedback loop (crypto_assets/feedback): how much live evidence model health
# needs, the drift bounds and the retrain cooldown. Env: CRYPTO_ASSETS_FEEDBACK__<NAME>, e.g.
# CRYPTO_ASSETS_FEEDBACK__PSI_BOUND=0.2. Windows are in days of outcomes (or features) known.
_HEALTH_WINDOW_DAYS = {"1h": 14, "24h": 30, "7d": 60, "30d": 90}


class FeedbackSettings(BaseModel):
    health_window_days: dict[str, int] = Field(
        default_factory=lambda: dict(_HEALTH_WINDOW_DAYS)
    )  # rolling window of known outcomes per horizon (a horizon left out keeps its default)
    min_outcomes: int = Field(200, ge=1)  # fewer known outcomes in the window: "insufficient"
    min_dates: int = Field(14, ge=2)  # ... or fewer prediction times (cross-sections)
    reliability_bins: int = Field(10, ge=2)
    band_k: float = Field(1.0, ge=0)  # performance band: mean - k * std of fold rank ICs
    min_folds: int = Field(3, ge=2)  # walk-forward folds a band needs
    min_call_times: int = Field(5, ge=1)  # distinct call times a hit-rate band check needs
    ece_bound: float = Field(0.10, gt=0, lt=1)  # calibration drift: live ECE above this
    psi_bins: int = Field(10, ge=2)  # quantile bins from the training window
    psi_bound: float = Field(0.25, gt=0)  # a feature with PSI above this has shifted
    psi_feature_share: float = Field(0.25, gt=0, le=1)  # feature drift: share of shifted ones
    psi_live_days: int = Field(30, ge=1)  # live feature window (and training baseline blocks)
    psi_min_rows: int = Field(200, ge=1)  # rows each side needs before PSI is measured
    psi_reference_max_rows: int = Field(200_000, ge=1000)  # sample of the training window
    cooldown_days: int = Field(14, ge=0)  # days between drift retrains of one horizon
    outcome_lookback_days: int = Field(40, ge=1)  # predictions re-checked for (revised) labels

    def health_window(self, horizon: str) -> int:
        """Days of known outcomes model health looks back over for ``horizon``."""
        return int(self.health_window_days.get(horizon, _HEALTH_WINDOW_DAYS.get(horizon, 30)))


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

    # --- feedback loop (knobs in FeedbackSettings above) ---------------------------------
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)

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

    @property
    def resolved_duckdb_path(self) -> Path:
        return self.duckdb_path or self.data_dir / "crypto_assets.duckdb"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
