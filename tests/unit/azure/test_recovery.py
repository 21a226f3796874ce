"""Disaster recovery as a specification: given spec.recovery, these partners, links and bodies; given what Azure
holds, this verdict per store against the targets."""

from __future__ import annotations

from typing import Any

import pytest

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.azure import Kind, access_resources, assess, naming, platform_resources, shortfall
from fabrikam.operator.azure.desired import SERVICE_BUS_DATA_SENDER, stale_grants
from fabrikam.operator.azure.drift import differences
from fabrikam.operator.azure.recovery import (
    Pairing,
    Side,
    Store,
    active_side,
    alias_endpoint,
    keep_failover_order,
    pairing,
    replicating,
)
from fabrikam.operator.azure.results import HELD, IN_PROGRESS, SUCCEEDED, ResourceResult

RECOVERY = {"rpo": "PT1H", "rto": "PT4H", "secondaryLocation": "westcentralus"}
DATABASES = {"cosmosDb": {}, "postgres": {}}
PRINCIPAL = "0d5b4a38-7f4c-4f3e-9d44-21b7a63f6b0e"
GROUP = "/subscriptions/00000000-0000-0000-0000-00000000a2e0/resourceGroups/rg-fabrikam/providers"


@pytest.fixture
def platform(make_platform: Any) -> DeliveryPlatform:
    built: DeliveryPlatform = make_platform(
        azure={"keyVaultName": "kv-fabrikam"}, databases=DATABASES, recovery=RECOVERY
    )
    return built


def _one(resources: list[Any], kind: Kind) -> Any:
    [found] = [r for r in resources if r.kind is kind]
    return found


def _names(platform: DeliveryPlatform) -> dict[str, str]:
    azure = platform.spec.azure
    assert azure is not None
    parts = (azure.subscription_id, azure.resource_group, platform.name)
    return {
        "home": naming.service_bus_namespace_name(*parts),
        "recovery": naming.service_bus_recovery_namespace_name(*parts),
        "alias": naming.service_bus_alias_name(*parts),
        "cache": naming.redis_name(*parts),
        "recovery_cache": naming.redis_recovery_name(*parts),
    }


def test_premium_service_bus_gets_the_same_namespace_in_the_secondary_location_and_an_alias_pairing_them(
    platform: DeliveryPlatform,
) -> None:
    resources = platform_resources(platform)
    home = _one(resources, Kind.SERVICE_BUS_NAMESPACE)
    partner = _one(resources, Kind.SERVICE_BUS_RECOVERY_NAMESPACE)
    alias = _one(resources, Kind.SERVICE_BUS_ALIAS)
    names = _names(platform)

    assert partner.name == names["recovery"]
    assert partner.id == f"{GROUP}/Microsoft.ServiceBus/namespaces/{names['recovery']}"
    assert partner.body == {**home.body, "location": "westcentralus"}
    assert alias.name == names["alias"]
    assert alias.id == f"{home.id}/disasterRecoveryConfigs/{names['alias']}"
    assert alias.body == {"properties": {"partnerNamespace": partner.id}}
    # Created once both namespaces exist, deleted before either.
    assert (alias.parent, alias.partner) == (home.name, partner.id)
    # Queues are written to the active namespace only; the pairing replicates them.
    queues = [r for r in resources if r.kind is Kind.SERVICE_BUS_QUEUE]
    assert queues
    assert all(q.parent == home.name and q.id.startswith(f"{home.id}/queues/") for q in queues)


def test_geo_recovery_names_are_distinct_dns_names_within_azure_limits(make_platform: Any) -> None:
    long = make_platform(recovery=RECOVERY)
    long = long.model_copy(update={"metadata": long.metadata.model_copy(update={"name": "x" * 63})})
    for built in (make_platform(recovery=RECOVERY), long):
        names = _names(built)
        assert len(set(names.values())) == len(names)
        for key in ("home", "recovery", "alias"):
            assert 6 <= len(names[key]) <= 50
            assert names[key][0].isalpha()
            assert not names[key].endswith(("-sb", "-mgmt"))
        assert len(names["recovery_cache"]) <= 63


