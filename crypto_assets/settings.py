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

from crypto_assets.risk.rules import RiskRules

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

    # --- risk (env CRYPTO_ASSETS_RISK_*; the rules are stated in crypto_assets/risk/rules.py) --
    risk_ticket_usd: float = Field(2_500.0, gt=0)  # the order size slippage is judged for
    risk_portfolio_usd: float = Field(25_000.0, gt=0)  # what suggested allocations are of
    risk_max_slippage: float = Field(0.01, gt=0, le=1)  # H1: hold back above this
    risk_max_spread: float = Field(0.02, gt=0, le=1)  # H3
    risk_warn_spread: float = Field(0.005, gt=0, le=1)  # W2
    risk_min_dollar_volume: float = Field(100_000.0, ge=0)  # H4: median daily, USD
    risk_warn_dollar_volume: float = Field(1_000_000.0, ge=0)  # W1: microcap liquidity
    risk_thin_depth_multiple: float = Field(5.0, gt=0)  # W3: depth within 2 % vs the ticket
    risk_young_listing_days: int = Field(90, ge=0)  # W4
    risk_book_max_age_hours: float = Field(36.0, gt=0)  # a book older than this is not current
    risk_require_book: bool = False  # True: no current book is a hard rule
    risk_volume_days: int = Field(30, ge=2)
    risk_volatility_days: int = Field(30, ge=2)
    risk_min_return_days: int = Field(20, ge=2)  # H5
    risk_target_daily_vol: float = Field(0.004, gt=0, le=1)  # A1
    risk_max_weight: float = Field(0.10, gt=0, le=1)  # A2
    risk_max_volume_share: float = Field(0.01, gt=0, le=1)  # A3
    risk_max_cluster_weight: float = Field(0.25, gt=0, le=1)  # A4
    risk_correlation_days: int = Field(90, ge=2)
    risk_min_overlap_days: int = Field(30, ge=2)
    risk_cluster_correlation: float = Field(0.7, gt=-1, lt=1)
    risk_watch_list: Annotated[list[str], NoDecode] = Field(default_factory=list)  # "A/B,C/D"
    risk_book_depth: int = Field(100, ge=1, le=1000)  # levels per side fetched
    risk_book_transport: Literal["rest", "websocket"] = "rest"  # live books: Depth or ccxt.pro
    risk_orderbook_dir: Path = SHARED_DATA_DIR / "orderbook"  # recordings (snapshot source)

    # --- secrets (never logged; SecretStr hides them in reprs) ---------------------------
    cryptopanic_api_key: SecretStr | None = None
    telegram_bot_token: SecretStr | None = None

    @model_validator(mode="after")
    def _profile_paths(self) -> Settings:
        if self.data_dir is None:
            suffix = Path() if self.profile == "live" else Path(self.profile)
            self.data_dir = PROJECT_ROOT / "data" / suffix
        return self

    @field_validator("quote_currencies", "risk_watch_list", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [item.strip().upper() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _risk_rules_agree(self) -> Settings:
        self.risk_rules()  # cross-field checks (e.g. min_return_days <= volatility_days)
        return self

    def risk_rules(self) -> RiskRules:
        """The ``risk_*`` settings as the risk domain's rules."""
        return RiskRules(**{f: getattr(self, f"risk_{f}") for f in RiskRules.__dataclass_fields__})

    @property
    def resolved_duckdb_path(self) -> Path:
        return self.duckdb_path or self.data_dir / "crypto_assets.duckdb"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
