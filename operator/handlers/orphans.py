"""Azure resources the spec stopped naming, released as deleting their owner would release them.

A DroneService that turns `identity.azure` off loses its managed identity, federated credential and grants. A
DeliveryPlatform that drops `spec.cache.redis` or `spec.messaging.serviceBus` loses that store, and one that drops
`spec.azure` loses all it had in Azure, its services' identities first. Exactly as on deletion of the owner: stores
go by the deletionPolicy, identities always, and `reconcile-policy: detach-on-delete` leaves everything in Azure. A
finalizer comes off only once Azure confirmed, or once nothing is left to release.

Azure Service Operator gives each Azure resource an object of its own, so a resource no longer wanted is an object
deleted: its reconcile-policy honoured, its finalizer held until ARM answers 404. A store or identity dropped from
our specs is treated the same way. Where the resources live (subscription, resource group) and the deletionPolicy
are known, once `spec.azure` is gone, only from the spec the operator last handled: kopf passes it as `old` and keeps
it in its last-handled-configuration annotation, which moves on only when the handler succeeds. The handler fails
(TemporaryError) until all is released, so that spec outlives retries and operator restarts; `status.azureResources`
would not do (rewritten by every pass, without the deletionPolicy), and ASO keeps such a record on the object too
(its `serviceoperator.azure.com/resource-id` annotation).
"""

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

import kopf
from pydantic import ValidationError

from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.azure import AzureOutcome, ResourceResult, delete_service_identity
from fabrikam.operator.azure.desired import unnamed_stores
from fabrikam.operator.azure.provision import delete_resources
from fabrikam.operator.handlers import cloud, indexes
from fabrikam.operator.handlers.conditions import AZURE_ERROR
from fabrikam.operator.handlers.runtime import Runtime


def _holds(body: dict[str, Any]) -> bool:
    return cloud.FINALIZER in (body["metadata"].get("finalizers") or [])


def _unconfirmed(
    runtime: Runtime, body: dict[str, Any], results: Sequence[ResourceResult], what: str
) -> kopf.TemporaryError:
    """What to retry with: Azure's words for the first resource not released yet (an Event when a person must act)."""
    outcome = AzureOutcome.of(results)
    waiting = outcome.degraded or next(r for r in results if not r.ok)
    if outcome.degraded is not None:
        kopf.warn(indexes.as_body(body), reason=AZURE_ERROR, message=outcome.degraded.describe_failure())
    detail = f"{waiting.kind} {waiting.name}: {waiting.error_message or waiting.provisioning_state}"
    return kopf.TemporaryError(
        f"Azure has not confirmed the release of {what} yet: {detail}", delay=runtime.settings.azure_retry_seconds
    )


def _released(body: dict[str, Any], results: Iterable[ResourceResult], what: str) -> None:
    deleted = [r.id for r in results if r.changed]
    if deleted:
        kopf.event(
            indexes.as_body(body), type="Normal", reason="AzureReleased", message=f"{what}: " + ", ".join(deleted)
        )


async def release_identity(
    runtime: Runtime,
    body: dict[str, Any],
    svc: DroneService,
    platform: DeliveryPlatform,
    platform_body: dict[str, Any] | None,
) -> None:
    """A service whose spec no longer asks for an Azure identity: the one it still holds (and the grants) go, then
    the finalizer; raises kopf.TemporaryError until Azure confirmed. With its platform's `spec.azure` gone the
    platform releases it (`release_platform`): only its last handled spec knows where the identity lives."""
    if svc.spec.identity.azure or not _holds(body) or platform.spec.azure is None:
        return
    if cloud.policy(body, platform_body) != cloud.DETACH_ON_DELETE:
        result = await delete_service_identity(svc, platform, runtime.azure.for_platform(platform))
        if not result.ready:
            raise _unconfirmed(runtime, body, result.resources, "the identity spec.identity.azure no longer asks for")
        _released(body, result.resources, "spec.identity.azure is false; deleted the service's identity")
    await cloud.remove_finalizer(runtime.kube(), body)


def platform_releases(platform: DeliveryPlatform, platform_body: dict[str, Any] | None) -> bool:
    """Whether the platform dropped `spec.azure` and is still releasing its services' identities: only its last
    handled spec says where they live, so a service being deleted waits for it instead of leaving its identity."""
    return platform.spec.azure is None and platform_body is not None and _holds(platform_body)


