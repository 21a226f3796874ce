"""The Azure side of the reconciles: clients per subscription, the cleanup finalizer, the pause annotation.

Modelled on Azure Service Operator: the finalizer is on the object before the first PUT and comes off only when
Azure confirmed the deletion (or the resources are retained); `reconcile-policy: skip` pauses the Azure side and
`detach-on-delete` leaves the resources in Azure when the object goes.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import kopf
from azure.core.credentials_async import AsyncTokenCredential

from fabrikam.operator.api import GROUP, DeliveryPlatform
from fabrikam.operator.azure import AzureClients, AzureSettings, TokenFileCredential, default_credential
from fabrikam.operator.handlers.runtime import RUNTIME

FINALIZER = f"{GROUP}/azure-resources"
RECONCILE_POLICY = f"{GROUP}/reconcile-policy"
SKIP, DETACH_ON_DELETE = "skip", "detach-on-delete"


def policy(*bodies: dict[str, Any] | None) -> str:
    """The first reconcile-policy annotation among the bodies (a service's own, then its platform's)."""
    for body in bodies:
        value = (body or {}).get("metadata", {}).get("annotations", {}).get(RECONCILE_POLICY)
        if value:
            return str(value)
    return "manage"


def _credential() -> AsyncTokenCredential:
    token_file = RUNTIME.settings.azure_token_file
    return TokenFileCredential(token_file) if token_file else default_credential()


@asynccontextmanager
async def clients_for(platform: DeliveryPlatform) -> AsyncIterator[AzureClients]:
    azure = platform.spec.azure
    assert azure is not None
    settings = RUNTIME.settings
    credential = _credential()
    azure_settings = AzureSettings(
        base_url=settings.azure_base_url,
        connection_verify=settings.azure_ca_bundle or True,
        polling_interval=settings.azure_polling_seconds,
    )
    try:
        async with AzureClients(credential, azure.subscription_id, azure_settings) as clients:
            yield clients
    finally:
        await credential.close()


def holds_finalizer(body: kopf.Body, **_: Any) -> bool:
    """kopf filter: only objects with Azure resources to release get a deletion handler (and kopf's finalizer)."""
    return FINALIZER in (body.get("metadata") or {}).get("finalizers", [])


async def ensure_finalizer(body: dict[str, Any]) -> None:
    """Puts our finalizer on before anything exists in Azure, so a deletion can never orphan a resource."""
    finalizers = list(body["metadata"].get("finalizers", []))
    if FINALIZER in finalizers:
        return
    operation: dict[str, Any]
    if finalizers:
        operation = {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}
    else:
        operation = {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}
    await RUNTIME.kube().json_patch(body, [operation])
    body["metadata"]["finalizers"] = [*finalizers, FINALIZER]


async def remove_finalizer(body: dict[str, Any]) -> None:
    finalizers = list(body["metadata"].get("finalizers", []))
    if FINALIZER in finalizers:
        path = f"/metadata/finalizers/{finalizers.index(FINALIZER)}"
        await RUNTIME.kube().json_patch(
            body, [{"op": "test", "path": path, "value": FINALIZER}, {"op": "remove", "path": path}]
        )