def test_standard_service_bus_has_no_geo_recovery_and_falls_short(make_platform: Any) -> None:
    standard = make_platform(messaging={"serviceBus": {"sku": "Standard"}}, recovery=RECOVERY)
    kinds = {r.kind for r in platform_resources(standard)}

    assert Kind.SERVICE_BUS_RECOVERY_NAMESPACE not in kinds
    assert Kind.SERVICE_BUS_ALIAS not in kinds
    [bus] = [a for a in assess(standard, {}) if a.store is Store.SERVICE_BUS]
    assert not bus.meets_targets
    assert not bus.provisioning
    assert "Service Bus Standard has no geo-disaster recovery: set messaging.serviceBus.sku Premium" in bus.detail


def test_after_a_failover_queues_go_to_the_recovery_namespace_and_the_pairing_is_made_from_there(
    platform: DeliveryPlatform,
) -> None:
    resources = platform_resources(platform, Pairing(Side.RECOVERY))
    home = _one(resources, Kind.SERVICE_BUS_NAMESPACE)
    partner = _one(resources, Kind.SERVICE_BUS_RECOVERY_NAMESPACE)
    alias = _one(resources, Kind.SERVICE_BUS_ALIAS)

    assert alias.id == f"{partner.id}/disasterRecoveryConfigs/{alias.name}"
    assert alias.body == {"properties": {"partnerNamespace": home.id}}
    assert (alias.parent, alias.partner) == (partner.name, home.id)
    queues = [r for r in resources if r.kind is Kind.SERVICE_BUS_QUEUE]
    assert all(q.parent == partner.name and q.id.startswith(f"{partner.id}/queues/") for q in queues)
    # Both namespaces keep their own settings, wherever the alias points.
    assert home.body["location"] == "westus2"
    assert partner.body["location"] == "westcentralus"


def test_a_held_pairing_is_not_made_while_the_namespaces_stay(platform: DeliveryPlatform) -> None:
    kinds = [r.kind for r in platform_resources(platform, Pairing(Side.RECOVERY, held="the old primary has queues"))]

    assert Kind.SERVICE_BUS_ALIAS not in kinds
    assert Kind.SERVICE_BUS_NAMESPACE in kinds
    assert Kind.SERVICE_BUS_RECOVERY_NAMESPACE in kinds


def test_the_active_side_is_where_the_alias_is_primary(platform: DeliveryPlatform) -> None:
    names = _names(platform)
    home_id = f"{GROUP}/Microsoft.ServiceBus/namespaces/{names['home']}"
    recovery_id = f"{GROUP}/Microsoft.ServiceBus/namespaces/{names['recovery']}"
    primary = {"properties": {"role": "Primary", "partnerNamespace": recovery_id}}
    secondary = {"properties": {"role": "Secondary", "partnerNamespace": home_id}}
    failed_over = {"properties": {"role": "PrimaryNotReplicating", "partnerNamespace": ""}}

    assert active_side(None, None) is Side.HOME
    assert active_side(primary, secondary) is Side.HOME
    assert active_side(None, failed_over) is Side.RECOVERY
    assert replicating(primary, recovery_id.upper())
    assert not replicating(failed_over, home_id)
    assert pairing(platform, Side.RECOVERY, passive_queues=0) == Pairing(Side.RECOVERY)
    held = pairing(platform, Side.RECOVERY, passive_queues=7)
    assert held.held is not None
    assert f"{names['home']} holds 7 queues outside the pairing" in held.held
    assert "docs/runbooks/disaster-recovery.md" in held.held


def test_the_alias_endpoint_is_the_namespace_endpoint_under_the_alias_name() -> None:
    assert alias_endpoint("sb-prod-geo-1", "https://sb-prod-2.servicebus.windows.net:443/") == (
        "https://sb-prod-geo-1.servicebus.windows.net:443/"
    )
    assert alias_endpoint("sb-prod-geo-1", "https://sb-prod-2.servicebus.usgovcloudapi.net/") == (
        "https://sb-prod-geo-1.servicebus.usgovcloudapi.net/"
    )


def test_premium_redis_geo_replicates_to_a_cache_of_the_same_size_without_zones(platform: DeliveryPlatform) -> None:
    resources = platform_resources(platform)
    cache = _one(resources, Kind.REDIS_CACHE)
    partner = _one(resources, Kind.REDIS_RECOVERY_CACHE)
    link = _one(resources, Kind.REDIS_LINKED_SERVER)
    names = _names(platform)

    # Azure does not geo-replicate a zone-redundant cache: recovery leaves out the platform's default zones.
    assert "zones" not in cache.body
    assert partner.body == {**cache.body, "location": "westcentralus"}
    assert partner.name == names["recovery_cache"]
    assert link.id == f"{cache.id}/linkedServers/{partner.name}"
    assert link.body == {
        "properties": {
            "linkedRedisCacheId": partner.id,
            "linkedRedisCacheLocation": "westcentralus",
            "serverRole": "Secondary",
        }
    }
    assert (link.parent, link.partner) == (cache.name, partner.id)
    # Never compared: a link cannot be updated, and a geo-failover swaps its roles.
    assert link.compared_body() == {}


