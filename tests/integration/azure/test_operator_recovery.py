"""The operator process against the local control plane and the fake ARM with `spec.recovery`: a platform gets its
stores' partners in the secondary location and reports them against the targets; one whose Service Bus cannot meet
them is Degraded `RecoveryTargetUnmet` while it keeps working; and a Service Bus failover drill, run through the SDK
as the runbook runs it, is followed by the operator's next passes, never undone."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.operator.azure import AzureClients, fail_over, naming

from .conftest import OPERATOR_SUBSCRIPTION, StaticCredential, azure_platform, settings_for, with_key_vault

pytestmark = pytest.mark.cluster

RECOVERY = {"rpo": "PT1H", "rto": "PT4H", "secondaryLocation": "westcentralus"}


def _get(cluster: Any, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def _status(cluster: Any, name: str) -> dict[str, Any]:
    return _get(cluster, "deliveryplatform", name).get("status") or {}


def _condition(cluster: Any, name: str, kind: str) -> dict[str, Any]:
    return next((c for c in _status(cluster, name).get("conditions", []) if c["type"] == kind), {})


def _recovery(cluster: Any, name: str) -> dict[str, dict[str, Any]]:
    return {entry["store"]: entry for entry in _status(cluster, name).get("recovery", [])}


def _config(cluster: Any, service: str, namespace: str) -> dict[str, str]:
    found = cluster.kubectl("get", "configmap", f"{service}-config", "-n", namespace, "-o", "json", check=False)
    return dict(json.loads(found.stdout).get("data", {})) if found.returncode == 0 else {}


def _events(cluster: Any, name: str, reason: str) -> list[str]:
    found = _get(cluster, "events", "-A", "--field-selector", f"involvedObject.name={name},reason={reason}")
    return [event["message"] for event in found["items"]]


def _tune_queue(cluster: Any, name: str, max_delivery_count: int) -> None:
    """A spec change (the sample's queue, partitioned as its Premium namespace): the operator's next pass."""
    queue = {"name": "delivery-requests", "maxDeliveryCount": max_delivery_count, "partitioned": True}
    patch = {"spec": {"messaging": {"serviceBus": {"queues": [queue]}}}}
    cluster.kubectl("patch", "deliveryplatform", name, "--type=merge", "-p", json.dumps(patch))


async def _with_clients(arm: Any, ca: Path, work: Any) -> None:
    async with AzureClients(StaticCredential(), OPERATOR_SUBSCRIPTION, settings_for(arm, ca)) as clients:
        await work(clients)


def test_recovery_pairs_links_and_reports_the_stores_and_follows_a_failover_drill(
    cluster: Any,
    azure_operator: Any,
    arm: Any,
    arm_tls: Any,
    kit: Any,
    eventually: Any,
    secret_provider_classes: None,
) -> None:
    platform = azure_platform(kit.sample_platform(), "Delete")
    name = platform["metadata"]["name"]
    group = platform["spec"]["azure"]["resourceGroup"]
    with_key_vault(platform, arm)
    # The sample's cache asks for zones, which Azure does not geo-replicate: recovery wins only over the default.
    platform["spec"]["cache"]["redis"].pop("zones")
    platform["spec"]["databases"] = {"cosmosDb": {}, "postgres": {}}
    platform["spec"]["recovery"] = RECOVERY
    parts = (OPERATOR_SUBSCRIPTION, group, name)
    home, away = naming.service_bus_namespace_name(*parts), naming.service_bus_recovery_namespace_name(*parts)
    alias, cache = naming.service_bus_alias_name(*parts), naming.redis_name(*parts)
    providers = f"/subscriptions/{OPERATOR_SUBSCRIPTION}/resourceGroups/{group}/providers"
    home_id, away_id = (f"{providers}/Microsoft.ServiceBus/namespaces/{ns}" for ns in (home, away))
    namespaces = {svc: team["namespace"] for team in platform["spec"]["teams"] for svc in team["services"]}

    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    kit.wait_ready(cluster, f"deliveryplatform/{name}", timeout=300)

    resources = {r["kind"]: r for r in _status(cluster, name)["azureResources"]}
    for kind in (
        "ServiceBusRecoveryNamespace",
        "ServiceBusGeoRecoveryAlias",
        "RedisRecoveryCache",
        "RedisLinkedServer",
    ):
        assert resources[kind]["state"] == "Succeeded", resources[kind]
    assert resources["ServiceBusGeoRecoveryAlias"]["endpoint"] == f"https://{alias}.servicebus.windows.net:443/"
    assert arm.alias_target(alias) == home_id
    [account_put] = [
        c for c in arm.calls("PUT", f"{providers}/Microsoft.DocumentDB/databaseAccounts/") if "/mongo" not in c.path
    ]
    assert [r["locationName"] for r in account_put.body["properties"]["locations"]] == ["westus2", "westcentralus"]
    assert account_put.body["properties"]["enableAutomaticFailover"] is True
    recovery = eventually(lambda: len(r := _recovery(cluster, name)) == 4 and r, what="status.recovery of 4 stores")
    assert all(entry["meetsTargets"] for entry in recovery.values()), recovery
    assert (recovery["CosmosDb"]["rpo"], recovery["CosmosDb"]["rto"]) == ("PT15M", "PT15M")
    assert recovery["Postgres"]["rpo"] == "PT1H"
    assert _condition(cluster, name, "Degraded")["status"] == "False"
    # The services follow a failover by name: the alias, the cache's geo-primary host.
    eventually(
        lambda: (
            _config(cluster, "ingestion", namespaces["ingestion"]).get("FABRIKAM_SERVICEBUS_NAMESPACE")
            == f"{alias}.servicebus.windows.net"
        ),
        what="ingestion reaching Service Bus through the alias",
    )
    eventually(
        lambda: (
            _config(cluster, "delivery", namespaces["delivery"]).get("FABRIKAM_REDIS_URL")
            == f"rediss://{cache}.geo.redis.cache.windows.net:6380/0"
        ),
        what="delivery reaching Redis through the geo-primary host name",
    )

    # The drill: the runbook's failover, sent to the secondary namespace through the SDK.
    asyncio.run(_with_clients(arm, arm_tls[0], lambda clients: fail_over(clients, group, away, alias)))
    assert arm.alias_target(alias) == away_id
    since = len(arm.requests)
    _tune_queue(cluster, name, 4)

    held = eventually(
        lambda: not (r := _recovery(cluster, name))["ServiceBus"]["meetsTargets"] and r["ServiceBus"],
        what="Service Bus reported short of the targets after the failover",
    )
    assert f"{home} holds 7 queues outside the pairing" in held["detail"]
    degraded = _condition(cluster, name, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "RecoveryTargetUnmet")
    kit.wait_ready(cluster, f"deliveryplatform/{name}", timeout=120)
    eventually(lambda: any("ServiceBus" in m for m in _events(cluster, name, "RecoveryTargetUnmet")), what="an Event")
    after = arm.requests[since:]
    # Followed, not fought: no pairing from the old primary, the spec's change written where the alias points.
    assert not [r for r in after if r.method != "GET" and "/disasterRecoveryConfigs/" in r.path]
    assert not [r for r in after if r.method == "PUT" and f"/namespaces/{home}/queues/" in r.path]
    queue_puts = [r for r in after if r.method == "PUT" and r.path.startswith(f"{away_id}/queues/delivery-requests")]
    assert [r.body["properties"]["maxDeliveryCount"] for r in queue_puts] == [4]
    config = _config(cluster, "ingestion", namespaces["ingestion"])
    assert config["FABRIKAM_SERVICEBUS_NAMESPACE"] == f"{alias}.servicebus.windows.net"

    # The old primary drained and emptied (runbook): the next pass pairs the active namespace with it.
    async def empty_old_primary(clients: AzureClients) -> None:
        async for queue in clients.servicebus.queues.list_by_namespace(group, home):
            await clients.servicebus.queues.delete(group, home, queue.name)

    asyncio.run(_with_clients(arm, arm_tls[0], empty_old_primary))
    _tune_queue(cluster, name, 5)
    eventually(
        lambda: _recovery(cluster, name)["ServiceBus"]["meetsTargets"], timeout=120, what="the pairing made again"
    )
    assert _condition(cluster, name, "Degraded")["status"] == "False"
    [repaired] = [r for r in arm.requests[since:] if r.method == "PUT" and "/disasterRecoveryConfigs/" in r.path]
    assert repaired.path.startswith(f"{away_id}/disasterRecoveryConfigs/{alias}")
    assert repaired.body["properties"]["partnerNamespace"] == home_id
    assert arm.get(f"{home_id}/disasterRecoveryConfigs/{alias}")["properties"]["role"] == "Secondary"
    assert arm.alias_target(alias) == away_id

    cluster.kubectl("delete", "deliveryplatform", name, "--wait=false")
    eventually(
        lambda: cluster.kubectl("get", "deliveryplatform", name, check=False).returncode != 0,
        timeout=180,
        what="the platform to be deleted after Azure confirmed",
    )
    left = [p for kind in ("Microsoft.ServiceBus/namespaces", "Microsoft.Cache/redis") for p in arm.paths(kind)]
    assert not [p for p in left if f"/resourceGroups/{group}/" in p]


def test_a_standard_service_bus_falls_short_of_the_targets_and_the_platform_works_on(
    cluster: Any, azure_operator: Any, arm: Any, kit: Any, eventually: Any
) -> None:
    platform = azure_platform(kit.sample_platform(), "Delete")
    name = platform["metadata"]["name"]
    group = platform["spec"]["azure"]["resourceGroup"]
    platform["spec"]["messaging"]["serviceBus"] = {"sku": "Standard"}
    platform["spec"]["cache"]["redis"].pop("zones")
    platform["spec"]["recovery"] = RECOVERY

    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    kit.wait_ready(cluster, f"deliveryplatform/{name}", timeout=240)

    degraded = eventually(
        lambda: (c := _condition(cluster, name, "Degraded")).get("reason") == "RecoveryTargetUnmet" and c,
        what="Degraded RecoveryTargetUnmet",
    )
    assert (
        "Service Bus Standard has no geo-disaster recovery: set messaging.serviceBus.sku Premium"
        in (degraded["message"])
    )
    assert _condition(cluster, name, "Ready")["status"] == "True"
    recovery = _recovery(cluster, name)
    assert recovery["ServiceBus"]["meetsTargets"] is False
    assert recovery["Redis"]["meetsTargets"] is True
    [event] = eventually(lambda: _events(cluster, name, "RecoveryTargetUnmet"), what="the RecoveryTargetUnmet Event")
    assert event.startswith("ServiceBus short of the recovery targets (RPO PT1H, RTO PT4H)")
    kinds = {r["kind"] for r in _status(cluster, name)["azureResources"]}
    assert "ServiceBusRecoveryNamespace" not in kinds
    assert not [c for c in arm.calls("PUT", "/disasterRecoveryConfigs/") if f"/resourceGroups/{group}/" in c.path]

    cluster.kubectl("delete", "deliveryplatform", name, "--wait=false")
    eventually(
        lambda: cluster.kubectl("get", "deliveryplatform", name, check=False).returncode != 0,
        timeout=180,
        what="the platform to be deleted",
    )
