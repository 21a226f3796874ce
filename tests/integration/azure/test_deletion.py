"""Given a deleted platform or service, Azure resources are deleted or retained per policy, and deletion is only
reported done (so the finalizer may go) once Azure confirms the resource is gone."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fabrikam.operator.azure import (
    Kind,
    delete_platform,
    delete_service_identity,
    reconcile_platform,
    reconcile_service_identity,
)

SENDS = {"kind": "queue", "name": "delivery-requests", "access": ["send"]}
RECEIVES = {"kind": "queue", "name": "delivery-requests", "access": ["receive"]}


def _identities_and_grants(fake_arm: Any) -> list[str]:
    """Every identity, federated credential and grant Azure holds."""
    kinds = (
        "Microsoft.Authorization/roleAssignments",
        "Microsoft.Cache/redis/accessPolicyAssignments",
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
    )
    return [path for kind in kinds for path in fake_arm.paths(kind)]


async def test_data_stores_are_retained_by_default(fake_arm: Any, azure: Any, make_platform: Any) -> None:
    platform = make_platform()
    created = await reconcile_platform(platform, azure)

    outcome = await delete_platform(platform, azure)

    assert outcome.ready
    assert {r.provisioning_state for r in outcome.resources} == {"Retained"}
    assert fake_arm.calls("DELETE") == []
    assert all(fake_arm.get(r.id) is not None for r in created.resources)


async def test_delete_policy_reports_done_only_once_azure_confirms(
    fake_arm: Any, make_platform: Any, make_clients: Any
) -> None:
    platform = make_platform(deletionPolicy="Delete")
    async with make_clients() as clients:
        created = await reconcile_platform(platform, clients)
    namespace, *queues, redis = (r.id for r in created.resources)
    fake_arm.lro_seconds = 1.5

    async with make_clients(lro_timeout=0.3) as clients:
        first = await delete_platform(platform, clients)
        assert not first.ready
        assert first.requeue
        states = {r.kind: r.provisioning_state for r in first.resources}
        assert states[Kind.SERVICE_BUS_QUEUE] == "Deleted"
        assert states[Kind.SERVICE_BUS_NAMESPACE] == "InProgress"
        assert fake_arm.get(namespace) is not None
        end = time.monotonic() + 20
        outcome = first
        while not outcome.ready and time.monotonic() < end:
            await asyncio.sleep(0.1)
            outcome = await delete_platform(platform, clients)

    assert outcome.ready
    assert {r.provisioning_state for r in outcome.resources} == {"Deleted"}
    assert [fake_arm.get(path) for path in (namespace, *queues, redis)] == [None] * (2 + len(queues))
    deletes = [r.path for r in fake_arm.calls("DELETE")]
    assert sorted(deletes) == sorted([*queues, namespace, redis])
    assert all(deletes.index(queue) < deletes.index(namespace) for queue in queues)


async def test_deleting_what_is_already_gone_is_done_without_a_delete(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform(deletionPolicy="Delete")

    assert (await delete_platform(platform, azure)).ready
    assert (await delete_service_identity(make_service("returns"), platform, azure)).ready
    assert fake_arm.calls("DELETE") == []


async def test_service_deletion_removes_grants_before_the_identity_and_leaves_no_orphan(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    delivery = make_service(
        "delivery",
        component="delivery",
        uses=[{"kind": "redis", "name": "delivery"}, {"kind": "queue", "name": "delivery-requests"}],
    )
    created = await reconcile_service_identity(delivery, platform, azure)
    assert created.ready

    outcome = await delete_service_identity(delivery, platform, azure)

    assert outcome.ready
    assert {r.provisioning_state for r in outcome.resources} == {"Deleted"}
    assert {r.kind for r in outcome.resources} == {
        Kind.IDENTITY,
        Kind.FEDERATED_CREDENTIAL,
        Kind.ROLE_ASSIGNMENT,
        Kind.REDIS_ACCESS_POLICY_ASSIGNMENT,
    }
    assert _identities_and_grants(fake_arm) == []
    deletes = [r.path.lower() for r in fake_arm.calls("DELETE")]
    identity = next(i for i, p in enumerate(deletes) if p.endswith("/userassignedidentities/id-prod-shipping-delivery"))
    grants = [i for i, p in enumerate(deletes) if "/roleassignments/" in p or "/accesspolicyassignments/" in p]
    assert len(grants) == 3
    assert max(grants) < identity
    # The data stores the platform retains are untouched.
    assert len(fake_arm.paths("Microsoft.Cache/redis")) == 1


async def test_a_failed_grant_deletion_keeps_the_identity(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    ingestion = make_service("ingestion", component="ingestion", uses=[SENDS])
    await reconcile_service_identity(ingestion, platform, azure)
    fake_arm.inject("DELETE", "/roleAssignments/", 403, code="AuthorizationFailed", times=None)

    outcome = await delete_service_identity(ingestion, platform, azure)

    assert not outcome.ready
    # Retried or Degraded (errors.py decides), never the identity deleted from under a grant still in place.
    assert [r.error_code for r in outcome.resources if r.failed] == ["AuthorizationFailed"]
    assert len(fake_arm.paths("Microsoft.ManagedIdentity/userAssignedIdentities")) == 1
    assert fake_arm.calls("DELETE", "/userAssignedIdentities/") == []


async def test_a_service_that_turned_its_identity_off_still_has_what_it_held_deleted(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    uses = [{"kind": "redis", "name": "cache"}, {"kind": "queue", "name": "delivery-requests"}]
    created = await reconcile_service_identity(make_service("returns", uses=uses), platform, azure)
    assert created.ready
    turned_off = make_service("returns", uses=uses).model_copy(deep=True)
    turned_off.spec.identity.azure = False

    outcome = await delete_service_identity(turned_off, platform, azure)

    assert outcome.ready
    assert {r.provisioning_state for r in outcome.resources} == {"Deleted"}
    assert _identities_and_grants(fake_arm) == []
    assert [
        p["properties"]["type"] for p in map(fake_arm.get, fake_arm.paths("Microsoft.Cache/redis/accessPolicies"))
    ] == ["BuiltIn"] * 3
