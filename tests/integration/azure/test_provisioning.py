"""Given a platform or a service with Azure enabled, the real SDK clients against the fake ARM create exactly the
resources the spec asks for, once, and later passes send nothing unless Azure drifted."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.azure import Kind, platform_resources, reconcile_platform, reconcile_service_identity
from fabrikam.operator.render.catalog import BUNDLED_QUEUES

SENDS = {"kind": "queue", "name": "delivery-requests", "access": ["send"]}
RECEIVES = {"kind": "queue", "name": "delivery-requests", "access": ["receive"]}

SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"


def _puts_per_path(fake_arm: Any) -> Counter[str]:
    return Counter(r.path for r in fake_arm.calls("PUT"))


def _one(fake_arm: Any, last_segments: str) -> Any:
    """The single PUT whose path ends in `last_segments` followed by the rest of a name."""
    [request] = [r for r in fake_arm.calls("PUT") if re.search(re.escape(last_segments) + "[^/]*$", r.path, re.I)]
    return request


def _put_to(fake_arm: Any, resource_id: str) -> Any:
    [request] = [r for r in fake_arm.calls("PUT") if r.path == resource_id]
    return request


async def test_platform_from_scratch_creates_each_resource_once(fake_arm: Any, azure: Any, make_platform: Any) -> None:
    outcome = await reconcile_platform(make_platform(), azure)

    assert outcome.ready, outcome
    queues = [Kind.SERVICE_BUS_QUEUE] * len(BUNDLED_QUEUES)
    assert [r.kind for r in outcome.resources] == [Kind.SERVICE_BUS_NAMESPACE, *queues, Kind.REDIS_CACHE]
    assert set(_puts_per_path(fake_arm).values()) == {1}
    namespace_id, queue_id, *_, redis_id = (r.id for r in outcome.resources)
    namespace = _put_to(fake_arm, namespace_id)
    assert namespace.api_version == "2026-01-01"
    assert namespace.body["sku"] == {"name": "Premium", "tier": "Premium", "capacity": 1}
    assert namespace.body["properties"] == {
        "minimumTlsVersion": "1.2",
        "disableLocalAuth": True,
        "zoneRedundant": True,
        "premiumMessagingPartitions": 1,
        "publicNetworkAccess": "Enabled",
    }
    queue = _put_to(fake_arm, queue_id)
    assert queue_id.endswith("/queues/delivery-requests")
    assert queue.body["properties"] == {
        "lockDuration": "PT1M",
        "maxDeliveryCount": 10,
        "defaultMessageTimeToLive": "P14D",
        "requiresDuplicateDetection": True,
        "duplicateDetectionHistoryTimeWindow": "PT10M",
        "deadLetteringOnMessageExpiration": True,
        "enablePartitioning": False,
    }
    redis = _put_to(fake_arm, redis_id)
    assert redis.api_version == "2024-11-01"
    assert redis.body["zones"] == ["1", "2", "3"]
    assert redis.body["properties"]["enableNonSslPort"] is False
    assert redis.body["properties"]["minimumTlsVersion"] == "1.2"
    assert redis.body["properties"]["redisConfiguration"] == {"aad-enabled": "true"}
    assert redis.body["properties"]["disableAccessKeyAuthentication"] is True
    for request in (namespace, redis):
        assert {
            "platform": "prod",
            "environment": "production",
            "team": "platform",
            "cost-center": "cc-1234",
        }.items() <= (request.body["tags"].items())
    assert (
        outcome.endpoint(Kind.SERVICE_BUS_NAMESPACE) == fake_arm.get(namespace.path)["properties"]["serviceBusEndpoint"]
    )
    assert outcome.endpoint(Kind.REDIS_CACHE).endswith(".redis.cache.windows.net:6380")


async def test_second_pass_without_drift_sends_no_writes(fake_arm: Any, azure: Any, make_platform: Any) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    before = len(fake_arm.writes())

    again = await reconcile_platform(platform, azure)

    assert again.ready
    assert not again.changed
    assert len(fake_arm.writes()) == before


def _changed(platform: DeliveryPlatform, change: Callable[[dict[str, Any]], None]) -> DeliveryPlatform:
    """The platform with its spec (as JSON) changed by `change`."""
    body = platform.model_dump(mode="json", by_alias=True, exclude_none=True)
    change(body["spec"])
    return DeliveryPlatform.model_validate(body)


async def test_drift_is_repaired_by_one_put_or_for_the_cache_one_patch(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    platform = make_platform()
    first = await reconcile_platform(platform, azure)
    namespace, *_queues, redis = (r.id for r in first.resources)
    fake_arm.tamper(namespace, lambda doc: doc["properties"].update(disableLocalAuth=False))
    fake_arm.tamper(redis, lambda doc: doc["properties"].update(enableNonSslPort=True))
    before = _puts_per_path(fake_arm)

    repaired = await reconcile_platform(platform, azure)

    assert repaired.ready
    assert _puts_per_path(fake_arm) - before == Counter({namespace: 1})
    # The cache's PUT is "create or replace (overwrite/recreate, with potential downtime)": an existing one is patched
    # with what the spec sets, never its create-only fields (location, zones).
    [patch] = fake_arm.calls("PATCH")
    assert patch.path == redis
    [desired] = [r for r in platform_resources(platform) if r.kind == Kind.REDIS_CACHE]
    assert patch.body == {"tags": desired.body["tags"], "properties": desired.body["properties"]}
    assert fake_arm.get(namespace)["properties"]["disableLocalAuth"] is True
    assert fake_arm.get(redis)["properties"]["enableNonSslPort"] is False
    assert not (await reconcile_platform(platform, azure)).changed


async def test_a_cache_the_spec_resizes_is_patched_once_and_never_put_again(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    platform = make_platform()
    [redis] = [r.id for r in (await reconcile_platform(platform, azure)).resources if r.kind == Kind.REDIS_CACHE]
    bigger = _changed(platform, lambda spec: spec["cache"]["redis"].update(capacity=2))
    puts = len(fake_arm.calls("PUT", "/Microsoft.Cache/redis/"))

    resized = await reconcile_platform(bigger, azure)
    again = await reconcile_platform(bigger, azure)

    assert resized.ready, resized
    [patch] = fake_arm.calls("PATCH")
    assert patch.path == redis
    assert patch.body["properties"]["sku"] == {"name": "Premium", "family": "P", "capacity": 2}
    assert len(fake_arm.calls("PUT", "/Microsoft.Cache/redis/")) == puts
    stored = fake_arm.get(redis)
    assert stored["properties"]["sku"]["capacity"] == 2
    assert stored["properties"]["provisioningState"] == "Succeeded"
    # Merged into the cache as it was: what ARM computed or the spec does not set is still there.
    assert stored["zones"] == ["1", "2", "3"]
    assert stored["properties"]["redisConfiguration"]["maxclients"] == "7500"
    # The re-check finds the cache as the spec wants it: nothing more is sent.
    assert (again.ready, again.changed, len(fake_arm.calls("PATCH"))) == (True, False, 1)


async def test_zones_of_an_existing_cache_cannot_change_in_place_and_nothing_is_sent(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    writes = len(fake_arm.writes())
    moved = _changed(platform, lambda spec: spec["cache"]["redis"].update(zones=["1"]))

    outcome = await reconcile_platform(moved, azure)

    assert outcome.degraded is not None
    assert outcome.degraded.kind == Kind.REDIS_CACHE
    assert outcome.degraded.error_code == "PropertyChangeNotAllowed"
    assert "zones" in (outcome.degraded.error_message or "")
    assert len(fake_arm.writes()) == writes


async def test_a_duration_azure_reads_back_in_its_own_form_is_no_drift(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    platform = _changed(
        make_platform(),
        lambda spec: spec["messaging"]["serviceBus"]["queues"][0].update(
            lockDuration="PT60S", defaultMessageTimeToLive="P1D", duplicateDetectionWindow="PT600S"
        ),
    )
    created = await reconcile_platform(platform, azure)
    [queue] = [r.id for r in created.resources if r.id.endswith("/queues/delivery-requests")]
    assert _put_to(fake_arm, queue).body["properties"]["lockDuration"] == "PT60S"
    # What Service Bus answers a GET with: the same durations, normalised.
    normalised = {
        "lockDuration": "PT1M",
        "defaultMessageTimeToLive": "PT24H",
        "duplicateDetectionHistoryTimeWindow": "PT10M",
    }
    fake_arm.tamper(queue, lambda doc: doc["properties"].update(normalised))
    writes = len(fake_arm.writes())

    again = await reconcile_platform(platform, azure)

    assert again.ready
    assert not again.changed
    assert len(fake_arm.writes()) == writes
    fake_arm.tamper(queue, lambda doc: doc["properties"].update(lockDuration="PT2M"))
    assert (await reconcile_platform(platform, azure)).changed
    assert len(fake_arm.calls("PUT", "/queues/delivery-requests")) == 2


async def test_service_identity_federates_its_service_account_and_grants_only_what_it_uses(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    ingestion = make_service("ingestion", component="ingestion", uses=[SENDS])

    outcome = await reconcile_service_identity(ingestion, platform, azure)

    assert outcome.ready, outcome
    identity = _one(fake_arm, "/userAssignedIdentities/id-prod-shipping-ingestion")
    assert identity.body["tags"] == {
        "cost-center": "cc-ship",
        "platform": "prod",
        "environment": "production",
        "team": "shipping",
        "service": "ingestion",
        "managed-by": "fabrikam-operator",
    }
    stored = fake_arm.get(identity.path)["properties"]
    assert outcome.client_id == stored["clientId"]
    assert outcome.principal_id == stored["principalId"]
    credential = _one(fake_arm, "/federatedIdentityCredentials/")
    assert credential.body["properties"] == {
        "issuer": platform.spec.azure.oidc_issuer_url,
        "subject": "system:serviceaccount:shipping:ingestion",
        "audiences": ["api://AzureADTokenExchange"],
    }
    [grant] = fake_arm.calls("PUT", "/roleAssignments/")
    assert grant.path.startswith(outcome.resources[0].id.split("/providers/Microsoft.ManagedIdentity")[0])
    assert "/queues/delivery-requests/providers/Microsoft.Authorization/roleAssignments/" in grant.path
    assert grant.body["properties"]["roleDefinitionId"].endswith(SENDER)
    assert grant.body["properties"]["principalId"] == outcome.principal_id
    assert fake_arm.calls("PUT", "/accessPolicyAssignments/") == []


async def test_workflow_receives_and_delivery_gets_redis_data_access(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    workflow = make_service("workflow", component="workflow", uses=[RECEIVES])
    delivery = make_service("delivery", component="delivery", uses=[{"kind": "redis", "name": "delivery"}])

    flows = await reconcile_service_identity(workflow, platform, azure)
    deliveries = await reconcile_service_identity(delivery, platform, azure)

    assert flows.ready
    assert deliveries.ready
    [grant] = fake_arm.calls("PUT", "/roleAssignments/")
    assert grant.body["properties"]["roleDefinitionId"].endswith(RECEIVER)
    assert grant.body["properties"]["principalId"] == flows.principal_id
    [access] = fake_arm.calls("PUT", "/accessPolicyAssignments/")
    assert access.body["properties"] == {
        "accessPolicyName": "Data Contributor",
        "objectId": deliveries.principal_id,
        "objectIdAlias": "shipping-delivery",
    }


async def test_custom_service_gets_both_queue_roles_and_a_second_pass_sends_nothing(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    await reconcile_platform(platform, azure)
    custom = make_service(
        "returns", uses=[{"kind": "queue", "name": "delivery-requests"}, {"kind": "mongo", "name": "x"}]
    )

    first = await reconcile_service_identity(custom, platform, azure)
    writes = len(fake_arm.writes())
    second = await reconcile_service_identity(custom, platform, azure)

    roles = sorted(r.body["properties"]["roleDefinitionId"][-36:] for r in fake_arm.calls("PUT", "/roleAssignments/"))
    assert roles == sorted([SENDER, RECEIVER])
    assert first.ready
    assert second.ready
    assert not second.changed
    assert second.client_id == first.client_id
    assert len(fake_arm.writes()) == writes


async def test_missing_oidc_issuer_is_degraded_but_the_identity_exists(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = make_platform(oidcIssuerUrl=None)
    outcome = await reconcile_service_identity(make_service("returns"), platform, azure)

    assert outcome.degraded is not None
    assert outcome.degraded.error_code == "OidcIssuerUrlMissing"
    assert "spec.azure.oidcIssuerUrl" in (outcome.degraded.error_message or "")
    assert outcome.client_id is not None
    assert fake_arm.calls("PUT", "/federatedIdentityCredentials/") == []


async def test_nothing_is_sent_without_azure_or_without_identity(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    local = make_platform()
    local = local.model_copy(update={"spec": local.spec.model_copy(update={"azure": None})})
    no_identity = make_service("returns").model_copy(deep=True)
    no_identity.spec.identity.azure = False

    assert (await reconcile_platform(local, azure)).resources == ()
    assert (await reconcile_service_identity(make_service("returns"), local, azure)).resources == ()
    assert (await reconcile_service_identity(no_identity, make_platform(), azure)).resources == ()
    assert fake_arm.requests == []