def test_zones_a_cache_asks_for_win_over_recovery(make_platform: Any) -> None:
    zoned = make_platform(cache={"redis": {"zones": ["1", "2"]}}, recovery=RECOVERY)
    resources = platform_resources(zoned)

    assert _one(resources, Kind.REDIS_CACHE).body["zones"] == ["1", "2"]
    assert not [r for r in resources if r.kind in (Kind.REDIS_RECOVERY_CACHE, Kind.REDIS_LINKED_SERVER)]
    [redis] = [a for a in assess(zoned, {}) if a.store is Store.REDIS]
    assert not redis.meets_targets
    assert "remove cache.redis.zones" in redis.detail


def test_basic_and_standard_redis_have_no_geo_replication(make_platform: Any) -> None:
    standard = make_platform(cache={"redis": {"sku": "Standard"}}, recovery=RECOVERY)

    assert not [r for r in platform_resources(standard) if r.kind is Kind.REDIS_LINKED_SERVER]
    [redis] = [a for a in assess(standard, {}) if a.store is Store.REDIS]
    assert (redis.meets_targets, redis.provisioning) == (False, False)
    assert "Azure Cache for Redis Standard has no geo-replication: set cache.redis.sku Premium" in redis.detail


def test_cosmos_db_gets_a_second_region_and_service_managed_failover(platform: DeliveryPlatform) -> None:
    account = _one(platform_resources(platform), Kind.COSMOS_ACCOUNT)

    assert account.body["properties"]["locations"] == [
        {"locationName": "westus2", "failoverPriority": 0, "isZoneRedundant": True},
        {"locationName": "westcentralus", "failoverPriority": 1, "isZoneRedundant": False},
    ]
    assert account.body["properties"]["enableAutomaticFailover"] is True
    assert account.body["properties"]["backupPolicy"]["type"] == "Continuous"


def test_postgres_geo_redundant_backup_is_asked_for_at_creation_and_never_forced_on_an_existing_server(
    platform: DeliveryPlatform, make_platform: Any
) -> None:
    server = _one(platform_resources(platform), Kind.POSTGRES_SERVER)

    assert server.body["properties"]["backup"]["geoRedundantBackup"] == "Enabled"
    # Fixed at creation: an existing server without it is reported short (assess), never sent a change Azure refuses.
    assert "geoRedundantBackup" not in server.compared_body()["properties"]["backup"]
    asked = make_platform(databases={"postgres": {"geoRedundantBackup": True}}, recovery=RECOVERY)
    assert (
        "geoRedundantBackup"
        in _one(platform_resources(asked), Kind.POSTGRES_SERVER).compared_body()["properties"]["backup"]
    )


def test_without_recovery_the_stores_are_as_before(make_platform: Any) -> None:
    plain = make_platform(azure={"keyVaultName": "kv-fabrikam"}, databases=DATABASES)
    resources = platform_resources(plain)
    kinds = {r.kind for r in resources}

    assert not kinds & {
        Kind.SERVICE_BUS_RECOVERY_NAMESPACE,
        Kind.SERVICE_BUS_ALIAS,
        Kind.REDIS_RECOVERY_CACHE,
        Kind.REDIS_LINKED_SERVER,
    }
    assert _one(resources, Kind.REDIS_CACHE).body["zones"] == ["1", "2", "3"]
    account = _one(resources, Kind.COSMOS_ACCOUNT)
    assert "enableAutomaticFailover" not in account.body["properties"]
    assert len(account.body["properties"]["locations"]) == 1
    assert _one(resources, Kind.POSTGRES_SERVER).body["properties"]["backup"]["geoRedundantBackup"] == "Disabled"
    assert assess(plain, {}) == []