def _last_handled(body: dict[str, Any], old: dict[str, Any] | None) -> DeliveryPlatform | None:
    """The platform as the operator last handled it, when that spec had Azure resources."""
    spec = (old or {}).get("spec") or {}
    if not spec.get("azure"):
        return None
    try:
        return DeliveryPlatform.model_validate({"metadata": body["metadata"], "spec": spec})
    except ValidationError:
        return None


def _coordinates(platform: DeliveryPlatform) -> tuple[str, str] | None:
    azure = platform.spec.azure
    return (azure.subscription_id.casefold(), azure.resource_group.casefold()) if azure else None


async def _release_identities(
    runtime: Runtime,
    previous: DeliveryPlatform,
    services: Iterable[dict[str, Any]],
    platform_body: dict[str, Any],
    *,
    unhold: bool,
) -> list[ResourceResult]:
    """The identities the platform's services hold where `previous` put them, concurrently (the subscription's rate
    limits pace the calls); `unhold`: their finalizers too, once Azure confirmed."""

    async def release(service: dict[str, Any]) -> list[ResourceResult]:
        results: list[ResourceResult] = []
        if cloud.policy(service, platform_body) != cloud.DETACH_ON_DELETE:
            clients = runtime.azure.for_platform(previous)
            results = list(
                (await delete_service_identity(runtime.models.service(service), previous, clients)).resources
            )
        if unhold and all(r.ok for r in results):
            await cloud.remove_finalizer(runtime.kube(), service)
        return results

    released = await asyncio.gather(*(release(s) for s in services if _holds(s)))
    return [r for results in released for r in results]


async def release_platform(
    runtime: Runtime,
    body: dict[str, Any],
    old: dict[str, Any] | None,
    services: Iterable[dict[str, Any]],
    logger: kopf.Logger,
) -> bool:
    """What the platform's last handled spec (`old`) had in Azure and its spec no longer names: the services'
    identities when `spec.azure` went (or moved), then the dropped stores. Raises kopf.TemporaryError until Azure
    confirmed; True once `spec.azure` is gone and released, finalizers included."""
    if not _holds(body):
        return False
    try:
        current = runtime.models.platform(body)
    except ValidationError:
        return False  # reported by the reconcile; nothing is decided on a spec that does not parse
    previous = _last_handled(body, old)
    if previous is None:
        return current.spec.azure is None and await _unknown(runtime, body, logger)
    detach = cloud.policy(body) == cloud.DETACH_ON_DELETE
    gone = current.spec.azure is None
    results: list[ResourceResult] = []
    if _coordinates(previous) != _coordinates(current):
        results = await _release_identities(runtime, previous, services, body, unhold=gone)
        if not all(r.ok for r in results):
            raise _unconfirmed(runtime, body, results, "the identities of the platform's services")
    stores = unnamed_stores(previous, current)
    if stores and not detach:
        deleted = await delete_resources(stores, runtime.azure.for_platform(previous))
        if not deleted.ready:
            raise _unconfirmed(runtime, body, deleted.resources, "the Azure resources the spec no longer names")
        results += deleted.resources
    _released(body, results, "released what the spec no longer names")
    if not gone:
        return False
    await cloud.remove_finalizer(runtime.kube(), body)
    logger.info("spec.azure removed: its Azure resources are deleted or retained per deletionPolicy")
    return True


async def _unknown(runtime: Runtime, body: dict[str, Any], logger: kopf.Logger) -> bool:
    """Holding the finalizer without `spec.azure` in the spec last handled either (kopf's record lost, or the
    spec dropped by an operator before this one): nothing says where the resources live nor what the deletionPolicy
    was, so they are left, as Retain would, and named for a person to decide."""
    left = [r.get("id") or r.get("name") for r in (body.get("status") or {}).get("azureResources", [])]
    message = "spec.azure is gone and its last coordinates are unknown: Azure resources are left in place"
    kopf.warn(indexes.as_body(body), reason="AzureResourcesLeft", message=f"{message}: {', '.join(map(str, left))}")
    await cloud.remove_finalizer(runtime.kube(), body)
    logger.warning(message)
    return True
