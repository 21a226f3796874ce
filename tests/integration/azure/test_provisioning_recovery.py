"""Disaster recovery through the real SDK clients against the fake ARM: a platform with spec.recovery gets its partners
in the secondary location and the links to them once; a Service Bus failover drill is followed, never undone; what
Azure refuses or fixes at creation is reported against the targets while the platform keeps working."""

from __future__ import annotations

from typing import Any

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.azure import (
    Kind,
    assess,
    fail_over,
    naming,
    reconcile_platform,
    reconcile_service_identity,
    recovery_evidence,
)
from fabrikam.operator.azure.recovery import Store
from fabrikam.operator.azure.results import HELD

from .conftest import converged, fully_deleted

SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2e0"  # conftest's
RG = "rg-fabrikam-test"
RECOVERY = {"rpo": "PT1H", "rto": "PT4H", "secondaryLocation": "westcentralus"}
SENDS = {"kind": "queue", "name": "delivery-requests", "access": ["send"]}


def _with(platform: DeliveryPlatform, **spec: Any) -> DeliveryPlatform:
    body = platform.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["spec"].update(spec)
    return DeliveryPlatform.model_validate(body)


def _names() -> dict[str, str]:
    parts = (SUBSCRIPTION, RG, "prod")
    return {
        "home": naming.service_bus_namespace_name(*parts),
        "recovery": naming.service_bus_recovery_namespace_name(*parts),
        "alias": naming.service_bus_alias_name(*parts),
        "cache": naming.redis_name(*parts),
        "recovery_cache": naming.redis_recovery_name(*parts),
    }


def _kinds(outcome: Any) -> dict[str, Any]:
    return {r.kind: r for r in outcome.resources if r.kind != Kind.SERVICE_BUS_QUEUE}


