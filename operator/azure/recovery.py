"""Disaster recovery (`spec.recovery`): what each data store needs in the secondary location to survive the loss of
the platform's region, and whether what Azure holds meets the recovery point and time objectives (RPO, RTO).

Pure: desired.py builds the ARM resources from the decisions and bodies here, and `assess` judges what the last Azure
pass found. What each store can do across regions, as Azure documents it (the figures `assess` holds the targets
against; None where Azure states no bound):

- Service Bus Premium, geo-disaster recovery: a namespace in the secondary location paired with the platform's through
  an alias. The pairing replicates the namespace's metadata (queues and their settings), never its messages. Clients
  connect to the alias, which a failover repoints to the secondary, "nearly instantaneous once initiated", breaking
  the pairing; only a person starts one ("Azure never triggers a failover"). Standard has no geo-disaster recovery.
  (learn.microsoft.com/azure/service-bus-messaging/service-bus-geo-dr)
- Azure Cache for Redis Premium, passive geo-replication: a linked cache in the secondary location, replicated
  asynchronously ("no recovery point is guaranteed"), never for a zone-redundant cache; its geo-primary host name
  follows a geo-failover. Basic and Standard have none. (azure-cache-for-redis/cache-how-to-geo-replication)
- Cosmos DB: a second region with service-managed failover, one write region, session consistency: RPO < 15 minutes,
  RTO < 15 minutes. (cosmos-db/consistency-levels, "Consistency levels and data durability")
- PostgreSQL flexible server: geo-redundant backup, set only when a server is created, restored into the region Azure
  pairs with the server's: "up to one hour of RPO", a recovery time "from a few minutes up to a few hours".
  (postgresql/flexible-server/concepts-backup-restore, "Geo-redundant backup and restore")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

import isodate

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.api.platform import AzureSpec, RecoverySpec, RecoveryStatus
from fabrikam.operator.azure import naming
from fabrikam.operator.azure.results import HELD, ResourceResult

RUNBOOK = "docs/runbooks/disaster-recovery.md"


class Store(StrEnum):
    """A data store `assess` reports on, named as in status.recovery[].store."""

    SERVICE_BUS = "ServiceBus"
    REDIS = "Redis"
    COSMOS_DB = "CosmosDb"
    POSTGRES = "Postgres"


@dataclass(frozen=True)
class Figures:
    """What a store loses (RPO) and how long it takes to serve again (RTO) after its region is lost, as Azure documents
    it for what the operator provisions; None where Azure states no bound."""

    rpo: str | None
    rto: str | None


SERVICE_BUS_GEO_DR = Figures(rpo=None, rto=None)
REDIS_GEO_REPLICATION = Figures(rpo=None, rto=None)
COSMOS_SERVICE_MANAGED_FAILOVER = Figures(rpo="PT15M", rto="PT15M")
POSTGRES_GEO_RESTORE = Figures(rpo="PT1H", rto=None)


def pairs_service_bus(platform: DeliveryPlatform) -> bool:
    """Geo-disaster recovery exists for Premium namespaces only."""
    bus = platform.spec.messaging.service_bus
    return platform.spec.recovery is not None and bus is not None and bus.sku == "Premium"


def links_redis(platform: DeliveryPlatform) -> bool:
    """Premium only, and never a zone-redundant cache (Azure does not geo-replicate one): with recovery the cache
    leaves out the platform's default zones, while zones its own spec asks for win over recovery."""
    cache = platform.spec.cache.redis
    return platform.spec.recovery is not None and cache is not None and cache.sku == "Premium" and not cache.zones


def forces_geo_backup(platform: DeliveryPlatform, *, asked: bool) -> bool:
    """Recovery turns a PostgreSQL server's geo-redundant backup on where its spec did not ask for it. Azure sets it
    only when a server is created: an existing server keeps what it has (`assess` reports it)."""
    return platform.spec.recovery is not None and not asked


def _recovery(platform: DeliveryPlatform) -> RecoverySpec:
    if platform.spec.recovery is None:
        raise ValueError(f"platform {platform.name} has no spec.recovery")
    return platform.spec.recovery


