"""Operator settings from the environment (FABRIKAM_OPERATOR_*)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FABRIKAM_OPERATOR_")

    resync_seconds: float = 300.0
    """Period of the idle re-check of every object; it sends nothing when nothing drifted."""
    metrics_port: int = 8080
    """Prometheus metrics (0 disables the endpoint)."""
    apply_concurrency: int = 8
    """Parallel requests per object while applying its children."""
    kubeconfig: str | None = None
    """Outside the cluster: the kubeconfig to use ($KUBECONFIG otherwise)."""
