"""Operator settings from the environment (FABRIKAM_OPERATOR_*)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FABRIKAM_OPERATOR_")

    resync_seconds: float = 300.0
    """Period of the idle re-check of every object; it sends nothing when nothing drifted."""
    metrics_port: int = 8080
    """Prometheus metrics (0 disables the endpoint)."""
    worker_limit: int = 64
    """Objects of one kind reconciled at the same time."""
    apply_concurrency: int = 8
    """Parallel requests per object while applying its children."""
    kubeconfig: str | None = None
    """Outside the cluster: the kubeconfig to use ($KUBECONFIG otherwise)."""
    azure_recheck_seconds: float = 3600.0
    """Period of the re-check of Azure resources; desired state is PUT again where Azure drifted."""
    azure_base_url: str | None = None
    """Azure Resource Manager endpoint; None is the public cloud (tests point it at a local fake)."""
    azure_ca_bundle: str | None = None
    """A CA bundle to trust for Resource Manager (a private endpoint or the tests' fake)."""
    azure_token_file: str | None = None
    """A file holding a bearer token, instead of the workload identity (development outside Azure)."""
    azure_polling_seconds: float = 10.0
    """Seconds between long-running-operation polls when Azure sends no Retry-After."""
    azure_retry_seconds: float = 15.0
    """Delay before the next attempt while Azure resources are still provisioning or Azure was unreachable."""
    key_file: str | None = None
    """The operator's own secret key (the chart mounts it from a Secret): the in-cluster Redis's passwords are
    derived from it. None: `$XDG_STATE_HOME/fabrikam/operator.key`, created on first use (a process outside the
    cluster keeps the same passwords across restarts)."""
    status_coalesce_seconds: float = 1.0
    """How long a DroneService's status waits after its Deployment moved, so that a rollout's many small steps
    (pods created, ready, available) become one status write instead of one each."""
