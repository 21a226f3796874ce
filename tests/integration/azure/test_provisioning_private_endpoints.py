"""Private endpoints through the real SDK clients (azure-mgmt-network, azure-mgmt-privatedns) against the fake ARM:
every store behind an endpoint of the platform's subnet with public access off, its name registered in a privatelink
zone linked to the network; shared zones never overwritten nor deleted; turning them off opens the stores again."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.azure import Kind, naming, reconcile_platform
from fabrikam.operator.azure.desired import unnamed_stores
from fabrikam.operator.azure.provision import delete_resources

from .conftest import converged, fully_deleted

SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2e0"  # conftest's
RG = "rg-fabrikam-test"
NETWORK = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-aks"
)
SUBNET = f"{NETWORK}/subnets/private-endpoints"
CIDR = "10.240.4.0/24"
RECOVERY_NETWORK = NETWORK.replace("vnet-aks", "vnet-aks-dr")
RECOVERY_SUBNET = f"{RECOVERY_NETWORK}/subnets/private-endpoints"
VAULT = "kv-fabrikam-pe"
ZONES = {
    "privatelink.servicebus.windows.net",
    "privatelink.redis.cache.windows.net",
    "privatelink.mongo.cosmos.azure.com",
    "privatelink.postgres.database.azure.com",
    "privatelink.vaultcore.azure.net",
}


def _platform(make_platform: Any, private: dict[str, Any] | None, **spec: Any) -> DeliveryPlatform:
    azure = {"keyVaultName": VAULT, "deletionPolicy": "Delete"}
    if private is not None:
        azure["privateEndpoints"] = private
    body = make_platform(**azure).model_dump(mode="json", by_alias=True, exclude_none=True)
    body["spec"].update({"databases": {"cosmosDb": {}, "postgres": {}}, **spec})
    return DeliveryPlatform.model_validate(body)


def _prepared(fake_arm: Any) -> None:
    fake_arm.add_vault(SUBSCRIPTION, RG, VAULT)
    fake_arm.add_subnet(SUBNET, CIDR)


def _stores(fake_arm: Any) -> dict[str, Any]:
    found = {}
    for type_name in (
        "Microsoft.ServiceBus/namespaces",
        "Microsoft.Cache/redis",
        "Microsoft.DocumentDB/databaseAccounts",
        "Microsoft.DBforPostgreSQL/flexibleServers",
    ):
        for path in fake_arm.paths(type_name):
            found[path] = fake_arm.get(path)
    return found


def _public_access(store: dict[str, Any]) -> str:
    properties = store["properties"]
    return str((properties.get("network") or {}).get("publicNetworkAccess") or properties.get("publicNetworkAccess"))


async def test_every_store_is_reached_through_its_endpoint_in_the_subnet_and_refuses_public_access(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    _prepared(fake_arm)
    platform = _platform(make_platform, {"subnetId": SUBNET, "subnetCidr": CIDR})

    outcome = await converged(platform, azure)

    stores = _stores(fake_arm)
    assert len(stores) == 4
    assert {path: _public_access(store) for path, store in stores.items()} == {path: "Disabled" for path in stores}
    zones = {path.rsplit("/", 1)[1] for path in fake_arm.paths("Microsoft.Network/privateDnsZones")}
    assert zones == ZONES
    links = [fake_arm.get(p) for p in fake_arm.paths("Microsoft.Network/privateDnsZones/virtualNetworkLinks")]
    assert len(links) == 5
    assert {link["properties"]["virtualNetwork"]["id"] for link in links} == {NETWORK}
    assert all(link["properties"]["registrationEnabled"] is False for link in links)

    endpoints = [fake_arm.get(p) for p in fake_arm.paths("Microsoft.Network/privateEndpoints")]
    targets = {
        e["properties"]["privateLinkServiceConnections"][0]["properties"]["privateLinkServiceId"].rsplit("/", 2)[1]: e
        for e in endpoints
    }
    assert set(targets) == {"namespaces", "redis", "databaseAccounts", "flexibleServers", "vaults"}
    for endpoint in endpoints:
        assert endpoint["properties"]["subnet"]["id"] == SUBNET
    results = [r for r in outcome.resources if r.kind == Kind.PRIVATE_ENDPOINT]
    assert len(results) == 5
    addresses = [ipaddress.ip_address(r.endpoint) for r in results]
    assert all(address in ipaddress.ip_network(CIDR) for address in addresses)
    assert len(set(addresses)) == 5
    # Each endpoint registers its store's name in the zone of its kind.
    groups = [fake_arm.get(p) for p in fake_arm.paths("Microsoft.Network/privateEndpoints/privateDnsZoneGroups")]
    registered = {g["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"] for g in groups}
    assert {zone.rsplit("/", 1)[1] for zone in registered} == ZONES
    # Each endpoint came after its store (the store must exist to be linked to).
    bus = naming.service_bus_namespace_name(SUBSCRIPTION, RG, "prod")
    order = [r.path for r in fake_arm.writes()]
    first_endpoint_put = next(i for i, p in enumerate(order) if p.endswith(f"/privateEndpoints/pe-{bus}"))
    assert max(i for i, p in enumerate(order) if p.endswith(f"/namespaces/{bus}")) < first_endpoint_put

    writes = len(fake_arm.writes())
    again = await reconcile_platform(platform, azure)
    assert again.ready
    assert len(fake_arm.writes()) == writes, fake_arm.writes()[writes:]


async def test_a_zone_someone_else_keeps_is_never_overwritten_and_never_deleted(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    _prepared(fake_arm)
    hub_zone = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.Network/privateDnsZones/"
    hub_zone += "privatelink.redis.cache.windows.net"
    await azure.private_dns.private_zones.begin_create_or_update(
        RG, "privatelink.redis.cache.windows.net", {"location": "global", "tags": {"owner": "hub-team"}}
    )
    for _ in range(30):
        if (fake_arm.get(hub_zone) or {}).get("properties", {}).get("provisioningState") == "Succeeded":
            break
        await asyncio.sleep(0.1)
    platform = _platform(make_platform, {"subnetId": SUBNET, "subnetCidr": CIDR})
    puts = len(fake_arm.calls("PUT", "/privateDnsZones/privatelink.redis.cache.windows.net"))

    await converged(platform, azure)

    zone_puts = [
        c
        for c in fake_arm.calls("PUT", "/privateDnsZones/privatelink.redis.cache.windows.net")[puts:]
        if "/virtualNetworkLinks/" not in c.path
    ]
    assert zone_puts == []
    assert fake_arm.get(hub_zone)["tags"] == {"owner": "hub-team"}

    deleted = await fully_deleted(platform, azure)
    assert fake_arm.paths("Microsoft.Network/privateEndpoints") == []
    assert fake_arm.paths("Microsoft.Cache/redis") == []
    # Zones and their links stay: other endpoints of the network may resolve through them.
    assert len(fake_arm.paths("Microsoft.Network/privateDnsZones")) == 5
    assert len(fake_arm.paths("Microsoft.Network/privateDnsZones/virtualNetworkLinks")) == 5
    assert {r.provisioning_state for r in deleted.resources if r.kind == Kind.PRIVATE_DNS_ZONE} == {"Retained"}


async def test_zones_of_a_hub_are_only_registered_in(fake_arm: Any, azure: Any, make_platform: Any) -> None:
    _prepared(fake_arm)
    for zone in ZONES:
        await (
            await azure.private_dns.private_zones.begin_create_or_update("rg-hub", zone, {"location": "global"})
        ).result()
    platform = _platform(
        make_platform,
        {"subnetId": SUBNET, "subnetCidr": CIDR, "dnsZoneResourceGroup": "rg-hub", "manageDnsZones": False},
    )
    zone_writes = len(fake_arm.calls("PUT", "/privateDnsZones/"))

    await converged(platform, azure)

    assert len(fake_arm.calls("PUT", "/privateDnsZones/")) == zone_writes
    groups = [fake_arm.get(p) for p in fake_arm.paths("Microsoft.Network/privateEndpoints/privateDnsZoneGroups")]
    assert len(groups) == 5
    assert all(
        "/resourceGroups/rg-hub/" in g["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"]
        for g in groups
    )


async def test_turning_private_endpoints_off_opens_the_stores_and_removes_the_endpoints(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    _prepared(fake_arm)
    private = _platform(make_platform, {"subnetId": SUBNET, "subnetCidr": CIDR})
    await converged(private, azure)
    public = _platform(make_platform, None)

    gone = unnamed_stores(private, public)
    assert {r.kind for r in gone} == {
        Kind.PRIVATE_ENDPOINT,
        Kind.PRIVATE_DNS_ZONE_GROUP,
        Kind.PRIVATE_DNS_ZONE,
        Kind.PRIVATE_DNS_ZONE_LINK,
    }
    assert {r.deletion_policy.value for r in gone if r.kind in (Kind.PRIVATE_DNS_ZONE, Kind.PRIVATE_DNS_ZONE_LINK)} == {
        "Retain"
    }
    removed = await delete_resources(gone, azure)
    for _ in range(30):
        if removed.ready:
            break
        await asyncio.sleep(0.1)
        assert {
            r.deletion_policy.value for r in gone if r.kind in (Kind.PRIVATE_DNS_ZONE, Kind.PRIVATE_DNS_ZONE_LINK)
        } == {"Retain"}
    removed = await delete_resources(gone, azure)
    assert removed.ready, [r for r in removed.resources if not r.ok]
    await converged(public, azure)

    assert fake_arm.paths("Microsoft.Network/privateEndpoints") == []
    assert len(fake_arm.paths("Microsoft.Network/privateDnsZones")) == 5
    stores = _stores(fake_arm)
    assert {path: _public_access(store) for path, store in stores.items()} == {path: "Enabled" for path in stores}


async def test_a_missing_subnet_is_reported_with_its_id_and_a_pending_connection_is_retried(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    fake_arm.add_vault(SUBSCRIPTION, RG, VAULT)
    platform = _platform(make_platform, {"subnetId": SUBNET, "subnetCidr": CIDR})

    outcome = await reconcile_platform(platform, azure)
    for _ in range(30):
        if any(r.kind == Kind.PRIVATE_ENDPOINT and r.failed for r in outcome.resources):
            break
        await asyncio.sleep(0.1)
        outcome = await reconcile_platform(platform, azure)

    # A person must act (the spec names a subnet that is not there): Degraded, naming it.
    assert outcome.degraded is not None
    failures = [r for r in outcome.resources if r.failed and r.kind == Kind.PRIVATE_ENDPOINT]
    assert failures
    assert {(r.error_code, r.retriable) for r in failures} == {("InvalidResourceReference", False)}
    assert all(SUBNET in r.describe_failure() for r in failures)
    [link] = {r.describe_failure() for r in outcome.resources if r.kind == Kind.PRIVATE_DNS_ZONE_LINK and r.failed}
    assert NETWORK.lower() in link.lower()

    fake_arm.add_subnet(SUBNET, CIDR)
    await converged(platform, azure)
    # The store's owner revokes approval (as for a store of another tenant): retried, and says what to do.
    endpoint = fake_arm.paths("Microsoft.Network/privateEndpoints")[0]
    fake_arm.tamper(
        endpoint,
        lambda e: e["properties"]["privateLinkServiceConnections"][0]["properties"].update(
            privateLinkServiceConnectionState={"status": "Pending", "description": "awaiting approval"}
        ),
    )
    outcome = await reconcile_platform(platform, azure)
    [pending] = [r for r in outcome.resources if r.failed]
    assert pending.error_code == "PrivateEndpointConnectionPending"
    assert pending.retriable
    assert "awaiting approval" in (pending.error_message or "")
    assert outcome.requeue
    assert outcome.degraded is None


async def test_the_recovery_side_stores_get_endpoints_in_the_recovery_subnet(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    _prepared(fake_arm)
    fake_arm.add_subnet(RECOVERY_SUBNET, "10.241.4.0/24")
    platform = _platform(
        make_platform,
        {
            "subnetId": SUBNET,
            "subnetCidr": CIDR,
            "recoverySubnetId": RECOVERY_SUBNET,
            "recoverySubnetCidr": "10.241.4.0/24",
        },
        recovery={"rpo": "PT1H", "rto": "PT4H", "secondaryLocation": "westcentralus"},
    )

    await converged(platform, azure)

    endpoints = [fake_arm.get(p) for p in fake_arm.paths("Microsoft.Network/privateEndpoints")]
    recovery_side = {
        naming.service_bus_recovery_namespace_name(SUBSCRIPTION, RG, "prod"),
        naming.redis_recovery_name(SUBSCRIPTION, RG, "prod"),
    }
    in_recovery = [e for e in endpoints if e["properties"]["privateLinkServiceConnections"][0]["name"] in recovery_side]
    assert len(in_recovery) == 2
    assert {e["properties"]["subnet"]["id"] for e in in_recovery} == {RECOVERY_SUBNET}
    assert {e["location"] for e in in_recovery} == {"West Central US"}
    assert len(endpoints) == 7
    # Both networks resolve the store names privately.
    links = [fake_arm.get(p) for p in fake_arm.paths("Microsoft.Network/privateDnsZones/virtualNetworkLinks")]
    assert {link["properties"]["virtualNetwork"]["id"] for link in links} == {NETWORK, RECOVERY_NETWORK}
