"""The fake ARM's Service Bus geo-disaster recovery and Redis geo-replication driven through the real azure-mgmt
`.aio` SDKs: the calls and answers the operator and the runbook's failover use, and what Azure refuses."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.redis.aio import RedisManagementClient
from azure.mgmt.servicebus.aio import ServiceBusManagementClient

SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2e0"  # conftest's
RG = "rg-dr"
PROVIDERS = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers"


def _json(body: dict[str, Any]) -> io.BytesIO:
    return io.BytesIO(json.dumps(body).encode())


def _raw(pipeline_response: Any, _deserialized: Any, _headers: Any) -> Any:
    text = pipeline_response.http_response.text()
    return json.loads(text) if text else {}


@pytest.fixture
def bus(arm_client: Any) -> ServiceBusManagementClient:
    return arm_client(ServiceBusManagementClient)


@pytest.fixture
def redis(arm_client: Any) -> RedisManagementClient:
    return arm_client(RedisManagementClient)


async def _namespace(
    bus: ServiceBusManagementClient, name: str, *, location: str = "westus2", sku: str = "Premium", partitions: int = 1
) -> str:
    properties: dict[str, Any] = {"disableLocalAuth": True}
    if sku == "Premium":
        properties["premiumMessagingPartitions"] = partitions
    body = {"location": location, "sku": {"name": sku, "tier": sku}, "properties": properties}
    poller = await bus.namespaces.begin_create_or_update(RG, name, _json(body), content_type="application/json")
    await poller.result()
    return f"{PROVIDERS}/Microsoft.ServiceBus/namespaces/{name}"


async def _queue(bus: ServiceBusManagementClient, namespace: str, name: str, **properties: Any) -> None:
    await bus.queues.create_or_update(
        RG, namespace, name, _json({"properties": properties}), content_type="application/json"
    )


async def _pair(bus: ServiceBusManagementClient, primary: str, alias: str, partner_id: str) -> dict[str, Any]:
    body = _json({"properties": {"partnerNamespace": partner_id}})
    answer: dict[str, Any] = await bus.disaster_recovery_configs.create_or_update(
        RG, primary, alias, body, content_type="application/json", cls=_raw
    )
    return answer


async def _alias(bus: ServiceBusManagementClient, namespace: str, alias: str) -> dict[str, Any]:
    found: dict[str, Any] = await bus.disaster_recovery_configs.get(RG, namespace, alias, cls=_raw)
    return found


async def _settled(bus: ServiceBusManagementClient, namespace: str, alias: str) -> dict[str, Any]:
    for _ in range(50):
        found = await _alias(bus, namespace, alias)
        if found["properties"]["provisioningState"] == "Succeeded":
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"alias {alias} still {found['properties']['provisioningState']}")


async def test_a_pairing_replicates_the_queues_and_a_failover_moves_the_alias_and_breaks_the_pairing(
    fake_arm: Any, bus: ServiceBusManagementClient
) -> None:
    home_id = await _namespace(bus, "sb-home")
    away_id = await _namespace(bus, "sb-away", location="westcentralus")
    await _queue(bus, "sb-home", "orders", maxDeliveryCount=7)

    answered = await _pair(bus, "sb-home", "sb-geo", away_id)

    assert answered["properties"]["provisioningState"] == "Accepted"
    primary = await _settled(bus, "sb-home", "sb-geo")
    assert primary["properties"]["role"] == "Primary"
    assert primary["properties"]["partnerNamespace"] == away_id
    assert primary["properties"]["pendingReplicationOperationsCount"] == 0
    secondary = await _settled(bus, "sb-away", "sb-geo")
    assert (secondary["properties"]["role"], secondary["properties"]["partnerNamespace"]) == ("Secondary", home_id)
    assert fake_arm.alias_target("sb-geo") == home_id
    # Metadata follows the primary; the secondary takes no entity writes of its own.
    replicated = await bus.queues.get(RG, "sb-away", "orders", cls=_raw)
    assert replicated["properties"]["maxDeliveryCount"] == 7
    await _queue(bus, "sb-home", "orders", maxDeliveryCount=9)
    await _queue(bus, "sb-home", "invoices")
    assert (await bus.queues.get(RG, "sb-away", "orders", cls=_raw))["properties"]["maxDeliveryCount"] == 9
    assert await bus.queues.get(RG, "sb-away", "invoices", cls=_raw)
    with pytest.raises(HttpResponseError) as refused:
        await _queue(bus, "sb-away", "sneaky")
    assert refused.value.status_code == 400

    # A failover is sent to the secondary: there, the primary is refused.
    with pytest.raises(HttpResponseError) as wrong_side:
        await bus.disaster_recovery_configs.fail_over(RG, "sb-home", "sb-geo")
    assert wrong_side.value.status_code == 400
    await bus.disaster_recovery_configs.fail_over(RG, "sb-away", "sb-geo")

    assert fake_arm.alias_target("sb-geo") == away_id
    alone = await _alias(bus, "sb-away", "sb-geo")
    assert (alone["properties"]["role"], alone["properties"]["partnerNamespace"]) == ("PrimaryNotReplicating", "")
    with pytest.raises(ResourceNotFoundError):
        await _alias(bus, "sb-home", "sb-geo")
    # The old primary is a namespace of its own, its queues (and their messages) left where they were.
    assert await bus.queues.get(RG, "sb-home", "orders", cls=_raw)
    await _queue(bus, "sb-away", "after-failover")
    with pytest.raises(HttpResponseError) as not_empty:
        await _pair(bus, "sb-away", "sb-geo", home_id)
    assert not_empty.value.status_code == 400
    assert "must be empty" in str(not_empty.value)
    for queue in ("orders", "invoices"):
        await bus.queues.delete(RG, "sb-home", queue)
    await _pair(bus, "sb-away", "sb-geo", home_id)
    again = await _settled(bus, "sb-away", "sb-geo")
    assert (again["properties"]["role"], again["properties"]["partnerNamespace"]) == ("Primary", home_id)
    assert (await _settled(bus, "sb-home", "sb-geo"))["properties"]["role"] == "Secondary"
    assert await bus.queues.get(RG, "sb-home", "after-failover", cls=_raw)


async def test_a_pairing_is_refused_as_azure_refuses_it(bus: ServiceBusManagementClient) -> None:
    await _namespace(bus, "sb-one")
    standard_id = await _namespace(bus, "sb-standard", sku="Standard")
    partitioned_id = await _namespace(bus, "sb-partitioned", partitions=2)
    busy_id = await _namespace(bus, "sb-busy")
    await _queue(bus, "sb-busy", "orders")
    free_id = await _namespace(bus, "sb-free")

    for partner, code in ((standard_id, 400), (partitioned_id, 400), (busy_id, 400), (f"{PROVIDERS}/x/sb-no", 404)):
        with pytest.raises(HttpResponseError) as refused:
            await _pair(bus, "sb-one", "sb-one-geo", partner)
        assert refused.value.status_code == code, partner
    with pytest.raises(HttpResponseError) as standard_primary:
        await _pair(bus, "sb-standard", "sb-std-geo", free_id)
    assert standard_primary.value.status_code == 400
    # An alias is a DNS name: not a namespace's.
    with pytest.raises(HttpResponseError) as taken:
        await _pair(bus, "sb-one", "sb-busy", free_id)
    assert taken.value.status_code == 409
    await _pair(bus, "sb-one", "sb-one-geo", free_id)
    # Idempotent with the same partner once made; one pairing per namespace.
    await _settled(bus, "sb-one", "sb-one-geo")
    await _pair(bus, "sb-one", "sb-one-geo", free_id)
    other_id = await _namespace(bus, "sb-other")
    with pytest.raises(HttpResponseError) as repaired:
        await _pair(bus, "sb-one", "sb-one-geo", other_id)
    assert repaired.value.status_code == 409
    with pytest.raises(HttpResponseError) as secondary_taken:
        await _pair(bus, "sb-other", "sb-other-geo", free_id)
    assert secondary_taken.value.status_code == 409


async def test_a_paired_namespace_and_its_alias_go_only_once_the_pairing_is_broken(
    fake_arm: Any, bus: ServiceBusManagementClient
) -> None:
    await _namespace(bus, "sb-left")
    right_id = await _namespace(bus, "sb-right")
    await _pair(bus, "sb-left", "sb-left-geo", right_id)
    await _settled(bus, "sb-left", "sb-left-geo")

    with pytest.raises(HttpResponseError) as namespace_paired:
        await (await bus.namespaces.begin_delete(RG, "sb-left")).result()
    assert namespace_paired.value.status_code == 409
    with pytest.raises(HttpResponseError) as alias_paired:
        await bus.disaster_recovery_configs.delete(RG, "sb-left", "sb-left-geo")
    assert alias_paired.value.status_code == 409
    await bus.disaster_recovery_configs.break_pairing(RG, "sb-left", "sb-left-geo")
    await bus.disaster_recovery_configs.delete(RG, "sb-left", "sb-left-geo")
    for name in ("sb-left", "sb-right"):
        await (await bus.namespaces.begin_delete(RG, name)).result()
    assert fake_arm.paths("Microsoft.ServiceBus/namespaces") == []
    assert fake_arm.paths("Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs") == []


async def _cache(redis: RedisManagementClient, name: str, **overrides: Any) -> str:
    sku = overrides.pop("sku", {"name": "Premium", "family": "P", "capacity": 1})
    body = {
        "location": overrides.pop("location", "westus2"),
        "properties": {"sku": sku, **overrides.pop("properties", {})},
    }
    poller = await redis.redis.begin_create(RG, name, _json({**body, **overrides}), content_type="application/json")
    await poller.result()
    return f"{PROVIDERS}/Microsoft.Cache/redis/{name}"


async def _link(redis: RedisManagementClient, primary: str, secondary: str, secondary_id: str) -> dict[str, Any]:
    body = {
        "properties": {
            "linkedRedisCacheId": secondary_id,
            "linkedRedisCacheLocation": "westcentralus",
            "serverRole": "Secondary",
        }
    }
    poller = await redis.linked_server.begin_create(
        RG, primary, secondary, _json(body), content_type="application/json", cls=_raw
    )
    linked: dict[str, Any] = await poller.result()
    return linked


async def test_linked_caches_name_each_other_and_go_only_once_unlinked(
    fake_arm: Any, redis: RedisManagementClient
) -> None:
    primary_id = await _cache(redis, "redis-home")
    secondary_id = await _cache(redis, "redis-away", location="westcentralus")

    linked = await _link(redis, "redis-home", "redis-away", secondary_id)

    assert linked["properties"]["provisioningState"] == "Succeeded"
    assert linked["properties"]["serverRole"] == "Secondary"
    assert linked["properties"]["geoReplicatedPrimaryHostName"] == "redis-home.geo.redis.cache.windows.net"
    other_side = await redis.linked_server.get(RG, "redis-away", "redis-home", cls=_raw)
    assert (other_side["properties"]["serverRole"], other_side["properties"]["linkedRedisCacheId"]) == (
        "Primary",
        primary_id,
    )
    with pytest.raises(HttpResponseError) as still_linked:
        await (await redis.redis.begin_delete(RG, "redis-away")).result()
    assert still_linked.value.status_code == 409
    await (await redis.linked_server.begin_delete(RG, "redis-home", "redis-away")).result()
    for cache, linked_name in (("redis-home", "redis-away"), ("redis-away", "redis-home")):
        with pytest.raises(ResourceNotFoundError):
            await redis.linked_server.get(RG, cache, linked_name)
    for name in ("redis-home", "redis-away"):
        await (await redis.redis.begin_delete(RG, name)).result()


async def test_geo_replication_is_refused_for_standard_zone_redundant_or_differently_sized_caches(
    redis: RedisManagementClient,
) -> None:
    await _cache(redis, "redis-p1")
    refusals = {
        "redis-standard": {"sku": {"name": "Standard", "family": "C", "capacity": 1}},
        "redis-p2": {"sku": {"name": "Premium", "family": "P", "capacity": 2}},
        "redis-zoned": {"zones": ["1", "2"]},
        "redis-sharded": {"properties": {"shardCount": 2}},
    }
    for name, overrides in refusals.items():
        other_id = await _cache(redis, name, **overrides)
        with pytest.raises(HttpResponseError) as refused:
            await _link(redis, "redis-p1", name, other_id)
        assert refused.value.status_code == 400, name
    twin_id = await _cache(redis, "redis-twin")
    with pytest.raises(HttpResponseError) as misnamed:
        await _link(redis, "redis-p1", "redis-other-name", twin_id)
    assert misnamed.value.status_code == 400
    await _link(redis, "redis-p1", "redis-twin", twin_id)
    third_id = await _cache(redis, "redis-third")
    with pytest.raises(HttpResponseError) as second_link:
        await _link(redis, "redis-p1", "redis-third", third_id)
    assert second_link.value.status_code == 409