def on_recovery_side(platform: DeliveryPlatform, body: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a store's partner in the secondary location: the same settings there, without zones (a
    geo-replicated cache has none; a namespace's zone redundancy is a property, kept)."""
    kept = {key: value for key, value in body.items() if key != "zones"}
    return {**kept, "location": _recovery(platform).secondary_location}


def alias_body(partner_id: str) -> dict[str, Any]:
    """A geo-recovery alias, PUT on the active namespace: the passive one receives its metadata."""
    return {"properties": {"partnerNamespace": partner_id}}


def link_body(platform: DeliveryPlatform, recovery_cache_id: str) -> dict[str, Any]:
    """Passive geo-replication from the platform's cache to the one in the secondary location."""
    return {
        "properties": {
            "linkedRedisCacheId": recovery_cache_id,
            "linkedRedisCacheLocation": _recovery(platform).secondary_location,
            "serverRole": "Secondary",
        }
    }


def cosmos_regions(platform: DeliveryPlatform, location: str, *, zone_redundant: bool) -> dict[str, Any]:
    """The account's regions; with recovery the secondary location too, at failover priority 1, and service-managed
    failover, which Azure recommends for every production account ("manual failover will not succeed" while the
    write region is down). The secondary is not zone redundant: not every region has zones (westus2's pair,
    westcentralus, has none)."""
    primary = {"locationName": location, "failoverPriority": 0, "isZoneRedundant": zone_redundant}
    if platform.spec.recovery is None:
        return {"locations": [primary]}
    secondary = {
        "locationName": platform.spec.recovery.secondary_location,
        "failoverPriority": 1,
        "isZoneRedundant": False,
    }
    return {"locations": [primary, secondary], "enableAutomaticFailover": True}


def keep_failover_order(
    regions: Sequence[Mapping[str, Any]], held: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """A Cosmos DB account's regions for an update of the existing account: the spec's regions in the order Azure
    holds them (a new one last). After a failover the write region (priority 0) is another one; sending the spec's
    order would fail back behind the back of whoever (Azure or a person) failed over."""

    def name(region: Mapping[str, Any]) -> str:
        return str(region.get("locationName", "")).replace(" ", "").casefold()

    ranks = {name(region): int(region.get("failoverPriority", 0)) for region in held}
    ordered = sorted(
        regions, key=lambda region: ranks.get(name(region), len(held) + int(region.get("failoverPriority", 0)))
    )
    return [{**region, "failoverPriority": priority} for priority, region in enumerate(ordered)]


class Side(StrEnum):
    HOME = "home"  # spec.azure.location
    RECOVERY = "recovery"  # spec.recovery.secondaryLocation

    @property
    def other(self) -> Side:
        return Side.RECOVERY if self is Side.HOME else Side.HOME


@dataclass(frozen=True)
class Pairing:
    """The geo-recovery pairing of the platform's Service Bus namespaces as Azure has it, read before each pass: a
    failover (a person's act) makes the recovery namespace the active one and breaks the pairing. The operator follows
    Azure instead of undoing it: the queues go to the active namespace, and the pairing is made again from there, in
    the other direction, once the passive namespace can take it."""

    active: Side = Side.HOME
    # Why the pairing is not made this pass: the passive namespace holds queues outside a pairing (Azure pairs only an
    # empty namespace; after a failover the old primary keeps the messages it stranded), or it could not be read.
    held: str | None = None


def namespace(azure: AzureSpec, platform: str, side: Side) -> tuple[str, str]:
    """Name and id of the platform's namespace on that side."""
    named = naming.service_bus_namespace_name if side is Side.HOME else naming.service_bus_recovery_namespace_name
    name = named(azure.subscription_id, azure.resource_group, platform)
    return name, naming.resource_id(
        azure.subscription_id, azure.resource_group, "Microsoft.ServiceBus/namespaces", name
    )


def alias_name(azure: AzureSpec, platform: str) -> str:
    return naming.service_bus_alias_name(azure.subscription_id, azure.resource_group, platform)


def _properties(resource: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (resource or {}).get("properties") or {}


def active_side(home_alias: Mapping[str, Any] | None, recovery_alias: Mapping[str, Any] | None) -> Side:
    """Which namespace holds the alias as primary (`Primary`, or `PrimaryNotReplicating` once a failover or a broken
    pairing left it alone): the recovery one after a failover, the platform's otherwise."""
    role = str(_properties(recovery_alias).get("role", "")).casefold()
    return Side.RECOVERY if role in ("primary", "primarynotreplicating") else Side.HOME


def replicating(alias: Mapping[str, Any] | None, partner_id: str) -> bool:
    """Whether `alias` (on the active namespace) pairs it with `partner_id`."""
    properties = _properties(alias)
    return (
        str(properties.get("role", "")).casefold() == "primary"
        and str(properties.get("partnerNamespace", "")).casefold() == partner_id.casefold()
    )


def pairing(platform: DeliveryPlatform, active: Side, *, passive_queues: int) -> Pairing:
    """The pairing to aim for, given the active side and how many queues the passive namespace holds outside it."""
    azure = platform.spec.azure
    if passive_queues == 0 or azure is None:
        return Pairing(active)
    active_name, _ = namespace(azure, platform.name, active)
    passive_name, _ = namespace(azure, platform.name, active.other)
    return Pairing(
        active,
        held=f"{active_name} is the active namespace of the alias {alias_name(azure, platform.name)} and "
        f"{passive_name} holds {passive_queues} queues outside the pairing (after a failover, with the messages it "
        f"stranded). Azure pairs only an empty namespace: drain those queues and delete them, and the operator pairs "
        f"{active_name} with {passive_name} on its next pass ({RUNBOOK})",
    )


def alias_endpoint(alias: str, namespace_endpoint: str) -> str:
    """Where clients reach the active namespace through the alias: the namespace's endpoint with the alias for its
    name (`https://<alias>.servicebus.windows.net:443/`, whatever the cloud's suffix)."""
    parsed = urlparse(namespace_endpoint)
    suffix = (parsed.hostname or "").split(".", 1)[-1]
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme or 'https'}://{alias}.{suffix}{port}/"


@dataclass(frozen=True)
class StoreRecovery:
    """One store judged against spec.recovery."""

    store: Store
    meets_targets: bool
    detail: str
    rpo: str | None = None
    rto: str | None = None
    # Still being provisioned: short of the targets for now, nothing for a person to do.
    provisioning: bool = False

    def as_status(self) -> RecoveryStatus:
        return RecoveryStatus(
            store=self.store.value,
            meets_targets=self.meets_targets,
            rpo=self.rpo,
            rto=self.rto,
            detail=self.detail[:1024],
        )


@dataclass(frozen=True)
class Shortfall:
    """Stores short of the targets for a reason a person must act on: the Degraded condition and its Event."""

    stores: tuple[Store, ...]
    message: str


def shortfall(assessed: Iterable[StoreRecovery]) -> Shortfall | None:
    short = [a for a in assessed if not a.meets_targets and not a.provisioning]
    if not short:
        return None
    return Shortfall(tuple(a.store for a in short), "; ".join(f"{a.store}: {a.detail}" for a in short))


def _within(figure: str | None, target: str) -> bool:
    return figure is None or isodate.parse_duration(figure) <= isodate.parse_duration(target)


def _judged(store: Store, figures: Figures, targets: RecoverySpec, how: str) -> StoreRecovery:
    short = [
        f"{what} {figure} is above the target {target}"
        for what, figure, target in (("RPO", figures.rpo, targets.rpo), ("RTO", figures.rto, targets.rto))
        if not _within(figure, target)
    ]
    detail = f"{how}; {', '.join(short)}" if short else how
    return StoreRecovery(store, not short, detail, rpo=figures.rpo, rto=figures.rto)


def _unfinished(store: Store, result: ResourceResult | None, what: str) -> StoreRecovery | None:
    """The store's assessment while `result` (what proves its recovery) is missing, failed, held or still running;
    None once it is done."""
    if result is None:
        return StoreRecovery(store, False, f"{what} is not provisioned yet", provisioning=True)
    if result.failed:
        # A retriable failure clears by itself (or is reported by the Azure conditions once it lasts).
        failure = f"{what}: {result.error_code}: {result.error_message}"
        return StoreRecovery(store, False, failure, provisioning=result.retriable)
    if result.provisioning_state == HELD:
        return StoreRecovery(store, False, f"{what}: {result.error_message}")
    if not result.ok:
        waiting = f" ({result.error_message})" if result.error_message else ""
        return StoreRecovery(store, False, f"{what} is {result.provisioning_state}{waiting}", provisioning=True)
    return None


def _last(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def _service_bus(
    platform: DeliveryPlatform, azure: AzureSpec, targets: RecoverySpec, alias: ResourceResult | None
) -> StoreRecovery:
    if not pairs_service_bus(platform):
        return StoreRecovery(
            Store.SERVICE_BUS,
            False,
            "Service Bus Standard has no geo-disaster recovery: set messaging.serviceBus.sku Premium (the operator "
            f"then pairs the namespace with one in {targets.secondary_location})",
        )
    unfinished = _unfinished(Store.SERVICE_BUS, alias, "the geo-recovery alias")
    if unfinished is not None:
        return unfinished
    assert alias is not None
    role = alias.outputs.get("role", "")
    if role.casefold() != "primary":
        why = f"the geo-recovery alias {alias.name} is not replicating (role {role or 'unknown'})"
        return StoreRecovery(Store.SERVICE_BUS, False, why)
    active = _last(alias.id.rsplit("/disasterRecoveryConfigs/", 1)[0])
    passive = _last(alias.outputs.get("partnerNamespace", ""))
    failed_over = active == namespace(azure, platform.name, Side.RECOVERY)[0]
    here, there = (
        (targets.secondary_location, azure.location) if failed_over else (azure.location, targets.secondary_location)
    )
    how = (
        f"the alias {alias.name} points at {active} ({here}), paired with {passive} ({there}): queues and their "
        "settings are replicated, messages are not (those in flight at a failover stay in the failed namespace); a "
        f"person starts the failover ({RUNBOOK})"
    )
    return _judged(Store.SERVICE_BUS, SERVICE_BUS_GEO_DR, targets, how)


def _redis(
    platform: DeliveryPlatform, azure: AzureSpec, targets: RecoverySpec, link: ResourceResult | None
) -> StoreRecovery:
    cache = platform.spec.cache.redis
    assert cache is not None
    if cache.sku != "Premium":
        return StoreRecovery(
            Store.REDIS,
            False,
            f"Azure Cache for Redis {cache.sku} has no geo-replication: set cache.redis.sku Premium (the operator then "
            f"links the cache to one in {targets.secondary_location})",
        )
    if cache.zones:
        return StoreRecovery(
            Store.REDIS,
            False,
            "Azure Cache for Redis does not geo-replicate a zone-redundant cache: remove cache.redis.zones (zones are "
            f"fixed when a cache is created: an existing zone-redundant cache must be re-created, see {RUNBOOK})",
        )
    unfinished = _unfinished(Store.REDIS, link, "the geo-replication link")
    if unfinished is not None:
        return unfinished
    assert link is not None
    recovery_name = naming.redis_recovery_name(azure.subscription_id, azure.resource_group, platform.name)
    how = (
        f"passive geo-replication to {recovery_name} ({targets.secondary_location}), asynchronous: Azure guarantees no "
        f"recovery point; the services use {link.endpoint}, which a geo-failover (a person's act) moves to the new "
        "geo-primary"
    )
    return _judged(Store.REDIS, REDIS_GEO_REPLICATION, targets, how)


def _cosmos(platform: DeliveryPlatform, targets: RecoverySpec, account: ResourceResult | None) -> StoreRecovery:
    cosmos = platform.spec.databases.cosmos_db
    assert cosmos is not None
    unfinished = _unfinished(Store.COSMOS_DB, account, "the Cosmos DB account")
    if unfinished is not None:
        return unfinished
    days = "7" if cosmos.backup_tier == "Continuous7Days" else "30"
    how = (
        f"a second region {targets.secondary_location} (failover priority 1) with service-managed failover and session "
        f"consistency: Azure states an RPO under 15 minutes and an RTO under 15 minutes for the loss of a region; "
        f"continuous backup restores any point of the last {days} days"
    )
    return _judged(Store.COSMOS_DB, COSMOS_SERVICE_MANAGED_FAILOVER, targets, how)


def _postgres(azure: AzureSpec, targets: RecoverySpec, server: ResourceResult | None) -> StoreRecovery:
    unfinished = _unfinished(Store.POSTGRES, server, "the PostgreSQL server")
    if unfinished is not None:
        return unfinished
    assert server is not None
    if server.outputs.get("geoRedundantBackup", "").casefold() != "enabled":
        return StoreRecovery(
            Store.POSTGRES,
            False,
            f"PostgreSQL server {server.name} was created without geo-redundant backup, which Azure sets only when a "
            f"server is created: it cannot be geo-restored. Copy it into a server created with geo-redundant backup "
            f"({RUNBOOK}, PostgreSQL)",
        )
    how = (
        f"geo-redundant backup, geo-restored into the region Azure pairs with {azure.location} (which may not be "
        f"{targets.secondary_location}): up to 1 hour of data lost; the restore takes from a few minutes up to a few "
        "hours by database size, a bound Azure does not state"
    )
    return _judged(Store.POSTGRES, POSTGRES_GEO_RESTORE, targets, how)


def assess(platform: DeliveryPlatform, evidence: Mapping[Store, ResourceResult]) -> list[StoreRecovery]:
    """Per store the platform has, whether what Azure holds meets spec.recovery; empty without it. `evidence` is what
    the last Azure pass found of the resource proving each store's recovery: the Service Bus alias, the Redis link,
    the Cosmos DB account, the PostgreSQL server (missing: not there yet)."""
    azure, targets, spec = platform.spec.azure, platform.spec.recovery, platform.spec
    if azure is None or targets is None:
        return []
    assessed: list[StoreRecovery] = []
    if spec.messaging.service_bus is not None:
        assessed.append(_service_bus(platform, azure, targets, evidence.get(Store.SERVICE_BUS)))
    if spec.cache.redis is not None:
        assessed.append(_redis(platform, azure, targets, evidence.get(Store.REDIS)))
    if spec.databases.cosmos_db is not None:
        assessed.append(_cosmos(platform, targets, evidence.get(Store.COSMOS_DB)))
    if spec.databases.postgres is not None:
        assessed.append(_postgres(azure, targets, evidence.get(Store.POSTGRES)))
    return assessed