async def test_a_platform_with_recovery_gets_its_partners_links_and_second_region_once(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    fake_arm.add_vault(SUBSCRIPTION, RG, "kv-fabrikam-dr")
    platform = _with(
        make_platform(keyVaultName="kv-fabrikam-dr"),
        recovery=RECOVERY,
        databases={"cosmosDb": {}, "postgres": {}},
    )
    names = _names()

    outcome = await converged(platform, azure, passes=20)

    resources = _kinds(outcome)
    alias = resources[Kind.SERVICE_BUS_ALIAS]
    assert alias.endpoint == f"https://{names['alias']}.servicebus.windows.net:443/"
    assert resources[Kind.REDIS_LINKED_SERVER].endpoint == f"{names['cache']}.geo.redis.cache.windows.net"
    [alias_put] = fake_arm.calls("PUT", "/disasterRecoveryConfigs/")
    assert f"/namespaces/{names['home']}/disasterRecoveryConfigs/{names['alias']}" in alias_put.path
    assert alias_put.body["properties"]["partnerNamespace"].endswith(f"/namespaces/{names['recovery']}")
    [partner_put] = fake_arm.calls("PUT", f"/namespaces/{names['recovery']}")
    assert partner_put.body["location"] == "westcentralus"
    assert partner_put.body["sku"] == {"name": "Premium", "tier": "Premium", "capacity": 1}
    [cache_put] = [c for c in fake_arm.calls("PUT", f"/redis/{names['cache']}") if "/linkedServers/" not in c.path]
    assert "zones" not in cache_put.body
    [link_put] = fake_arm.calls("PUT", "/linkedServers/")
    assert link_put.body["properties"]["serverRole"] == "Secondary"
    [account_put] = [c for c in fake_arm.calls("PUT", "/databaseAccounts/") if "/mongodbDatabases" not in c.path]
    assert [(r["locationName"], r["failoverPriority"]) for r in account_put.body["properties"]["locations"]] == [
        ("westus2", 0),
        ("westcentralus", 1),
    ]
    assert account_put.body["properties"]["enableAutomaticFailover"] is True
    server = naming.postgres_server_name(SUBSCRIPTION, RG, "prod")
    [server_put] = [c for c in fake_arm.calls("PUT", "/flexibleServers/") if c.path.endswith(f"/{server}")]
    assert server_put.body["properties"]["backup"]["geoRedundantBackup"] == "Enabled"
    # The operator wrote the queues to the primary only; the pairing replicated them.
    queues = fake_arm.paths("Microsoft.ServiceBus/namespaces/queues")
    in_home = {q.rsplit("/", 1)[1] for q in queues if f"/{names['home']}/" in q}
    assert len(in_home) == 7
    assert in_home == {q.rsplit("/", 1)[1] for q in queues if f"/{names['recovery']}/" in q}
    assert not fake_arm.calls("PUT", f"/namespaces/{names['recovery']}/queues/")
    assessed = {a.store: a for a in assess(platform, recovery_evidence(outcome))}
    assert all(a.meets_targets for a in assessed.values()), assessed
    assert set(assessed) == {Store.SERVICE_BUS, Store.REDIS, Store.COSMOS_DB, Store.POSTGRES}

    writes = len(fake_arm.writes())
    again = await reconcile_platform(platform, azure)
    assert again.ready
    assert len(fake_arm.writes()) == writes


async def test_a_service_is_granted_its_queues_in_both_namespaces(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform = _with(make_platform(), recovery=RECOVERY)
    await converged(platform, azure, passes=20)
    names = _names()

    outcome = await reconcile_service_identity(
        make_service("ingestion", component="ingestion", uses=[SENDS]), platform, azure
    )

    assert outcome.ready, outcome
    scopes = sorted(
        c.path.split("/providers/Microsoft.Authorization/")[0].rsplit("/namespaces/", 1)[1]
        for c in fake_arm.calls("PUT", "/roleAssignments/")
    )
    assert scopes == [f"{names['home']}/queues/delivery-requests", f"{names['recovery']}/queues/delivery-requests"]


async def test_the_operator_follows_a_service_bus_failover_and_pairs_again_only_once_the_old_primary_is_emptied(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    platform = _with(make_platform(deletionPolicy="Delete"), recovery=RECOVERY)
    await converged(platform, azure, passes=20)
    names = _names()
    home = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.ServiceBus/namespaces/{names['home']}"
    )
    recovery = home.replace(names["home"], names["recovery"])

    # The drill, as the runbook runs it: a failover sent to the secondary namespace.
    await fail_over(azure, RG, names["recovery"], names["alias"])
    assert fake_arm.alias_target(names["alias"]) == recovery
    tuned = _with(
        platform, messaging={"serviceBus": {"queues": [{"name": "delivery-requests", "maxDeliveryCount": 3}]}}
    )
    calls = len(fake_arm.requests)
    outcome = await reconcile_platform(tuned, azure)

    after = fake_arm.requests[calls:]
    # Nothing undoes the failover: no pairing from the old primary, no entity written to it.
    assert not [r for r in after if r.method in ("PUT", "POST", "DELETE") and "/disasterRecoveryConfigs/" in r.path]
    assert not [r for r in after if r.method == "PUT" and f"/{names['home']}/queues/" in r.path]
    [queue_put] = [r for r in after if r.method == "PUT" and "/queues/" in r.path]
    assert queue_put.path.startswith(f"{recovery}/queues/delivery-requests")
    assert queue_put.body["properties"]["maxDeliveryCount"] == 3
    alias = _kinds(outcome)[Kind.SERVICE_BUS_ALIAS]
    assert alias.provisioning_state == HELD
    assert alias.id.startswith(recovery)
    assert alias.endpoint == f"https://{names['alias']}.servicebus.windows.net:443/"
    assert f"{names['home']} holds 7 queues outside the pairing" in (alias.error_message or "")
    # The platform works on; the store is short of the targets until a person drains the old primary.
    assert outcome.ready
    assert outcome.degraded is None
    assert not outcome.requeue
    [bus] = [a for a in assess(tuned, recovery_evidence(outcome)) if a.store is Store.SERVICE_BUS]
    assert (bus.meets_targets, bus.provisioning) == (False, False)

    # Drained and deleted, as the runbook says: the operator pairs the active namespace with the old primary.
    for queue in list(fake_arm.paths("Microsoft.ServiceBus/namespaces/queues")):
        if f"/{names['home']}/" in queue:
            await azure.servicebus.queues.delete(RG, names["home"], queue.rsplit("/", 1)[-1])
    outcome = await converged(tuned, azure, passes=20)

    [repaired] = [c for c in fake_arm.calls("PUT", "/disasterRecoveryConfigs/")][-1:]
    assert repaired.path.startswith(f"{recovery}/disasterRecoveryConfigs/")
    assert repaired.body["properties"]["partnerNamespace"] == home
    assert fake_arm.alias_target(names["alias"]) == recovery
    assert fake_arm.get(f"{home}/disasterRecoveryConfigs/{names['alias']}")["properties"]["role"] == "Secondary"
    [bus] = [a for a in assess(tuned, recovery_evidence(outcome)) if a.store is Store.SERVICE_BUS]
    assert bus.meets_targets
    assert f"points at {names['recovery']} (westcentralus), paired with {names['home']} (westus2)" in bus.detail

    # Deleting the platform breaks the pairing where it now lives, then deletes every partner.
    await fully_deleted(tuned, azure, passes=20)
    assert fake_arm.paths("Microsoft.ServiceBus/namespaces") == []
    assert fake_arm.paths("Microsoft.Cache/redis") == []


async def test_what_azure_refuses_or_fixed_at_creation_is_short_of_the_targets_not_a_failure(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    # Created before recovery: a zone-redundant cache and a server without geo-redundant backup.
    before = _with(make_platform(), databases={"postgres": {}})
    await converged(before, azure, passes=20)
    zoned = fake_arm.calls("PUT", "/Microsoft.Cache/redis/")[0]
    assert zoned.body["zones"] == ["1", "2", "3"]
    platform = _with(before, recovery=RECOVERY)

    outcome = await converged(platform, azure, passes=20)

    resources = _kinds(outcome)
    link = resources[Kind.REDIS_LINKED_SERVER]
    assert link.provisioning_state == HELD
    assert "Zone Redundancy isn't supported with geo-replication" in (link.error_message or "")
    assert outcome.degraded is None
    # Never sent a change Azure refuses: the server keeps the backup it was created with.
    assert not fake_arm.calls("PATCH", "/flexibleServers/")
    assessed = {a.store: a for a in assess(platform, recovery_evidence(outcome))}
    assert not assessed[Store.REDIS].meets_targets
    assert "Zone Redundancy isn't supported with geo-replication" in assessed[Store.REDIS].detail
    assert not assessed[Store.POSTGRES].meets_targets
    assert "created without geo-redundant backup" in assessed[Store.POSTGRES].detail
    assert assessed[Store.SERVICE_BUS].meets_targets


async def test_after_a_cosmos_db_failover_the_account_keeps_its_new_write_region(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    fake_arm.add_vault(SUBSCRIPTION, RG, "kv-fabrikam-cdb")
    platform = _with(make_platform(keyVaultName="kv-fabrikam-cdb"), recovery=RECOVERY, databases={"cosmosDb": {}})
    await converged(platform, azure, passes=20)
    account = naming.cosmos_account_name(SUBSCRIPTION, RG, "prod")
    path = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.DocumentDB/databaseAccounts/{account}"
    )

    def service_managed_failover(document: dict[str, Any]) -> None:
        for region in document["properties"]["locations"]:
            region["failoverPriority"] = 1 - region["failoverPriority"]

    # Azure moved the write region to the secondary location (the fake plays the region outage's failover).
    fake_arm.tamper(path, service_managed_failover)
    writes = len(fake_arm.writes())
    await converged(platform, azure, passes=20)
    assert len(fake_arm.writes()) == writes

    # A change of the spec still updates the account, in the order Azure holds: no failback behind anyone's back.
    retagged = _with(
        platform,
        azure={**platform.model_dump(mode="json", by_alias=True)["spec"]["azure"], "tags": {"cost-center": "cc-9"}},
    )
    await converged(retagged, azure, passes=20)
    [update] = [c for c in fake_arm.writes()[writes:] if c.path == path]
    assert [(r["locationName"], r["failoverPriority"]) for r in update.body["properties"]["locations"]] == [
        ("westcentralus", 0),
        ("westus2", 1),
    ]


async def test_a_pairing_azure_cannot_show_is_left_alone_and_retried(
    fake_arm: Any, azure: Any, make_platform: Any
) -> None:
    platform = _with(make_platform(), recovery=RECOVERY)
    fault = fake_arm.inject("GET", "/disasterRecoveryConfigs/", 503, code="ServiceUnavailable", times=None)

    outcome = await reconcile_platform(platform, azure)

    alias = _kinds(outcome)[Kind.SERVICE_BUS_ALIAS]
    assert (alias.error_code, alias.retriable) == ("ServiceUnavailable", True)
    assert "cannot read the geo-recovery pairing" in (alias.error_message or "")
    assert outcome.requeue
    assert not fake_arm.calls("PUT", "/disasterRecoveryConfigs/")
    assert not fake_arm.calls("DELETE", "/queues/")
    [bus] = [a for a in assess(platform, recovery_evidence(outcome)) if a.store is Store.SERVICE_BUS]
    assert (bus.meets_targets, bus.provisioning) == (False, True)
    fake_arm.faults.remove(fault)
    assert (await converged(platform, azure, passes=20)).ready
