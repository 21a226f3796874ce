"""The Azure side of the reconciles: clients per subscription, the cleanup finalizer, the pause annotation.

Modelled on Azure Service Operator: the finalizer is on the object before the first PUT and comes off only when
Azure confirmed the deletion (or the resources are retained); `reconcile-policy: skip` pauses the Azure side and
`detach-on-delete` leaves the resources in Azure when the object goes.
"""

from dataclasses import dataclass
from typing import Any

import kopf
from azure.core.credentials_async import AsyncTokenCredential

from fabrikam.operator.api import GROUP, DeliveryPlatform, Problem
from fabrikam.operator.apply.client import ApiError, KubeApi
from fabrikam.operator.azure import (
    AzureClients,
    AzureOutcome,
    AzureSettings,
    RateLimits,
    TokenFileCredential,
    default_credential,
    lasting_problem,
    next_failed_passes,
    retry_delay,
)
from fabrikam.operator.handlers.conditions import AZURE_ERROR, AZURE_REASONS
from fabrikam.operator.handlers.settings import OperatorSettings

FINALIZER = f"{GROUP}/azure-resources"
# Held while `reconcile-policy: detach-on-delete` asks the operator to unlink the children before the owner goes.
DETACH_FINALIZER = f"{GROUP}/detach-children"
RECONCILE_POLICY = f"{GROUP}/reconcile-policy"
SKIP, DETACH_ON_DELETE = "skip", "detach-on-delete"


def policy(*bodies: dict[str, Any] | None) -> str:
    """The first reconcile-policy annotation among the bodies (a service's own, then its platform's)."""
    for body in bodies:
        value = (body or {}).get("metadata", {}).get("annotations", {}).get(RECONCILE_POLICY)
        if value:
            return str(value)
    return "manage"


def _credential(settings: OperatorSettings) -> AsyncTokenCredential:
    token_file = settings.azure_token_file
    return TokenFileCredential(token_file) if token_file else default_credential()


def _azure_settings(settings: OperatorSettings) -> AzureSettings:
    return AzureSettings(
        base_url=settings.azure_base_url,
        connection_verify=settings.azure_ca_bundle or True,
        polling_interval=settings.azure_polling_seconds,
        limits=RateLimits(
            write_burst=settings.azure_write_burst,
            writes_per_second=settings.azure_writes_per_second,
            read_burst=settings.azure_read_burst,
            reads_per_second=settings.azure_reads_per_second,
            max_in_flight=settings.azure_max_in_flight,
        ),
    )


class AzureClientPool:
    """The operator's one credential and the clients of each subscription it reached, for the process lifetime:
    a token request and new TLS sessions per reconcile cost Entra and ARM calls for nothing, and the subscription's
    rate limiter only paces what goes through it."""

    def __init__(self, settings: OperatorSettings) -> None:
        self.settings = settings
        self.credential: AsyncTokenCredential | None = None
        self.by_subscription: dict[str, AzureClients] = {}

    def of(self, subscription_id: str) -> AzureClients:
        clients = self.by_subscription.get(subscription_id)
        if clients is None:
            if self.credential is None:
                self.credential = _credential(self.settings)
            clients = AzureClients(self.credential, subscription_id, _azure_settings(self.settings))
            self.by_subscription[subscription_id] = clients
        return clients

    def for_platform(self, platform: DeliveryPlatform) -> AzureClients:
        """The clients of the platform's subscription (a platform with `spec.azure`)."""
        azure = platform.spec.azure
        assert azure is not None
        return self.of(azure.subscription_id)

    async def close(self) -> None:
        """Closes every subscription's clients and the credential: at operator shutdown."""
        clients, self.by_subscription = list(self.by_subscription.values()), {}
        credential, self.credential = self.credential, None
        for each in clients:
            await each.close()
        if credential is not None:
            await credential.close()


def holds_finalizer(body: kopf.Body, **_: Any) -> bool:
    """kopf filter: only objects with Azure resources to release get a deletion handler (and kopf's finalizer)."""
    return FINALIZER in (body.get("metadata") or {}).get("finalizers", [])


def holds_detach_finalizer(body: kopf.Body, **_: Any) -> bool:
    """kopf filter: objects whose children are to be detached when they go."""
    return DETACH_FINALIZER in (body.get("metadata") or {}).get("finalizers", [])


async def ensure_finalizer(api: KubeApi, body: dict[str, Any], finalizer: str = FINALIZER) -> None:
    """Puts our finalizer on before anything exists in Azure, so a deletion can never orphan a resource.

    The patch first tests the finalizers as read (a `null` test passes only while the list is absent, as the API
    server's JSON patch implements it: evanphx/json-patch), so a finalizer someone added meanwhile is neither
    overwritten nor duplicated; when they changed, the handler is retried with the object as it is now."""
    metadata = body["metadata"]
    finalizers = list(metadata.get("finalizers", []))
    if finalizer in finalizers:
        return
    operations: list[dict[str, Any]]
    if "finalizers" in metadata:
        operations = [
            {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
            {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
        ]
    else:
        operations = [
            {"op": "test", "path": "/metadata/finalizers", "value": None},
            {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
        ]
    try:
        await api.json_patch(body, operations)
    except ApiError as error:
        if error.status != 422:
            raise
        raise kopf.TemporaryError("the finalizers changed while ours was being added; retrying", delay=1) from error
    metadata["finalizers"] = [*finalizers, finalizer]


async def remove_finalizer(api: KubeApi, body: dict[str, Any], finalizer: str = FINALIZER) -> None:
    finalizers = list(body["metadata"].get("finalizers", []))
    if finalizer in finalizers:
        path = f"/metadata/finalizers/{finalizers.index(finalizer)}"
        await api.json_patch(body, [{"op": "test", "path": path, "value": finalizer}, {"op": "remove", "path": path}])
        body["metadata"]["finalizers"] = [f for f in finalizers if f != finalizer]


@dataclass(frozen=True)
class AzureVerdict:
    """What one Azure pass means for an owner's conditions and its next attempt."""

    problems: list[Problem]  # Degraded: a failure a person must fix, or a retriable one that lasted
    waiting: str | None  # not Ready yet: still provisioning, or failing in a way that may clear by itself
    failed_passes: int  # consecutive passes with a retriable failure, this one included


def retry_in(failed_passes: int, settings: OperatorSettings) -> float:
    """Seconds to the next Azure attempt: exponential with full jitter over consecutive failures, so a throttled or
    failing subscription is not hammered every few seconds."""
    return retry_delay(failed_passes, base=settings.azure_retry_seconds, cap=settings.azure_retry_max_seconds)


def verdict(result: AzureOutcome, previous_failed_passes: int, still: str, *, after_passes: int) -> AzureVerdict:
    """`result` of an Azure pass as conditions: a failure only a person can fix is `AzureError` at once; a retriable
    one (throttling, an outage, a permission or a parent not there yet) is "waiting" with Azure's words, and becomes
    Degraded (`AzureThrottled`, `AzureUnavailable`, else `AzureError`) once it lasted `after_passes` passes."""
    passes = next_failed_passes(previous_failed_passes, result)
    if result.degraded is not None:
        return AzureVerdict([Problem(AZURE_ERROR, result.degraded.describe_failure())], None, passes)
    problems: list[Problem] = []
    lasting = lasting_problem(result, passes, after_passes=after_passes)
    if lasting is not None:
        problems.append(lasting if lasting.reason in AZURE_REASONS else Problem(AZURE_ERROR, lasting.message))
    waiting = None
    if result.requeue:
        waiting = result.problem.message if result.problem is not None else still
    return AzureVerdict(problems, waiting, passes)
