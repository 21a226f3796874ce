"""Azure provisioning: desired resources (pure), and their reconciliation through the azure-mgmt `.aio` clients.

The handlers call `reconcile_platform` / `delete_platform`, `reconcile_on_call_reader` / `delete_on_call_reader`
(the identity reading the platform's on-call key) and `reconcile_service_identity` / `delete_service_identity` with
an `AzureClients` for the platform's subscription, and read the returned outcome:
`degraded` (needs a person now), `problem` (retried, shown once `lasting_problem` says it lasted), `requeue` (come
back after `retry_delay`). With `spec.recovery`, `assess` judges a platform pass' `recovery_evidence` against the
targets; `fail_over` is the Service Bus failover a person runs (docs/runbooks/disaster-recovery.md).
"""

from fabrikam.operator.azure.adapters import fail_over
from fabrikam.operator.azure.backoff import retry_delay
from fabrikam.operator.azure.clients import AzureClients, AzureSettings, TokenFileCredential, default_credential
from fabrikam.operator.azure.codes import THROTTLED, UNAVAILABLE
from fabrikam.operator.azure.desired import (
    DesiredResource,
    Kind,
    access_resources,
    identity_resources,
    platform_resources,
)
from fabrikam.operator.azure.provision import (
    delete_on_call_reader,
    delete_platform,
    delete_service_identity,
    reconcile_on_call_reader,
    reconcile_platform,
    reconcile_service_identity,
    recovery_evidence,
)
from fabrikam.operator.azure.ratelimit import RateLimits
from fabrikam.operator.azure.recovery import StoreRecovery, assess, shortfall
from fabrikam.operator.azure.results import (
    AzureOutcome,
    IdentityOutcome,
    ResourceResult,
    lasting_problem,
    next_failed_passes,
)

__all__ = [
    "THROTTLED",
    "UNAVAILABLE",
    "AzureClients",
    "AzureOutcome",
    "AzureSettings",
    "DesiredResource",
    "IdentityOutcome",
    "Kind",
    "RateLimits",
    "ResourceResult",
    "StoreRecovery",
    "TokenFileCredential",
    "access_resources",
    "assess",
    "default_credential",
    "delete_on_call_reader",
    "delete_platform",
    "delete_service_identity",
    "fail_over",
    "identity_resources",
    "lasting_problem",
    "next_failed_passes",
    "platform_resources",
    "reconcile_on_call_reader",
    "reconcile_platform",
    "reconcile_service_identity",
    "recovery_evidence",
    "retry_delay",
    "shortfall",
]
