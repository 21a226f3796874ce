"""Service settings from the environment, so images carry no configuration (seed: hard-coded values)."""

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Every knob a workload reads; the operator injects them as `FABRIKAM_*` variables."""

    model_config = SettingsConfigDict(env_prefix="FABRIKAM_", extra="ignore")

    service: str = "unnamed"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = "INFO"

    broker: Literal["redis", "servicebus"] = "redis"
    redis_url: str = "redis://127.0.0.1:6379/0"
    servicebus_namespace: str | None = None
    mongo_url: str = "mongodb://127.0.0.1:27017"
    mongo_database: str = "fabrikam"
    mongo_cosmos_shard_on_tag: bool = False

    lock_seconds: float = Field(default=30.0, gt=0)
    max_delivery_count: int = Field(default=10, ge=1)
    duplicate_window_seconds: int = Field(default=86_400, ge=1)
    concurrency: int = Field(default=32, ge=1)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    pool_size: int = Field(default=64, ge=1)
    pool_wait_seconds: float = Field(default=2.0, gt=0)
    outbound_timeout_seconds: float = Field(default=5.0, gt=0)

    rate_limit_per_second: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=100, ge=1)

    weather_url: str | None = None
    weather_fallback_max_age_seconds: float = Field(default=1800.0, ge=0)
    search_radius_km: float = Field(default=50.0, gt=0)
    min_battery_percent: float = Field(default=30.0, ge=0, le=100)

    otlp_endpoint: str | None = None
