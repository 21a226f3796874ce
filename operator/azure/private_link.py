"""Private endpoints (spec.azure.privateEndpoints): each store refuses public network access and gets an endpoint in
the platform's subnet, its name resolving there through a privatelink DNS zone linked to the virtual network.

Pure: the stores' desired resources in, the same stores with public access set plus what makes them reachable
privately out. Every store says `publicNetworkAccess` explicitly, `Enabled` without private endpoints: turning them
off must open the store again, not leave it closed to services whose egress no longer goes to the subnet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.api.platform import AzureSpec, DeletionPolicy, PrivateEndpoints
from fabrikam.operator.azure import naming
from fabrikam.operator.azure.resource import MANAGED_BY, SHARED_TEAM, DesiredResource, Kind, group_resource_id, tags


@dataclass(frozen=True)
class Link:
    """How one kind of store is reached privately: the private link group and the DNS zone its names move to."""

    group: str
    zone: str


# Azure public cloud's privatelink zones and sub-resources ("Azure Private Endpoint private DNS zone values").
SERVICE_BUS = Link(group="namespace", zone="privatelink.servicebus.windows.net")
REDIS = Link(group="redisCache", zone="privatelink.redis.cache.windows.net")
COSMOS_MONGO = Link(group="MongoDB", zone="privatelink.mongo.cosmos.azure.com")
POSTGRES = Link(group="postgresqlServer", zone="privatelink.postgres.database.azure.com")
KEY_VAULT = Link(group="vault", zone="privatelink.vaultcore.azure.net")

LINK_OF_STORE: Mapping[Kind, Link] = {
    Kind.SERVICE_BUS_NAMESPACE: SERVICE_BUS,
    Kind.SERVICE_BUS_RECOVERY_NAMESPACE: SERVICE_BUS,
    Kind.REDIS_CACHE: REDIS,
    Kind.REDIS_RECOVERY_CACHE: REDIS,
    Kind.COSMOS_ACCOUNT: COSMOS_MONGO,
    Kind.POSTGRES_SERVER: POSTGRES,
}
# Shared by every endpoint of their kind in the group and network, other platforms' too: never deleted.
SHARED_KINDS = frozenset({Kind.PRIVATE_DNS_ZONE, Kind.PRIVATE_DNS_ZONE_LINK})
_RECOVERY_SIDE = frozenset({Kind.SERVICE_BUS_RECOVERY_NAMESPACE, Kind.REDIS_RECOVERY_CACHE})


def virtual_network_id(subnet_id: str) -> str:
    """The virtual network a subnet id belongs to: the id without its `/subnets/<name>`."""
    return subnet_id.rsplit("/subnets/", 1)[0]


def public_access(kind: Kind, body: Mapping[str, Any], *, private: bool) -> dict[str, Any]:
    """A store's body with its public network access stated: Disabled behind private endpoints, else Enabled."""
    value = "Disabled" if private else "Enabled"
    properties = dict(body.get("properties", {}))
    if kind is Kind.POSTGRES_SERVER:
        properties["network"] = {**properties.get("network", {}), "publicNetworkAccess": value}
    else:
        properties["publicNetworkAccess"] = value
    return {**body, "properties": properties}


def secured(
    platform: DeliveryPlatform, azure: AzureSpec, resources: Sequence[DesiredResource]
) -> list[DesiredResource]:
    """`resources` with every store's public access stated and, behind private endpoints, each store's endpoint,
    the endpoint's DNS record registration, and (when the platform manages them) the zones and their network links;
    the platform's Key Vault gets an endpoint too. Zones come first, then the stores, then the endpoints."""
    private = azure.private_endpoints
    stated = [
        replace(r, body=public_access(r.kind, r.body, private=private is not None)) if r.kind in LINK_OF_STORE else r
        for r in resources
    ]
    if private is None:
        return stated
    endpoints: list[DesiredResource] = []
    zones: dict[str, list[DesiredResource]] = {}
    for store in stated:
        link = LINK_OF_STORE.get(store.kind)
        if link is None:
            continue
        subnet = _subnet_of(private, recovery_side=store.kind in _RECOVERY_SIDE)
        zones.setdefault(link.zone, []).extend(_zone(azure, private, link.zone, subnet))
        endpoints += _endpoint(platform, azure, store.name, store.id, store.body["location"], link, subnet)
    vault = _key_vault_id(azure)
    if vault is not None and azure.key_vault_name is not None:
        zones.setdefault(KEY_VAULT.zone, []).extend(_zone(azure, private, KEY_VAULT.zone, private.subnet_id))
        name = f"{azure.key_vault_name}-{platform.name}"
        endpoints += _endpoint(platform, azure, name, vault, azure.location, KEY_VAULT, private.subnet_id)
    unique_zones = list({r.id.casefold(): r for rs in zones.values() for r in rs}.values())
    return [*unique_zones, *stated, *endpoints]


