"""Service settings from the environment, so images carry no configuration (seed: hard-coded values).

Connections have no default: a service left without one is not ready and says which variable to set
(`kit/requirements.py`), instead of reaching for localhost or a file in its pod, which in a pod is lost on
restart and differs between replicas.

Third-party secrets and shared keys may also come from files: in Azure the Secrets Store CSI driver mounts the
service's Key Vault objects at `<FABRIKAM_SECRETS_DIR>/<object name>`, so they never sit in an environment
variable, and every replica reads the same key.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Setting → Key Vault object name (the file the CSI driver writes); the operator's catalog uses the same names.
SECRET_FILES = {
    "sendgrid_api_key": "sendgrid-api-key",
    "twilio_auth_token": "twilio-auth-token",
    "payments_webhook_secret": "payments-webhook-secret",
}
# Keys read from the secrets directory as files, never generated there (see workloads/README.md for formats).
PII_KEY_OBJECT = "pii-key"
ISSUER_KEY_OBJECT = "account-issuer-key"
# Locally (no secrets directory) the issuer's key is created in FABRIKAM_ACCOUNT_KEY_DIR under this name.
LOCAL_ISSUER_KEY = "issuer-key.pem"

T = TypeVar("T")

MONGO_URL_CONFLICT = "FABRIKAM_MONGO_URL and FABRIKAM_MONGO_URL_FILE are both set: set only one"


class NotConfigured(ValueError):
    """A setting the service needs is unset: the service is not ready until the variable is set."""


def env_name(setting: str) -> str:
    return f"FABRIKAM_{setting.upper()}"


def require(value: T | None, setting: str) -> T:
    """`value`, which the service's requirements (checked before it is built) guarantee is set."""
    if value is None or value == "":
        raise NotConfigured(f"not configured: set {env_name(setting)}")
    return value


@dataclass(frozen=True)
class KeyFile:
    """Where a key lives, and whether the service may generate it there (local runs only)."""

    path: Path
    create: bool


class SecretFileError(ValueError):
    """A mounted secret that cannot be used: the service must not start with half its credentials."""


def read_secret_file(path: Path) -> str | None:
    """The secret's text without its trailing newline; None when no such file was mounted."""
    if not path.exists():
        return None
    try:
        value = path.read_text().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        raise SecretFileError(f"secret file {path} cannot be read: {error}") from error
    if not value.strip():
        raise SecretFileError(f"secret file {path} is empty")
    return value


