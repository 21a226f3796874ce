"""The operator process against the local control plane and the fake ARM: a platform with private endpoints gets an
endpoint per store (status shows its address in the subnet), services' egress goes to that subnet on their stores'
ports (the apiserver accepts the policies as rendered), and dropping `privateEndpoints` removes the endpoints and
opens the stores again, with the egress back to the platform's rules."""

import json
import uuid
from ipaddress import ip_address, ip_network
from typing import Any

import pytest
import yaml

from .conftest import OPERATOR_SUBSCRIPTION, azure_platform, with_key_vault

pytestmark = pytest.mark.cluster

CIDR = "10.240.4.0/24"


def _get(cluster: Any, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def _subnet_egress(cluster: Any, service: str, namespace: str) -> list[dict[str, Any]]:
    found = cluster.kubectl("get", "networkpolicy", service, "-n", namespace, "-o", "json", check=False)
    if found.returncode != 0:
        return []
    egress = json.loads(found.stdout)["spec"].get("egress", [])
    return [rule for rule in egress if {"ipBlock": {"cidr": CIDR}} in rule.get("to", [])]


def _public_access(arm: Any, group: str) -> set[str]:
    """How the platform's Service Bus namespace, cache and Cosmos DB account take public traffic."""
    types = ("Microsoft.ServiceBus/namespaces", "Microsoft.Cache/redis", "Microsoft.DocumentDB/databaseAccounts")
    paths = [p for t in types for p in arm.paths(t) if f"/resourceGroups/{group}/" in p]
    assert len(paths) == 3
    return {str(arm.get(p)["properties"].get("publicNetworkAccess")) for p in paths}


def test_private_endpoints_are_created_wired_into_egress_and_removed_when_dropped(
    cluster: Any, azure_operator: Any, arm: Any, kit: Any, eventually: Any, secret_provider_classes: None
) -> None:
    platform = azure_platform(kit.sample_platform(), "Delete")
    name = platform["metadata"]["name"]
    group = platform["spec"]["azure"]["resourceGroup"]
    with_key_vault(platform, arm)
    network = f"/subscriptions/{OPERATOR_SUBSCRIPTION}/resourceGroups/rg-net-{uuid.uuid4().hex[:6]}"
    subnet = f"{network}/providers/Microsoft.Network/virtualNetworks/vnet-aks/subnets/private-endpoints"
    arm.add_subnet(subnet, CIDR)
    platform["spec"]["messaging"]["serviceBus"]["sku"] = "Premium"
    platform["spec"]["databases"] = {"cosmosDb": {"maxThroughput": 4000}}
    platform["spec"]["azure"]["privateEndpoints"] = {"subnetId": subnet, "subnetCidr": CIDR}
    namespaces = {svc: team["namespace"] for team in platform["spec"]["teams"] for svc in team["services"]}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(platform))
    kit.wait_ready(cluster, f"deliveryplatform/{name}", timeout=240)

    resources = _get(cluster, "deliveryplatform", name)["status"]["azureResources"]
    endpoints = [r for r in resources if r["kind"] == "PrivateEndpoint"]
    # Service Bus, Redis, Cosmos DB and the Key Vault, each with its address in the subnet.
    assert len(endpoints) == 4, endpoints
    assert all(r["state"] == "Succeeded" and ip_address(r["endpoint"]) in ip_network(CIDR) for r in endpoints)
    assert len([p for p in arm.paths("Microsoft.Network/privateEndpoints") if f"/resourceGroups/{group}/" in p]) == 4
    assert _public_access(arm, group) == {"Disabled"}

    # package reaches its MongoDB database and its queues through the subnet; the apiserver took the policy.
    package = eventually(
        lambda: _subnet_egress(cluster, "package", namespaces["package"]), what="package's egress to the subnet"
    )
    assert {p["port"] for p in package[0]["ports"]} == {10255, 5671, 443}

    # Dropped: the endpoints go (deletionPolicy Delete), the stores open again, the egress leaves the subnet.
    patch = {"spec": {"azure": {"privateEndpoints": None}}}
    cluster.kubectl("patch", "deliveryplatform", name, "--type=merge", "-p", json.dumps(patch))
    eventually(
        lambda: not [p for p in arm.paths("Microsoft.Network/privateEndpoints") if f"/resourceGroups/{group}/" in p],
        what="the private endpoints to be deleted",
        timeout=180,
    )
    eventually(
        lambda: _public_access(arm, group) == {"Enabled"},
        what="the stores to accept public network access again",
        timeout=180,
    )
    eventually(
        lambda: _subnet_egress(cluster, "package", namespaces["package"]) == [],
        what="package's egress to leave the subnet",
    )
    # The privatelink zones stay: other endpoints in the network may resolve through them.
    assert arm.paths("Microsoft.Network/privateDnsZones")

    cluster.kubectl("delete", "deliveryplatform", name, "--wait=false")
    eventually(
        lambda: cluster.kubectl("get", "deliveryplatform", name, check=False).returncode != 0,
        what="the platform to be deleted",
        timeout=240,
    )