def test_grants_cover_the_recovery_namespace_too_because_the_pairing_replicates_no_role_assignment(
    platform: DeliveryPlatform, make_service: Any
) -> None:
    svc = make_service("returns", uses=[{"kind": "queue", "name": "delivery-requests", "access": ["send"]}])
    names = _names(platform)
    grants = [g for g in access_resources(svc, platform, principal_id=PRINCIPAL) if g.kind is Kind.ROLE_ASSIGNMENT]

    assert [g.scope for g in grants] == [
        f"{GROUP}/Microsoft.ServiceBus/namespaces/{names['home']}/queues/delivery-requests",
        f"{GROUP}/Microsoft.ServiceBus/namespaces/{names['recovery']}/queues/delivery-requests",
    ]
    assert grants[1].body["properties"]["description"].endswith("send on queue delivery-requests (geo-recovery)")
    # Once the service stops sending, both are the operator's to revoke.
    listed = [
        {
            "id": g.id,
            "name": g.name,
            "properties": {**g.body["properties"], "scope": g.scope},
        }
        for g in grants
    ]
    idle = make_service("returns")
    stale = stale_grants(
        idle, platform, principal_id=PRINCIPAL, role_assignments=listed, redis_assignments=[], redis_policies=[]
    )
    assert sorted(r.id for r in stale) == sorted(g.id for g in grants)
    assert all(g.body["properties"]["roleDefinitionId"].endswith(SERVICE_BUS_DATA_SENDER) for g in grants)


def _result(kind: Kind, name: str, state: str = SUCCEEDED, **values: Any) -> ResourceResult:
    return ResourceResult(kind=kind, name=name, id=f"{GROUP}/x/{name}", provisioning_state=state, **values)


def _evidence(platform: DeliveryPlatform, *, geo_backup: str = "Enabled") -> dict[Store, ResourceResult]:
    names = _names(platform)
    home = f"{GROUP}/Microsoft.ServiceBus/namespaces/{names['home']}"
    recovery = f"{GROUP}/Microsoft.ServiceBus/namespaces/{names['recovery']}"
    return {
        Store.SERVICE_BUS: ResourceResult(
            kind=Kind.SERVICE_BUS_ALIAS,
            name=names["alias"],
            id=f"{home}/disasterRecoveryConfigs/{names['alias']}",
            provisioning_state=SUCCEEDED,
            outputs={"role": "Primary", "partnerNamespace": recovery},
        ),
        Store.REDIS: _result(
            Kind.REDIS_LINKED_SERVER, names["recovery_cache"], endpoint=f"{names['cache']}.geo.redis.cache.windows.net"
        ),
        Store.COSMOS_DB: _result(Kind.COSMOS_ACCOUNT, "cosmos"),
        Store.POSTGRES: _result(Kind.POSTGRES_SERVER, "psql", outputs={"geoRedundantBackup": geo_backup}),
    }


def test_every_store_meets_the_seed_targets_once_provisioned(platform: DeliveryPlatform) -> None:
    assessed = {a.store: a for a in assess(platform, _evidence(platform))}
    names = _names(platform)

    assert list(assessed) == [Store.SERVICE_BUS, Store.REDIS, Store.COSMOS_DB, Store.POSTGRES]
    assert all(a.meets_targets for a in assessed.values())
    assert shortfall(assessed.values()) is None
    bus = assessed[Store.SERVICE_BUS]
    assert (bus.rpo, bus.rto) == (None, None)
    assert f"points at {names['home']} (westus2), paired with {names['recovery']} (westcentralus)" in bus.detail
    assert "messages are not" in bus.detail
    assert f"{names['cache']}.geo.redis.cache.windows.net" in assessed[Store.REDIS].detail
    assert (assessed[Store.COSMOS_DB].rpo, assessed[Store.COSMOS_DB].rto) == ("PT15M", "PT15M")
    assert (assessed[Store.POSTGRES].rpo, assessed[Store.POSTGRES].rto) == ("PT1H", None)
    status = bus.as_status().model_dump(mode="json", by_alias=True, exclude_none=True)
    assert status["store"] == "ServiceBus"
    assert status["meetsTargets"] is True


