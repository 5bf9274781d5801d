"""Settings for every package, read from `CHURN_*` environment variables.

This is the one place where paths, URLs and secrets are configured, so that a job never has
to guess where the warehouse lives or silently read credentials from anywhere else.
"""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

# a folder of files named after the variables (CHURN_API_KEY, CHURN_SLACK_WEBHOOK_URL, ...):
# what Docker and Kubernetes secrets mount; a variable set in the environment wins over a file
SECRETS_DIR_VARIABLE = "CHURN_SECRETS_DIR"


class Settings(BaseSettings):
    """All configuration; every field can be set with `CHURN_<FIELD_NAME>`."""

    # an empty variable (a blank line of an env file) counts as unset, not as an empty URL or key
    model_config = SettingsConfigDict(
        env_prefix="CHURN_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    target: Literal["local", "bigquery"] = "local"
    data_dir: Path = Path("data")

    # warehouse (local target)
    warehouse_path: Path | None = None

    # warehouse (bigquery target): one dataset per layer (raw, staging, intermediate, features,
    # ml, monitoring, marts) in this project, so `features.customer_features` names a table on
    # both targets. Credentials: Application Default Credentials (a service account on the
    # runner), or `bigquery_token` (an OAuth access token) where ADC is not available.
    bigquery_project: str | None = None
    bigquery_location: str = "US"
    # a BigQuery-compatible endpoint instead of Google's (the emulator in tests)
    bigquery_api_endpoint: str | None = None
    bigquery_token: SecretStr | None = None
    # cost guard on every query job the Python side runs (dbt has its own in profiles.yml)
    bigquery_maximum_bytes_billed: int = 100_000_000_000
    # labels put on every job and table, so billing exports group the spend by system
    bigquery_labels: dict[str, str] = {"system": "churn"}
    # where the gateway stages a frame before an atomic write (tables there expire in a day)
    bigquery_staging_dataset: str = "_churn_staging"
    # read whole tables (training sets) with BigQuery DataFrames; off: the Storage Read API
    # (an emulator endpoint always reads over REST: bigframes cannot talk to it)
    bigquery_read_with_bigframes: bool = True
    # how long the gateway retries a transient API failure (unreachable, 5xx) before failing
    bigquery_retry_seconds: float = 600.0
    # where model artifacts live on the bigquery target (MLflow artifact root, ONNX for BQML)
    gcs_artifact_root: str | None = None

    # how long a write to the DuckDB file waits for other connections (readers) to close
    warehouse_write_wait_seconds: float = 10.0

    # sources
    sources_dir: Path | None = None
    customer_db_url: str | None = None
    zendesk_base_url: str | None = None
    zendesk_email: str | None = None
    zendesk_api_token: SecretStr | None = None
    stripe_base_url: str | None = None
    stripe_api_key: SecretStr | None = None
    app_actions_db_url: str | None = None
    app_snapshot_path: Path | None = None

    # modelling
    churn_horizon_days: int = 28

    # tracking
    mlflow_tracking_uri: str | None = None

    # orchestration: delay between retries of a transient failure (ingest, MLflow, locks)
    retry_delay_seconds: int = 30

    # alerts and metrics
    slack_webhook_url: SecretStr | None = None
    pushgateway_url: str | None = None
    metrics_textfile: Path | None = None

    # ingestion (HTTP connectors and the usage file reader)
    ingestion_http_timeout_seconds: float = 30.0
    ingestion_http_max_retries: int = 5
    ingestion_http_backoff_seconds: float = 1.0
    ingestion_usage_files_per_batch: int = 8
    # one load (dlt package) of usage files takes at most this many bytes of files (at least
    # one file): a first load of years lands and survives a stop in pieces
    ingestion_usage_bytes_per_load: int = 1_000_000_000
    # a build on DuckDB first stages the raw events this many loads a run while more wait
    # (flows/staging.py): years of events staged at once spilled more than the disk held;
    # 0 stages them all in the build
    staging_loads_per_run: int = 2

    # time guards on source rows: a dated row belongs in [source_data_start, its load time +
    # source_clock_skew_hours]; a row outside lands in raw, is flagged in staging and never
    # reaches a feature, and an incremental cursor never advances past the load time + skew
    source_data_start: date = date(2000, 1, 1)
    source_clock_skew_hours: float = 24.0

    # serving: when set, /predict requires this key in the X-API-Key header
    api_key: SecretStr | None = None

    # app sign-in: OpenID Connect through Streamlit (dashboards/launch.py writes its [auth]
    # secrets); with none of these set the app runs in local mode, on loopback only
    app_oidc_client_id: str | None = None
    app_oidc_client_secret: SecretStr | None = None
    app_oidc_server_metadata_url: str | None = None
    # the app's public URL + /oauth2callback (default http://localhost:<port>/oauth2callback)
    app_oidc_redirect_uri: str | None = None
    app_oidc_scope: str = "openid email profile"
    # signs the sign-in cookie; unset: a random one per start (sign-ins end on a restart)
    app_cookie_secret: SecretStr | None = None
    # a secrets.toml with an [auth] section, used as is instead of the fields above
    app_secrets_file: Path | None = None
    # roles (admin, manager, owner) from the identity: by email, by a group of the groups
    # claim, or by email domain; an exact email wins, else the highest role matched
    app_role_by_email: dict[str, str] = {}
    app_role_by_group: dict[str, str] = {}
    app_role_by_domain: dict[str, str] = {}
    app_groups_claim: str = "groups"
    # an owner's name as `account_owner` holds it, by email (default: the `name` claim)
    app_owner_name_by_email: dict[str, str] = {}
    # owners may clear the filter to see every account
    app_owners_see_all: bool = False
    # a sign-in older than this is asked to sign in again
    app_session_max_hours: float = 12.0
    # without sign-in the app listens on loopback only unless this is true
    app_allow_no_sign_in: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read secrets files only from a folder that exists: an image names /run/secrets
        for every role, and a role started without secrets must not warn about it."""
        sources = (init_settings, env_settings, dotenv_settings)
        secrets_dir = os.environ.get(SECRETS_DIR_VARIABLE)
        if secrets_dir and Path(secrets_dir).is_dir():
            sources += (SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir),)
        return sources

    @property
    def warehouse_file(self) -> Path:
        """DuckDB file of the local target."""
        return self.warehouse_path or self.data_dir / "warehouse.duckdb"

    @property
    def sources_path(self) -> Path:
        """Where the simulator releases (and the demo reads) the four source systems."""
        return self.sources_dir or self.data_dir / "sources"

    @property
    def customer_db(self) -> str:
        """SQLAlchemy URL of the customer database."""
        return self.customer_db_url or f"sqlite:///{self.sources_path / 'customer_db.sqlite'}"

    @property
    def usage_path(self) -> Path:
        """Daily-partitioned usage event files."""
        return self.sources_path / "usage"

    @property
    def zendesk_pages_path(self) -> Path:
        """Zendesk export pages on disk (used when no base URL is set)."""
        return self.sources_path / "zendesk"

    @property
    def stripe_pages_path(self) -> Path:
        """Stripe event pages on disk (used when no base URL is set)."""
        return self.sources_path / "stripe"

    @property
    def app_actions_db(self) -> str:
        """SQLAlchemy URL of the CS app's own store of actions."""
        return self.app_actions_db_url or f"sqlite:///{self.data_dir / 'app' / 'cs_actions.sqlite'}"

    @property
    def app_snapshot_file(self) -> Path:
        """The CS app's read-only copy of the marts (dashboards/snapshot.py publishes it)."""
        return self.app_snapshot_path or self.data_dir / "app" / "marts.duckdb"

    @property
    def metrics_file(self) -> Path:
        """Prometheus text file written when no Pushgateway is configured."""
        return self.metrics_textfile or self.data_dir / "metrics" / "churn.prom"

    @property
    def mlflow_uri(self) -> str:
        """MLflow tracking and registry URI (SQLite store under data/ by default)."""
        return self.mlflow_tracking_uri or f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once from the environment."""
    return Settings()
