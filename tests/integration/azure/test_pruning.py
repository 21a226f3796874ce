"""What the spec stops asking for goes away in Azure too: grants a service no longer needs, queues the platform no
longer lists, a cache or Service Bus (or all of spec.azure) the platform dropped, each store by its deletionPolicy.
Only the operator's own grants are touched; one granted by hand stays."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.azure import Kind, reconcile_platform, reconcile_service_identity
from fabrikam.operator.azure.desired import SERVICE_BUS_DATA_RECEIVER, SERVICE_BUS_DATA_SENDER, unnamed_stores
from fabrikam.operator.azure.provision import delete_resources, delete_service_identity

QUEUE = "delivery-requests"


def _grants(fake_arm: Any) -> list[tuple[str, str]]:
    """(scope tail, role) of every role assignment Azure holds."""
    found = []
    for path in fake_arm.paths("Microsoft.Authorization/roleAssignments"):
        properties = fake_arm.get(path)["properties"]
        found.append((properties["scope"].rsplit("/", 1)[-1], properties["roleDefinitionId"][-36:]))
    return sorted(found)


def _with_queues(make_platform: Any, *names: str, **azure: Any) -> DeliveryPlatform:
    body = make_platform(**azure).model_dump(mode="json", by_alias=True, exclude_none=True)
    body["spec"]["messaging"]["serviceBus"]["queues"] = [{"name": name} for name in names]
    # Granted to the shipping team too, whose own services use them here (and dropped with them).
    shipping = next(team for team in body["spec"]["teams"] if team["name"] == "shipping")
    shipping["queues"] = [{"name": name, "access": ["send", "receive"]} for name in names]
    return DeliveryPlatform.model_validate(body)


async def _grant_by_hand(azure: Any, scope: str, principal_id: str, role: str) -> None:
    body = {
        "properties": {
            "roleDefinitionId": f"/subscriptions/{azure.subscription_id}/providers/Microsoft.Authorization/"
            f"roleDefinitions/{role}",
            "principalId": principal_id,
            "principalType": "ServicePrincipal",
            "description": "granted by the on-call engineer",
        }
    }
    await azure.authorization.role_assignments.create(scope, "00000000-0000-0000-0000-0000000000aa", body)


async def test_grants_the_uses_no_longer_need_are_revoked_and_a_hand_made_one_stays(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    both = make_service("returns", uses=[{"kind": "queue", "name": QUEUE}, {"kind": "redis", "name": "cache"}])
    first = await reconcile_service_identity(both, platform, azure)
    assert first.ready
    assert first.principal_id is not None
    ours = fake_arm.get(fake_arm.paths("Microsoft.Authorization/roleAssignments")[0])["properties"]["scope"]
    await _grant_by_hand(azure, ours.replace(QUEUE, "workflow-events"), first.principal_id, SERVICE_BUS_DATA_SENDER)
    assert len(fake_arm.paths("Microsoft.Cache/redis/accessPolicyAssignments")) == 1

    receive_only = make_service("returns", uses=[{"kind": "queue", "name": QUEUE, "access": ["receive"]}])
    shrunk = await reconcile_service_identity(receive_only, platform, azure)
    writes = len(fake_arm.writes())
    again = await reconcile_service_identity(receive_only, platform, azure)

    assert shrunk.ready
    assert sorted(r.kind for r in shrunk.removed) == [
        Kind.REDIS_ACCESS_POLICY,
        Kind.REDIS_ACCESS_POLICY_ASSIGNMENT,
        Kind.ROLE_ASSIGNMENT,
    ]
    assert _grants(fake_arm) == sorted(
        [(QUEUE, SERVICE_BUS_DATA_RECEIVER), ("workflow-events", SERVICE_BUS_DATA_SENDER)]
    )
    assert fake_arm.paths("Microsoft.Cache/redis/accessPolicyAssignments") == []
    assert again.ready
    assert again.removed == ()
    assert len(fake_arm.writes()) == writes


async def test_a_queue_dropped_from_the_platform_takes_the_grants_on_it_along(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    with_returns = _with_queues(make_platform, QUEUE, "returns", deletionPolicy="Delete")
    await reconcile_platform(with_returns, azure)
    svc = make_service("returns", uses=[{"kind": "queue", "name": "returns"}])
    granted = await reconcile_service_identity(svc, with_returns, azure)
    assert granted.ready
    assert _grants(fake_arm) == sorted([("returns", SERVICE_BUS_DATA_SENDER), ("returns", SERVICE_BUS_DATA_RECEIVER)])

    without = _with_queues(make_platform, QUEUE, deletionPolicy="Delete")
    revoked = await reconcile_service_identity(svc, without, azure)
    platform = await reconcile_platform(without, azure)

    assert len(revoked.removed) == 2
    assert _grants(fake_arm) == []
    assert [r.name for r in platform.removed] == ["returns"]
    assert platform.ready
    assert all(not p.endswith("/queues/returns") for p in fake_arm.paths("Microsoft.ServiceBus/namespaces/queues"))
    deletes = fake_arm.calls("DELETE", "/queues/returns")
    assert deletes
    assert not (await reconcile_platform(without, azure)).removed


async def test_a_queue_dropped_under_retain_is_kept_and_reported(fake_arm: Any, azure: Any, make_platform: Any) -> None:
    await reconcile_platform(_with_queues(make_platform, QUEUE, "returns", deletionPolicy="Retain"), azure)

    outcome = await reconcile_platform(_with_queues(make_platform, QUEUE, deletionPolicy="Retain"), azure)

    [kept] = [r for r in outcome.resources if r.name == "returns"]
    assert kept.provisioning_state == "Retained"
    assert "deletionPolicy Retain" in (kept.error_message or "")
    assert outcome.ready
    assert outcome.removed == ()
    assert fake_arm.calls("DELETE") == []
    assert any(p.endswith("/queues/returns") for p in fake_arm.paths("Microsoft.ServiceBus/namespaces/queues"))


async def test_deleting_a_service_revokes_its_grants_even_under_another_name(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    svc = make_service("returns", uses=[{"kind": "queue", "name": QUEUE, "access": ["send"]}])
    await reconcile_service_identity(svc, platform, azure)
    [ours] = fake_arm.paths("Microsoft.Authorization/roleAssignments")
    renamed = ours.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000001"
    fake_arm.resources[renamed.lower()] = fake_arm.resources.pop(ours.lower())
    fake_arm.resources[renamed.lower()].json.update(id=renamed, name=renamed.rsplit("/", 1)[-1])
    assert (await reconcile_service_identity(svc, platform, azure)).removed == ()

    deleted = await delete_service_identity(svc, platform, azure)

    assert deleted.ready
    assert fake_arm.paths("Microsoft.Authorization/roleAssignments") == []
    assert fake_arm.paths("Microsoft.ManagedIdentity/userAssignedIdentities") == []


def _dropped(platform: DeliveryPlatform, *path: str) -> DeliveryPlatform:
    """The platform with the spec field at `path` (e.g. "cache", "redis") removed."""
    body = platform.model_dump(mode="json", by_alias=True, exclude_none=True)
    parent = body["spec"]
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return DeliveryPlatform.model_validate(body)


async def test_a_cache_dropped_from_the_spec_is_deleted_and_only_once_azure_confirms(
    fake_arm: Any, make_platform: Any, make_clients: Any
) -> None:
    platform = make_platform(deletionPolicy="Delete")
    without = _dropped(platform, "cache", "redis")
    async with make_clients() as clients:
        [cache] = [r.id for r in (await reconcile_platform(platform, clients)).resources if r.kind == Kind.REDIS_CACHE]
    fake_arm.lro_seconds = 1.0

    async with make_clients(lro_timeout=0.2) as clients:
        first = await delete_resources(unnamed_stores(platform, without), clients)
        assert not first.ready
        assert fake_arm.get(cache) is not None
        outcome, deadline = first, time.monotonic() + 20
        while not outcome.ready and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            outcome = await delete_resources(unnamed_stores(platform, without), clients)
        after = await reconcile_platform(without, clients)

    assert [(r.id, r.provisioning_state) for r in outcome.resources] == [(cache, "Deleted")]
    assert fake_arm.get(cache) is None
    assert [r.path for r in fake_arm.calls("DELETE")] == [cache]
    # The platform's other stores stay as they were.
    assert after.ready
    assert not after.changed
    assert len(fake_arm.paths("Microsoft.ServiceBus/namespaces")) == 1


async def test_a_service_bus_dropped_under_retain_is_kept_with_its_queues(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    held = fake_arm.paths("Microsoft.ServiceBus/namespaces/queues") + fake_arm.paths("Microsoft.ServiceBus/namespaces")
    writes = len(fake_arm.writes())

    outcome = await delete_resources(unnamed_stores(platform, _dropped(platform, "messaging", "serviceBus")), azure)

    assert outcome.ready
    assert {(r.kind, r.provisioning_state) for r in outcome.resources} == {
        (Kind.SERVICE_BUS_NAMESPACE, "Retained"),
        (Kind.SERVICE_BUS_QUEUE, "Retained"),
    }
    assert sorted(r.id for r in outcome.resources) == sorted(held)
    assert len(fake_arm.writes()) == writes


async def test_without_spec_azure_every_store_goes_by_the_last_known_policy(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    platform = make_platform(deletionPolicy="Delete")
    created = await reconcile_platform(platform, azure)

    outcome = await delete_resources(unnamed_stores(platform, _dropped(platform, "azure")), azure)

    assert outcome.ready
    assert {r.provisioning_state for r in outcome.resources} == {"Deleted"}
    assert [fake_arm.get(r.id) for r in created.resources] == [None] * len(created.resources)
    assert sorted(r.path for r in fake_arm.calls("DELETE")) == sorted(r.id for r in created.resources)