class KeyVaultFiles(PydanticBaseSettingsSource):
    """Fills each secret setting from `<secrets_dir>/<object name>`; an environment variable still wins."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        directory = self.current_state.get("secrets_dir")
        if not directory:
            return {}
        found = {name: read_secret_file(Path(directory) / object_name) for name, object_name in SECRET_FILES.items()}
        return {name: value for name, value in found.items() if value is not None}


class ServiceSettings(BaseSettings):
    """Every knob a workload reads; the operator injects them as `FABRIKAM_*` variables."""

    # populate_by_name: the telemetry settings also read the standard variables (aliases), and a field's own
    # name must still set it.
    model_config = SettingsConfigDict(env_prefix="FABRIKAM_", extra="ignore", populate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, dotenv_settings, file_secret_settings, KeyVaultFiles(settings_cls)

    service: str = "unnamed"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = "INFO"

    broker: Literal["redis", "servicebus"] = "redis"
    redis_url: str | None = None
    # How the workloads sign in to Redis (`kit/redis_auth.py`): `entra` with a Microsoft Entra ID token of the
    # pod's workload identity; `none` with the URL's password, if any; `auto` (the default) is `entra` for an
    # Azure Cache for Redis / Azure Managed Redis host whose URL has no password, else `none`.
    redis_auth: Literal["auto", "none", "entra"] = "auto"
    # A file holding the password of the URL's user (the in-cluster Redis's ACL user: the operator mounts it).
    redis_password_file: str | None = None
    servicebus_namespace: str | None = None
    mongo_url: str | None = None
    # Or a file holding the connection string (`mongo_connection_url`): in Azure, the Cosmos DB account's, which
    # carries its key, from Key Vault through the CSI driver. Set one of the two, never both.
    mongo_url_file: str | None = None
    mongo_database: str = "fabrikam"
    mongo_cosmos_shard_on_tag: bool = False

    lock_seconds: float = Field(default=30.0, gt=0)
    max_delivery_count: int = Field(default=10, ge=1)
    duplicate_window_seconds: int = Field(default=86_400, ge=1)
    concurrency: int = Field(default=32, ge=1)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # How long a start (schema creation, seeding) waits for stores that do not answer yet before the process
    # exits; the pod's startup probe allows 150 s.
    start_wait_seconds: float = Field(default=120.0, ge=0)
    # A message handler running longer is cancelled and its message redelivered (handlers take milliseconds).
    handler_timeout_seconds: float = Field(default=60.0, gt=0)

    pool_size: int = Field(default=64, ge=1)
    pool_wait_seconds: float = Field(default=2.0, gt=0)
    outbound_timeout_seconds: float = Field(default=5.0, gt=0)

    rate_limit_per_second: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=100, ge=1)

    weather_url: str | None = None
    weather_fallback_max_age_seconds: float = Field(default=1800.0, ge=0)
    search_radius_km: float = Field(default=50.0, gt=0)
    min_battery_percent: float = Field(default=30.0, ge=0, le=100)
    # Workflow: a step (create package, assign drone, schedule) whose reply has not come within the timeout is
    # sent again, up to `attempts` sends in all; then the delivery fails and what was done is undone.
    workflow_step_timeout_seconds: float = Field(default=60.0, gt=0)
    workflow_step_attempts: int = Field(default=3, ge=1)

    # Where traces and metrics go (`kit/telemetry.py`): `auto` (the default) sends them to Azure Monitor when an
    # Application Insights connection string is set, else to an OTLP/HTTP collector when its endpoint is set,
    # else nowhere (/metrics is scraped either way). The standard variables are read as well.
    telemetry: Literal["auto", "otlp", "azure-monitor", "none"] = "auto"
    # The collector's base URL (http://collector:4318); traces go to <base>/v1/traces, metrics to /v1/metrics.
    otlp_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("FABRIKAM_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    applicationinsights_connection_string: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "FABRIKAM_APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_CONNECTION_STRING"
        ),
    )
    telemetry_export_interval_seconds: float = Field(default=60.0, gt=0)
    # The share of the traces this service starts that are kept, from 0 to 1 (all by default); a span whose parent
    # came with a request or a message follows the parent's decision (`kit/trace_sampling.py`). Read from the
    # standard variables only, which the operator sets: the one sampler the kit knows is the one that keeps a
    # delivery's trace whole across the queues, and another named in OTEL_TRACES_SAMPLER stops the start.
    trace_sampling_ratio: float = Field(default=1.0, ge=0, le=1, validation_alias="OTEL_TRACES_SAMPLER_ARG")
    traces_sampler: Literal["parentbased_traceidratio"] = Field(
        default="parentbased_traceidratio", validation_alias="OTEL_TRACES_SAMPLER"
    )
    # Bounds each export (with its retries): a collector that is down or silent never holds up a start or a stop.
    telemetry_timeout_seconds: float = Field(default=5.0, gt=0)
    # Where the CSI driver mounts the Key Vault objects (`SECRET_FILES`); unset locally.
    secrets_dir: str | None = None

    # Bearer tokens are checked when an issuer is configured: the account service's local issuer, or Entra ID
    # (https://login.microsoftonline.com/<tenant>/v2.0) with the API's application id URI as audience.
    auth_issuer: str | None = None
    auth_audience: str = "fabrikam"
    auth_jwks_url: str | None = None
    auth_jwks_cache_seconds: float = Field(default=300.0, gt=0)
    auth_business_claim: str = "business_id"

    # Account: its own database, never shared (seed: the account database shared with a legacy app).
    # An SQLAlchemy async URL: postgresql+asyncpg://user@host:5432/db, or sqlite+aiosqlite:///<file> locally.
    database_url: str | None = None
    # How the account service signs in to its database (`account/db_auth.py`): `entra` with a Microsoft Entra ID
    # token of the pod's workload identity as the password of the URL's user (the identity's PostgreSQL role);
    # `password` with the URL's password, if any; `auto` (the default) is `entra` for an Azure Database for
    # PostgreSQL host (`*.postgres.database.azure.com`) whose URL has no password, else `password`.
    database_auth: Literal["auto", "password", "entra"] = "auto"
    account_local_issuer: bool = True
    # Local runs: the directory where the local issuer creates its signing key. With a secrets directory the
    # key is its `account-issuer-key` object instead, shared by every replica.
    account_key_dir: str | None = None
    demo_client_secret: str = "demo-secret"
    token_lifetime_seconds: int = Field(default=3600, ge=60)
    # The AES-256 key that encrypts PII at rest: a local file, or a Key Vault secret mounted as a file (CSI),
    # `<secrets_dir>/pii-key` unless this names another; created when missing only outside a secrets directory.
    pii_key_file: str | None = None
    pii_key_create: bool = True
    payments_webhook_secret: str | None = None
    payments_tolerance_seconds: int = Field(default=300, ge=1)

    telemetry_max_speed_mps: float = Field(default=60.0, gt=0)
    telemetry_max_batch: int = Field(default=1000, ge=1)
    telemetry_max_clock_skew_seconds: float = Field(default=30.0, ge=0)

    email_provider: Literal["smtp", "sendgrid"] = "smtp"
    email_from: str = "deliveries@fabrikam.example"
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    sendgrid_url: str = "https://api.sendgrid.com"
    sendgrid_api_key: str | None = None
    twilio_url: str = "https://api.twilio.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None

    def mongo_connection_url(self) -> str:
        """The MongoDB connection string: `mongo_url`, or the text of the file `mongo_url_file` names (without its
        trailing newline), which the requirements (`kit/requirements.py`) check is there before this is called.

        Setting both is an error, not a precedence. They come from different hands (the file from the operator's
        Key Vault mount, the variable from a ConfigMap, an overlay or a shell), and each names a whole database:
        whichever silently won, the other would be a stale setting nobody notices, and a service that writes its
        packages to a database other than the one meant splits the data without a word. Refusing makes the
        operator (or whoever runs it) remove one, and the service says which two variables clash.
        """
        if self.mongo_url and self.mongo_url_file:
            raise ValueError(MONGO_URL_CONFLICT)
        if not self.mongo_url_file:
            if not self.mongo_url:
                raise NotConfigured(f"not configured: set {env_name('mongo_url')} or {env_name('mongo_url_file')}")
            return self.mongo_url
        try:
            url = read_secret_file(Path(self.mongo_url_file))
        except SecretFileError as error:
            raise SecretFileError(f"{env_name('mongo_url_file')}: {error}") from error
        if url is None:
            raise SecretFileError(f"{env_name('mongo_url_file')} names {self.mongo_url_file}, which is absent")
        return url

    def pii_key(self) -> KeyFile | None:
        """The PII key's file; one in a secrets directory is shared by the replicas, so never generated."""
        if self.pii_key_file:
            return KeyFile(Path(self.pii_key_file), create=self.pii_key_create and not self.secrets_dir)
        if self.secrets_dir:
            return KeyFile(Path(self.secrets_dir) / PII_KEY_OBJECT, create=False)
        return None

    def issuer_key(self) -> KeyFile | None:
        """The local issuer's signing key: the secrets directory's object, or one generated in a local run."""
        if self.secrets_dir:
            return KeyFile(Path(self.secrets_dir) / ISSUER_KEY_OBJECT, create=False)
        if self.account_key_dir:
            return KeyFile(Path(self.account_key_dir) / LOCAL_ISSUER_KEY, create=True)
        return None
