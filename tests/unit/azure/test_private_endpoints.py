"""Private endpoints as a specification: given spec.azure.privateEndpoints, these ARM bodies, this order, this egress,
and these refusals naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.azure import Kind, platform_resources
from fabrikam.operator.render import bundled_services, render_drone_service

SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2e0"  # conftest's
NETWORK = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-aks"
SUBNET = f"{NETWORK}/subnets/pe"
PRIVATE = {"subnetId": SUBNET, "subnetCidr": "10.240.4.0/24"}
DATABASES = {"cosmosDb": {}, "postgres": {}}
STORE_KINDS = (Kind.SERVICE_BUS_NAMESPACE, Kind.REDIS_CACHE, Kind.COSMOS_ACCOUNT, Kind.POSTGRES_SERVER)


def _platform(make_platform: Any, private: dict[str, Any] | None = PRIVATE, **spec: Any) -> DeliveryPlatform:
    azure: dict[str, Any] = {"keyVaultName": "kv-fabrikam"}
    if private is not None:
        azure["privateEndpoints"] = private
    platform: DeliveryPlatform = make_platform(azure=azure, databases=DATABASES, **spec)
    return platform


def _public_access(resource: Any) -> str:
    properties = resource.body["properties"]
    return str((properties.get("network") or {}).get("publicNetworkAccess") or properties["publicNetworkAccess"])


def test_each_store_refuses_public_access_and_gets_an_endpoint_of_its_group_in_the_subnet(make_platform: Any) -> None:
    resources = platform_resources(_platform(make_platform))

    stores = {r.kind: r for r in resources if r.kind in STORE_KINDS}
    assert {kind: _public_access(r) for kind, r in stores.items()} == dict.fromkeys(STORE_KINDS, "Disabled")
    endpoints = [r for r in resources if r.kind is Kind.PRIVATE_ENDPOINT]
    groups = {
        e.body["properties"]["privateLinkServiceConnections"][0]["properties"]["privateLinkServiceId"]: e.body[
            "properties"
        ]["privateLinkServiceConnections"][0]["properties"]["groupIds"]
        for e in endpoints
    }
    assert groups == {
        stores[Kind.SERVICE_BUS_NAMESPACE].id: ["namespace"],
        stores[Kind.REDIS_CACHE].id: ["redisCache"],
        stores[Kind.COSMOS_ACCOUNT].id: ["MongoDB"],
        stores[Kind.POSTGRES_SERVER].id: ["postgresqlServer"],
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-fabrikam/providers/Microsoft.KeyVault/vaults/kv-fabrikam": [
            "vault"
        ],
    }
    assert {e.body["properties"]["subnet"]["id"] for e in endpoints} == {SUBNET}
    assert all(e.body["tags"]["managed-by"] == "fabrikam-operator" for e in endpoints)
    # Created after the store it links to and deleted before it (partner); its DNS zone group after both.
    assert {e.partner for e in endpoints} == {g for g in groups}
    zone_groups = [r for r in resources if r.kind is Kind.PRIVATE_DNS_ZONE_GROUP]
    assert len(zone_groups) == 5
    zones = {r.id for r in resources if r.kind is Kind.PRIVATE_DNS_ZONE}
    assert {g.partner for g in zone_groups} == zones
    assert {g.parent for g in zone_groups} == {e.name for e in endpoints}


def test_zones_and_network_links_are_shared_kept_and_written_once(make_platform: Any) -> None:
    resources = platform_resources(_platform(make_platform))

    zones = [r for r in resources if r.kind is Kind.PRIVATE_DNS_ZONE]
    links = [r for r in resources if r.kind is Kind.PRIVATE_DNS_ZONE_LINK]
    assert sorted(z.name for z in zones) == [
        "privatelink.mongo.cosmos.azure.com",
        "privatelink.postgres.database.azure.com",
        "privatelink.redis.cache.windows.net",
        "privatelink.servicebus.windows.net",
        "privatelink.vaultcore.azure.net",
    ]
    assert all(z.body["location"] == "global" for z in zones)
    assert {r.deletion_policy.value for r in [*zones, *links]} == {"Retain"}
    # Another platform in the group writes its own tags: not compared, so the two never undo each other.
    assert all(r.write_only == frozenset({"tags"}) and "tags" not in r.compared_body() for r in [*zones, *links])
    assert {link.body["properties"]["virtualNetwork"]["id"] for link in links} == {NETWORK}
    assert {link.body["properties"]["registrationEnabled"] for link in links} == {False}
    # Zones first: the platform's resources are listed parents and partners before what needs them.
    order = [r.kind for r in resources]
    assert order.index(Kind.PRIVATE_DNS_ZONE) < order.index(Kind.SERVICE_BUS_NAMESPACE)


def test_a_hubs_zones_are_referenced_not_created(make_platform: Any) -> None:
    private = PRIVATE | {"dnsZoneResourceGroup": "rg-hub-dns", "manageDnsZones": False}
    resources = platform_resources(_platform(make_platform, private))

    assert not [r for r in resources if r.kind in (Kind.PRIVATE_DNS_ZONE, Kind.PRIVATE_DNS_ZONE_LINK)]
    zone_ids = [
        g.body["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"]
        for g in resources
        if g.kind is Kind.PRIVATE_DNS_ZONE_GROUP
    ]
    assert len(zone_ids) == 5
    assert all(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-hub-dns/providers/" in z for z in zone_ids)


def test_without_private_endpoints_every_store_states_public_access_enabled(make_platform: Any) -> None:
    resources = platform_resources(_platform(make_platform, None))

    stores = [r for r in resources if r.kind in STORE_KINDS]
    assert [_public_access(r) for r in stores] == ["Enabled"] * 4
    assert not [r for r in resources if r.kind.value.startswith("Private")]


def test_egress_goes_to_the_subnet_on_the_ports_of_the_stores_a_service_uses(make_platform: Any) -> None:
    platform = _platform(make_platform)
    peers = bundled_services(platform)

    def private_rules(name: str) -> list[dict[str, Any]]:
        svc = next(s for s in peers if s.name == name)
        [policy] = [
            o for o in render_drone_service(svc, platform=platform, peers=peers) if o["kind"] == "NetworkPolicy"
        ]
        return [
            rule
            for rule in policy["spec"]["egress"]
            if any(peer.get("ipBlock", {}).get("cidr") == "10.240.4.0/24" for peer in rule["to"])
        ]

    [package] = private_rules("package")
    assert package["to"] == [{"ipBlock": {"cidr": "10.240.4.0/24"}}]
    # package: its MongoDB database and its queues.
    assert {p["port"] for p in package["ports"]} == {10255, 5671, 443}
    [account] = private_rules("account")
    # account: its PostgreSQL database, and Key Vault for its secrets.
    assert {p["port"] for p in account["ports"]} == {5432, 443}
    [workflow] = private_rules("workflow")
    assert {p["port"] for p in workflow["ports"]} >= {5671, 443}
    assert 10255 not in {p["port"] for p in workflow["ports"]}


def test_a_clustered_cache_and_a_recovery_subnet_widen_the_egress(make_platform: Any) -> None:
    recovery_subnet = SUBNET.replace("vnet-aks", "vnet-dr")
    platform = _platform(
        make_platform,
        PRIVATE | {"recoverySubnetId": recovery_subnet, "recoverySubnetCidr": "10.241.4.0/24"},
        cache={"redis": {"sku": "Premium", "shardCount": 2}},
        recovery={"secondaryLocation": "westcentralus"},
    )
    peers = bundled_services(platform)
    delivery = next(s for s in peers if s.name == "delivery")
    [policy] = [
        o for o in render_drone_service(delivery, platform=platform, peers=peers) if o["kind"] == "NetworkPolicy"
    ]

    [rule] = [
        r
        for r in policy["spec"]["egress"]
        if any("ipBlock" in p and p["ipBlock"]["cidr"].startswith("10.24") for p in r["to"])
    ]
    assert rule["to"] == [{"ipBlock": {"cidr": "10.240.4.0/24"}}, {"ipBlock": {"cidr": "10.241.4.0/24"}}]
    assert {"protocol": "TCP", "port": 15000, "endPort": 15999} in rule["ports"]
    assert {"protocol": "TCP", "port": 6380} in rule["ports"]
    endpoints = [r for r in platform_resources(platform) if r.kind is Kind.PRIVATE_ENDPOINT]
    in_recovery = [e for e in endpoints if e.body["properties"]["subnet"]["id"] == recovery_subnet]
    assert {e.body["location"] for e in in_recovery} == {"westcentralus"}
    assert len(in_recovery) == 2


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"messaging": {"serviceBus": {"sku": "Standard"}}}, "spec.messaging.serviceBus.sku"),
        ({"recovery": {"secondaryLocation": "westcentralus"}}, "spec.azure.privateEndpoints.recoverySubnetId"),
    ],
)
def test_what_private_endpoints_cannot_serve_is_refused_naming_the_field(
    make_platform: Any, spec: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        _platform(make_platform, **spec)


def test_a_recovery_subnet_needs_its_prefix(make_platform: Any) -> None:
    with pytest.raises(ValidationError, match="recoverySubnetId and recoverySubnetCidr go together"):
        _platform(make_platform, PRIVATE | {"recoverySubnetId": SUBNET})


def test_the_subnet_id_must_be_a_subnet(make_platform: Any) -> None:
    with pytest.raises(ValidationError, match="subnetId"):
        _platform(make_platform, PRIVATE | {"subnetId": NETWORK})
