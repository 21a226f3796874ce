"""Operator settings from the environment (FABRIKAM_OPERATOR_*)."""

from pydantic_settings import BaseSettings, SettingsConfigDict

from fabrikam.operator.api import OPERATOR_NAME


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FABRIKAM_OPERATOR_")

    resync_seconds: float = 300.0
    """Period of the idle re-check of every object; it sends nothing when nothing drifted."""
    full_resync_seconds: float = 3600.0
    """Period of the re-check that reads every child from the API server instead of trusting what the watches showed:
    a child deleted while a watch was down (an API server restart) sends no event, and only a read finds it gone."""
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
    """Base of the delay before the next attempt while Azure resources are still provisioning or Azure failed
    transiently; it doubles with each consecutive attempt (with jitter) up to `azure_retry_max_seconds`."""
    azure_retry_max_seconds: float = 600.0
    """Longest delay between two attempts of an object whose Azure resources are not ready yet."""
    azure_problem_after_passes: int = 5
    """Consecutive Azure passes ending in a retriable failure (throttled, Azure unavailable, a permission missing)
    before it is reported as a condition: with the default delays, about 2 minutes on average, 4 at most."""
    azure_write_burst: float = 100.0
    """Writes (and, separately, deletes) sent at once per subscription before the limiter paces them; ARM allows
    200 per subscription and principal."""
    azure_writes_per_second: float = 8.0
    """Sustained writes (and deletes) per second and subscription; ARM refills 10 per second."""
    azure_read_burst: float = 200.0
    """Reads sent at once per subscription before the limiter paces them; ARM allows 250."""
    azure_reads_per_second: float = 20.0
    """Sustained reads per second and subscription, LRO polls included; ARM refills 25 per second."""
    azure_max_in_flight: int = 32
    """Requests to Resource Manager awaiting their answer at the same time, per subscription."""
    key_file: str | None = None
    """The operator's own secret key (the chart mounts it from a Secret): the in-cluster Redis's passwords are
    derived from it. None: `$XDG_STATE_HOME/fabrikam/operator.key`, created on first use (a process outside the
    cluster keeps the same passwords across restarts)."""
    discovery_seconds: float = 60.0
    """How long what the API server serves of the optional kinds (the Prometheus Operator's PrometheusRule, PodMonitor
    and AlertmanagerConfig) is trusted before it is read again: a CRD installed or removed is followed within it."""
    status_coalesce_seconds: float = 1.0
    """How long a DroneService's status waits after its Deployment moved, so that a rollout's many small steps
    (pods created, ready, available) become one status write instead of one each."""
    leader_election: bool = False
    """Run kopf only while holding the Lease `lease_name` (two replicas, one active); off: kopf alone (one process,
    local development and tests)."""
    lease_name: str = OPERATOR_NAME
    lease_namespace: str | None = None
    """Namespace of the Lease; None: the pod's own (from its ServiceAccount mount)."""
    lease_duration_seconds: float = 8.0
    """How long a lease lasts unrenewed: a standby takes over at most this plus `lease_retry_seconds` after the
    leader died."""
    lease_renew_deadline_seconds: float = 6.0
    """How long the leader keeps failing to renew before it stops (exits) on its own."""
    lease_retry_seconds: float = 1.0
    """How often the leader renews and a standby tries."""