def _subnet_of(private: PrivateEndpoints, *, recovery_side: bool) -> str:
    if recovery_side and private.recovery_subnet_id is not None:
        return private.recovery_subnet_id
    return private.subnet_id


def _key_vault_id(azure: AzureSpec) -> str | None:
    if azure.key_vault_name is None:
        return None
    return group_resource_id(azure, "Microsoft.KeyVault/vaults", azure.key_vault_name)


def zone_id(azure: AzureSpec, private: PrivateEndpoints, zone: str) -> str:
    group = private.dns_zone_resource_group or azure.resource_group
    return naming.resource_id(azure.subscription_id, group, "Microsoft.Network/privateDnsZones", zone)


def _zone(azure: AzureSpec, private: PrivateEndpoints, zone: str, subnet_id: str) -> list[DesiredResource]:
    """The privatelink zone and its link to the subnet's virtual network, when the platform manages zones. Both are
    shared by every endpoint of their kind in the group and network (other platforms' too): created when missing,
    never deleted, their tags written once and not compared (each platform would write its own)."""
    if not private.manage_dns_zones:
        return []
    group = private.dns_zone_resource_group or azure.resource_group
    identifier = zone_id(azure, private, zone)
    network = virtual_network_id(subnet_id)
    shared_tags = {"managed-by": MANAGED_BY, "shared": "true"}
    link_name = naming.bounded(f"{network.rsplit('/', 1)[1]}-{naming.short_hash(network)}", 80)
    return [
        DesiredResource(
            kind=Kind.PRIVATE_DNS_ZONE,
            name=zone,
            id=identifier,
            resource_group=group,
            body={"location": "global", "tags": shared_tags},
            deletion_policy=DeletionPolicy.RETAIN,
            write_only=frozenset({"tags"}),
        ),
        DesiredResource(
            kind=Kind.PRIVATE_DNS_ZONE_LINK,
            name=link_name,
            id=f"{identifier}/virtualNetworkLinks/{link_name}",
            resource_group=group,
            body={
                "location": "global",
                "tags": shared_tags,
                "properties": {"virtualNetwork": {"id": network}, "registrationEnabled": False},
            },
            deletion_policy=DeletionPolicy.RETAIN,
            parent=zone,
            write_only=frozenset({"tags"}),
        ),
    ]


def _endpoint(
    platform: DeliveryPlatform,
    azure: AzureSpec,
    target_name: str,
    target_id: str,
    location: str,
    link: Link,
    subnet_id: str,
) -> list[DesiredResource]:
    """The endpoint of one store in `subnet_id`, created after the store and deleted before it, and its DNS zone
    group, which keeps the store's A record in the zone pointing at the endpoint's address."""
    private = azure.private_endpoints
    assert private is not None
    name = naming.private_endpoint_name(target_name)
    endpoint_id = group_resource_id(azure, "Microsoft.Network/privateEndpoints", name)
    zone = zone_id(azure, private, link.zone)
    endpoint = DesiredResource(
        kind=Kind.PRIVATE_ENDPOINT,
        name=name,
        id=endpoint_id,
        resource_group=azure.resource_group,
        body={
            "location": location,
            "tags": tags(platform, azure, team=SHARED_TEAM, service="private-endpoint", cost_center=None),
            "properties": {
                "subnet": {"id": subnet_id},
                "privateLinkServiceConnections": [
                    {"name": target_name, "properties": {"privateLinkServiceId": target_id, "groupIds": [link.group]}}
                ],
            },
        },
        deletion_policy=azure.deletion_policy,
        partner=target_id,
    )
    zone_group = DesiredResource(
        kind=Kind.PRIVATE_DNS_ZONE_GROUP,
        name="default",
        id=f"{endpoint_id}/privateDnsZoneGroups/default",
        resource_group=azure.resource_group,
        body={
            "properties": {
                "privateDnsZoneConfigs": [
                    {"name": link.zone.replace(".", "-"), "properties": {"privateDnsZoneId": zone}}
                ]
            }
        },
        deletion_policy=azure.deletion_policy,
        parent=name,
        partner=zone,
    )
    return [endpoint, zone_group]