def test_stricter_targets_than_azure_states_fall_short_with_the_figures(make_platform: Any) -> None:
    strict = make_platform(
        azure={"keyVaultName": "kv-fabrikam"},
        databases=DATABASES,
        recovery={**RECOVERY, "rpo": "PT5M", "rto": "PT10M"},
    )
    assessed = {a.store: a for a in assess(strict, _evidence(strict))}

    assert not assessed[Store.COSMOS_DB].meets_targets
    assert "RPO PT15M is above the target PT5M, RTO PT15M is above the target PT10M" in assessed[Store.COSMOS_DB].detail
    assert not assessed[Store.POSTGRES].meets_targets
    assert "RPO PT1H is above the target PT5M" in assessed[Store.POSTGRES].detail
    # Azure states no bound for these: nothing contradicts the targets.
    assert assessed[Store.SERVICE_BUS].meets_targets
    assert assessed[Store.REDIS].meets_targets
    short = shortfall(assessed.values())
    assert short is not None
    assert short.stores == (Store.COSMOS_DB, Store.POSTGRES)


def test_a_server_created_without_geo_redundant_backup_falls_short_with_what_to_do(platform: DeliveryPlatform) -> None:
    [postgres] = [a for a in assess(platform, _evidence(platform, geo_backup="Disabled")) if a.store is Store.POSTGRES]

    assert (postgres.meets_targets, postgres.provisioning) == (False, False)
    assert "was created without geo-redundant backup, which Azure sets only when a server is created" in postgres.detail
    assert "docs/runbooks/disaster-recovery.md" in postgres.detail


def test_what_is_still_provisioning_is_short_but_not_a_shortfall(platform: DeliveryPlatform) -> None:
    evidence = _evidence(platform)
    evidence[Store.SERVICE_BUS] = _result(Kind.SERVICE_BUS_ALIAS, "alias", state="Accepted")
    evidence[Store.REDIS] = _result(Kind.REDIS_LINKED_SERVER, "link", state=IN_PROGRESS)
    del evidence[Store.COSMOS_DB]
    throttled = _result(Kind.POSTGRES_SERVER, "psql", state="Failed", error_code="TooManyRequests", retriable=True)
    evidence[Store.POSTGRES] = throttled
    assessed = assess(platform, evidence)

    assert all(not a.meets_targets and a.provisioning for a in assessed)
    assert shortfall(assessed) is None


def test_a_held_or_refused_link_is_a_shortfall_in_azures_words(platform: DeliveryPlatform) -> None:
    evidence = _evidence(platform)
    evidence[Store.SERVICE_BUS] = _result(
        Kind.SERVICE_BUS_ALIAS, "alias", state=HELD, error_message="sb-x holds 7 queues outside the pairing"
    )
    evidence[Store.REDIS] = _result(
        Kind.REDIS_LINKED_SERVER, "link", state=HELD, error_message="Azure refused RedisLinkedServer link: BadRequest"
    )
    short = shortfall(assess(platform, evidence))

    assert short is not None
    assert short.stores == (Store.SERVICE_BUS, Store.REDIS)
    assert "the geo-recovery alias: sb-x holds 7 queues outside the pairing" in short.message
    assert "the geo-replication link: Azure refused RedisLinkedServer link: BadRequest" in short.message


def test_a_cosmos_db_failover_is_azures_order_neither_drift_nor_undone_by_an_update() -> None:
    spec = [
        {"locationName": "westus2", "failoverPriority": 0, "isZoneRedundant": True},
        {"locationName": "westcentralus", "failoverPriority": 1, "isZoneRedundant": False},
    ]
    failed_over = [
        {"locationName": "West Central US", "failoverPriority": 0, "isZoneRedundant": False},
        {"locationName": "West US 2", "failoverPriority": 1, "isZoneRedundant": True},
    ]

    assert differences({"locations": spec}, {"locations": failed_over}) == []
    assert differences({"locations": spec}, {"locations": [*failed_over[:1], {"locationName": "East US"}]}) == [
        "locations"
    ]
    zone_changed = [failed_over[0], {**failed_over[1], "isZoneRedundant": False}]
    assert differences({"locations": spec}, {"locations": zone_changed}) == ["locations[westus2].isZoneRedundant"]
    assert keep_failover_order(spec, failed_over) == [
        {"locationName": "westcentralus", "failoverPriority": 0, "isZoneRedundant": False},
        {"locationName": "westus2", "failoverPriority": 1, "isZoneRedundant": True},
    ]
    # A region the account does not have yet comes last.
    assert [r["locationName"] for r in keep_failover_order(spec, failed_over[:1])] == ["westcentralus", "westus2"]


def test_a_premium_cache_asked_for_no_zones_is_sent_none(make_platform: Any) -> None:
    unzoned = make_platform(cache={"redis": {"zones": []}})

    assert "zones" not in _one(platform_resources(unzoned), Kind.REDIS_CACHE).body
