"""The desired Azure resources as a specification: given this spec, these ARM bodies, names and grants."""

from __future__ import annotations

import re
from typing import Any

import pytest

from fabrikam.operator.api.platform import DeletionPolicy
from fabrikam.operator.azure import Kind, access_resources, identity_resources, naming, platform_resources
from fabrikam.operator.azure.desired import (
    SERVICE_BUS_DATA_RECEIVER,
    SERVICE_BUS_DATA_SENDER,
    redis_permissions,
    stale_grants,
    unnamed_stores,
)
from fabrikam.operator.render.catalog import BUNDLED_QUEUES

PRINCIPAL = "0d5b4a38-7f4c-4f3e-9d44-21b7a63f6b0e"


def _by_kind(resources: list[Any]) -> dict[Kind, list[Any]]:
    grouped: dict[Kind, list[Any]] = {}
    for resource in resources:
        grouped.setdefault(resource.kind, []).append(resource)
    return grouped


def test_no_azure_section_means_no_azure_resources(make_platform: Any, make_service: Any) -> None:
    platform = make_platform()
    local = platform.model_copy(update={"spec": platform.spec.model_copy(update={"azure": None})})

    assert platform_resources(local) == []
    assert identity_resources(make_service("returns"), local) == []
    assert access_resources(make_service("returns"), local, principal_id=PRINCIPAL) == []


def test_service_bus_defaults_are_premium_zone_redundant_tls12_and_entra_only(make_platform: Any) -> None:
    [namespace] = _by_kind(platform_resources(make_platform()))[Kind.SERVICE_BUS_NAMESPACE]

    assert namespace.body["sku"] == {"name": "Premium", "tier": "Premium", "capacity": 1}
    assert namespace.body["properties"] == {
        "minimumTlsVersion": "1.2",
        "disableLocalAuth": True,
        "zoneRedundant": True,
        "premiumMessagingPartitions": 1,
        # Stated, so that turning private endpoints off opens the namespace again.
        "publicNetworkAccess": "Enabled",
    }
    assert namespace.body["location"] == "westus2"
    assert namespace.id.endswith(
        f"/resourceGroups/rg-fabrikam/providers/Microsoft.ServiceBus/namespaces/{namespace.name}"
    )


def test_the_bundled_queues_always_exist_and_never_lose_messages_by_default(make_platform: Any) -> None:
    queues = _by_kind(platform_resources(make_platform(messaging={"serviceBus": {}})))[Kind.SERVICE_BUS_QUEUE]

    assert [q.name for q in queues] == list(BUNDLED_QUEUES)
    for queue in queues:
        assert queue.body == {
            "properties": {
                "lockDuration": "PT1M",
                "maxDeliveryCount": 10,
                "defaultMessageTimeToLive": "P14D",
                "requiresDuplicateDetection": True,
                "duplicateDetectionHistoryTimeWindow": "PT10M",
                "deadLetteringOnMessageExpiration": True,
                "enablePartitioning": False,
            }
        }
        assert queue.parent is not None
        assert queue.id.endswith(f"/namespaces/{queue.parent}/queues/{queue.name}")


def test_the_bundled_queues_are_the_ones_the_workloads_talk_through() -> None:
    from fabrikam.workloads import contracts

    names = {
        value
        for key, value in vars(contracts).items()
        if key.isupper() and isinstance(value, str) and not key.endswith("_PATTERN")
    }
    assert set(BUNDLED_QUEUES) == names


def test_a_spec_entry_tunes_a_bundled_queue_instead_of_adding_one(make_platform: Any) -> None:
    tuned = {"name": "delivery-requests", "maxDeliveryCount": 3}
    queues = _by_kind(platform_resources(make_platform(messaging={"serviceBus": {"queues": [tuned]}})))

    [requests] = [q for q in queues[Kind.SERVICE_BUS_QUEUE] if q.name == "delivery-requests"]
    assert len(queues[Kind.SERVICE_BUS_QUEUE]) == len(BUNDLED_QUEUES)
    assert requests.body["properties"]["maxDeliveryCount"] == 3


@pytest.mark.parametrize(("partitions", "capacity"), [(1, None), (2, 2), (4, 8)])
def test_a_premium_namespace_partitions_every_queue_or_none(
    make_platform: Any, partitions: int, capacity: int | None
) -> None:
    """`partitioned: true` on Premium used to be sent as false with premiumMessagingPartitions always 1: now the
    namespace gets the partitions asked for and every queue follows it (ARM refuses a mix)."""
    bus = {"sku": "Premium", "partitions": partitions} | ({"capacity": capacity} if capacity else {})
    if partitions > 1:
        bus["queues"] = [{"name": "delivery-requests", "partitioned": True}]
    resources = _by_kind(platform_resources(make_platform(messaging={"serviceBus": bus})))
    [namespace] = resources[Kind.SERVICE_BUS_NAMESPACE]
    assert namespace.body["properties"]["premiumMessagingPartitions"] == partitions
    assert {q.body["properties"]["enablePartitioning"] for q in resources[Kind.SERVICE_BUS_QUEUE]} == {partitions > 1}


@pytest.mark.parametrize(
    "bus",
    [
        {"sku": "Premium", "queues": [{"name": "delivery-requests", "partitioned": True}]},
        {"sku": "Premium", "partitions": 2, "capacity": 2, "queues": [{"name": "q", "partitioned": False}]},
        {"sku": "Premium", "partitions": 4, "capacity": 2},
        {"sku": "Standard", "partitions": 2},
    ],
)
def test_partitions_that_cannot_be_honoured_are_refused_with_the_reason(make_platform: Any, bus: Any) -> None:
    with pytest.raises(ValueError, match=r"messaging\.serviceBus"):
        make_platform(messaging={"serviceBus": bus})


def test_queue_settings_follow_the_spec_and_standard_partitions_per_queue(make_platform: Any) -> None:
    queues = [
        {"name": "a", "maxDeliveryCount": 5, "lockDuration": "PT30S", "duplicateDetectionWindow": "PT1H"},
        {"name": "b", "duplicateDetection": False, "partitioned": False},
    ]
    platform = make_platform(messaging={"serviceBus": {"sku": "Standard", "queues": queues}})
    resources = _by_kind(platform_resources(platform))
    [namespace] = resources[Kind.SERVICE_BUS_NAMESPACE]
    a, b = (q.body["properties"] for q in resources[Kind.SERVICE_BUS_QUEUE][len(BUNDLED_QUEUES) :])

    assert namespace.body["sku"] == {"name": "Standard", "tier": "Standard"}
    assert "premiumMessagingPartitions" not in namespace.body["properties"]
    assert (a["maxDeliveryCount"], a["lockDuration"], a["duplicateDetectionHistoryTimeWindow"]) == (5, "PT30S", "PT1H")
    assert a["enablePartitioning"] is True
    assert b["requiresDuplicateDetection"] is False
    assert "duplicateDetectionHistoryTimeWindow" not in b
    assert b["enablePartitioning"] is False


def test_redis_is_premium_zonal_tls_only_with_entra_authentication(make_platform: Any) -> None:
    [redis] = platform_resources(make_platform(azure={"zones": ["3", "1"]}))[-1:]

    assert redis.kind == Kind.REDIS_CACHE
    assert redis.body["zones"] == ["1", "3"]
    assert redis.body["properties"] == {
        "sku": {"name": "Premium", "family": "P", "capacity": 1},
        "enableNonSslPort": False,
        "minimumTlsVersion": "1.2",
        "disableAccessKeyAuthentication": True,
        "redisConfiguration": {"aad-enabled": "true"},
        "publicNetworkAccess": "Enabled",
    }


def test_standard_redis_has_no_zones_and_premium_shards_are_passed(make_platform: Any) -> None:
    [standard] = platform_resources(make_platform(cache={"redis": {"sku": "Standard", "capacity": 2}}))[-1:]
    [sharded] = platform_resources(make_platform(cache={"redis": {"shardCount": 3, "zones": ["2"]}}))[-1:]

    assert "zones" not in standard.body
    assert standard.body["properties"]["sku"] == {"name": "Standard", "family": "C", "capacity": 2}
    assert sharded.body["properties"]["shardCount"] == 3
    assert sharded.body["zones"] == ["2"]


def test_platform_without_service_bus_or_redis_provisions_only_what_is_declared(make_platform: Any) -> None:
    assert platform_resources(make_platform(messaging={}, cache={})) == []
    assert [r.kind for r in platform_resources(make_platform(cache={}))] == [
        Kind.SERVICE_BUS_NAMESPACE,
        *[Kind.SERVICE_BUS_QUEUE] * len(BUNDLED_QUEUES),
    ]


def test_every_taggable_resource_carries_the_cost_allocation_tags(make_platform: Any, make_service: Any) -> None:
    platform = make_platform(azure={"tags": {"cost-center": "cc-42", "owner": "ops", "platform": "spoofed"}})
    shared = [r for r in platform_resources(platform) if "tags" in r.body]
    [identity, _] = identity_resources(make_service("returns"), platform)

    assert [r.kind for r in shared] == [Kind.SERVICE_BUS_NAMESPACE, Kind.REDIS_CACHE]
    for resource in shared:
        assert {
            "platform": "prod",
            "environment": "production",
            "team": "platform",
            "cost-center": "cc-42",
        }.items() <= (resource.body["tags"].items())
        assert resource.body["tags"]["owner"] == "ops"
    assert identity.body["tags"] == {
        "cost-center": "cc-ship",
        "owner": "ops",
        "platform": "prod",
        "environment": "production",
        "team": "shipping",
        "service": "returns",
        "managed-by": "fabrikam-operator",
    }


def test_data_stores_follow_the_deletion_policy_and_identities_are_always_deleted(
    make_platform: Any, make_service: Any
) -> None:
    retained = make_platform()
    deleted = make_platform(azure={"deletionPolicy": "Delete"})

    assert {r.deletion_policy for r in platform_resources(retained)} == {DeletionPolicy.RETAIN}
    assert {r.deletion_policy for r in platform_resources(deleted)} == {DeletionPolicy.DELETE}
    svc = make_service("returns", uses=[{"kind": "queue", "name": "delivery-requests"}, {"kind": "redis", "name": "x"}])
    identity = [*identity_resources(svc, retained), *access_resources(svc, retained, principal_id=PRINCIPAL)]
    assert {r.deletion_policy for r in identity} == {DeletionPolicy.DELETE}


def test_federated_credential_trusts_exactly_the_services_service_account(
    make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    identity, credential = identity_resources(make_service("returns"), platform)

    assert identity.kind == Kind.IDENTITY
    assert identity.name == "id-prod-shipping-returns"
    assert identity.body["location"] == "westus2"
    assert credential.kind == Kind.FEDERATED_CREDENTIAL
    assert credential.parent == identity.name
    assert credential.body == {
        "properties": {
            "issuer": platform.spec.azure.oidc_issuer_url,
            "subject": "system:serviceaccount:shipping:returns",
            "audiences": ["api://AzureADTokenExchange"],
        }
    }
    assert credential.id == f"{identity.id}/federatedIdentityCredentials/shipping-returns"


def test_without_an_oidc_issuer_only_the_identity_is_described(make_platform: Any, make_service: Any) -> None:
    resources = identity_resources(make_service("returns"), make_platform(azure={"oidcIssuerUrl": None}))

    assert [r.kind for r in resources] == [Kind.IDENTITY]


def test_services_without_azure_identity_get_nothing(make_platform: Any, make_service: Any) -> None:
    svc = make_service("returns", uses=[{"kind": "queue", "name": "delivery-requests"}], identity=False)

    assert identity_resources(svc, make_platform()) == []
    assert access_resources(svc, make_platform(), principal_id=PRINCIPAL) == []


@pytest.mark.parametrize(
    ("access", "roles"),
    [
        ([["send"]], [SERVICE_BUS_DATA_SENDER]),
        ([["receive"]], [SERVICE_BUS_DATA_RECEIVER]),
        ([None], sorted([SERVICE_BUS_DATA_SENDER, SERVICE_BUS_DATA_RECEIVER])),
        ([["send"], ["receive"]], sorted([SERVICE_BUS_DATA_SENDER, SERVICE_BUS_DATA_RECEIVER])),
    ],
)
def test_queue_grants_are_exactly_the_declared_access(
    make_platform: Any, make_service: Any, access: list[list[str] | None], roles: list[str]
) -> None:
    uses = [{"kind": "queue", "name": "delivery-requests"} | ({"access": a} if a else {}) for a in access]
    svc = make_service("returns", uses=uses)
    platform = make_platform()
    [namespace] = _by_kind(platform_resources(platform))[Kind.SERVICE_BUS_NAMESPACE]

    grants = access_resources(svc, platform, principal_id=PRINCIPAL)

    assert sorted(g.body["properties"]["roleDefinitionId"].rsplit("/", 1)[-1] for g in grants) == roles
    for grant in grants:
        assert grant.kind == Kind.ROLE_ASSIGNMENT
        assert grant.scope == f"{namespace.id}/queues/delivery-requests"
        assert grant.body["properties"]["principalId"] == PRINCIPAL
        assert grant.body["properties"]["principalType"] == "ServicePrincipal"
        assert grant.body["properties"]["roleDefinitionId"].startswith(
            "/subscriptions/00000000-0000-0000-0000-00000000a2e0/providers/Microsoft.Authorization/roleDefinitions/"
        )
        assert grant.id == f"{grant.scope}/providers/Microsoft.Authorization/roleAssignments/{grant.name}"


@pytest.mark.parametrize(
    ("granted", "roles"),
    [
        ([], []),
        (["send"], [SERVICE_BUS_DATA_SENDER]),
        (["send", "receive"], sorted([SERVICE_BUS_DATA_SENDER, SERVICE_BUS_DATA_RECEIVER])),
    ],
)
def test_a_teams_service_gets_only_the_queue_access_the_platform_granted_its_team(
    make_platform: Any, make_service: Any, granted: list[str], roles: list[str]
) -> None:
    """Asking is not enough (issue #19: a team could consume the pipeline's own queue): the grant decides."""
    teams = make_platform().model_dump(mode="json", by_alias=True, exclude_none=True)["spec"]["teams"]
    teams[0]["queues"] = [{"name": "delivery-requests", "access": granted}] if granted else []
    platform = make_platform(teams=teams)
    svc = make_service("returns", uses=[{"kind": "queue", "name": "delivery-requests"}])  # asks send and receive
    grants = access_resources(svc, platform, principal_id=PRINCIPAL)
    assert sorted(g.body["properties"]["roleDefinitionId"].rsplit("/", 1)[-1] for g in grants) == roles
    # The bundled services' catalog queues are theirs: workflow receives delivery-requests without any grant.
    workflow = make_service("workflow", component="workflow", uses=[{"kind": "queue", "name": "delivery-requests"}])
    assert access_resources(workflow, platform, principal_id=PRINCIPAL)


def test_a_bundled_service_gets_the_built_in_data_contributor_on_the_cache_only(
    make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    [cache] = _by_kind(platform_resources(platform))[Kind.REDIS_CACHE]
    svc = make_service("delivery", component="delivery", uses=[{"kind": "redis", "name": "delivery"}])

    [access] = access_resources(svc, platform, principal_id=PRINCIPAL)

    assert access.kind == Kind.REDIS_ACCESS_POLICY_ASSIGNMENT
    assert access.parent == cache.name
    assert access.id == f"{cache.id}/accessPolicyAssignments/{access.name}"
    assert access.body == {
        "properties": {
            "accessPolicyName": "Data Contributor",
            "objectId": PRINCIPAL,
            "objectIdAlias": "shipping-delivery",
        }
    }


def test_a_teams_service_gets_a_policy_of_its_own_for_its_key_prefix_and_no_data_contributor(
    make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    [cache] = _by_kind(platform_resources(platform))[Kind.REDIS_CACHE]
    svc = make_service("returns", uses=[{"kind": "redis", "name": "cache"}])

    policy, assignment = access_resources(svc, platform, principal_id=PRINCIPAL)

    assert (policy.kind, assignment.kind) == (Kind.REDIS_ACCESS_POLICY, Kind.REDIS_ACCESS_POLICY_ASSIGNMENT)
    assert policy.name == naming.redis_access_policy_name("shipping", "returns")
    assert (policy.parent, assignment.parent) == (cache.name, cache.name)
    assert policy.id == f"{cache.id}/accessPolicies/{policy.name}"
    assert policy.body == {"properties": {"permissions": redis_permissions(svc)}}
    assert assignment.id == f"{cache.id}/accessPolicyAssignments/{assignment.name}"
    assert assignment.body == {
        "properties": {"accessPolicyName": policy.name, "objectId": PRINCIPAL, "objectIdAlias": "shipping-returns"}
    }


def test_a_teams_permissions_reach_only_keys_under_its_prefix_and_no_admin_or_dangerous_command(
    make_service: Any,
) -> None:
    svc = make_service("returns", uses=[{"kind": "redis", "name": "cache"}])

    permissions = redis_permissions(svc).split()

    assert svc.redis_key_prefix == "team/shipping/returns:"
    assert [rule for rule in permissions if rule.startswith("~")] == ["~team/shipping/returns:*"]
    assert not {"allkeys", "~*", "+@all", "+@admin", "+@dangerous", "+@pubsub", "+@scripting"} & set(permissions)
    # Applied left to right: the exclusions follow every category they cut from.
    assert permissions.index("-@dangerous") > max(i for i, rule in enumerate(permissions) if rule.startswith("+@"))
    assert {"-@admin", "-scan", "-randomkey", "-dbsize"} <= set(permissions)
    assert not [rule for rule in permissions if rule.startswith("+") and rule[1:] in {"keys", "flushall", "config"}]


def test_access_policy_names_are_valid_stable_and_one_per_service() -> None:
    names = [
        naming.redis_access_policy_name("a-b", "c"),
        naming.redis_access_policy_name("a", "b-c"),
        naming.redis_access_policy_name("n" * 63, "service-a"),
        naming.redis_access_policy_name("n" * 63, "service-b"),
        naming.redis_access_policy_name("shipping", "returns"),
    ]

    assert len(set(names)) == len(names)
    assert names[-1] == naming.redis_access_policy_name("shipping", "returns")
    assert all(re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9-]{1,61}[a-zA-Z0-9]", name) for name in names)
    assert all(name.casefold() not in {"data owner", "data contributor", "data reader"} for name in names)


def test_no_grant_for_undeclared_queues_missing_redis_or_other_stores(make_platform: Any, make_service: Any) -> None:
    uses = [
        {"kind": "queue", "name": "not-declared"},
        {"kind": "redis", "name": "cache"},
        {"kind": "mongo", "name": "packages"},
        {"kind": "sql", "name": "accounts"},
        {"kind": "external", "name": "api.twilio.com"},
    ]
    assert access_resources(make_service("x", uses=uses), make_platform(cache={}), principal_id=PRINCIPAL) == []


def test_assignment_names_are_deterministic_guids_unique_per_scope_principal_and_role(
    make_platform: Any, make_service: Any
) -> None:
    svc = make_service("returns", uses=[{"kind": "queue", "name": "delivery-requests"}])
    first = access_resources(svc, make_platform(), principal_id=PRINCIPAL)
    again = access_resources(svc, make_platform(), principal_id=PRINCIPAL)
    other = access_resources(svc, make_platform(), principal_id="1" * 8 + PRINCIPAL[8:])

    assert [g.name for g in first] == [g.name for g in again]
    assert len({g.name for g in first}) == 2
    assert not {g.name for g in first} & {g.name for g in other}
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", g.name) for g in first
    )


def test_global_names_are_stable_valid_and_differ_between_subscriptions() -> None:
    sub_a, sub_b = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
    long_platform = "a-very-long-platform-name-that-goes-on-and-on-for-a-while-longer"

    bus = naming.service_bus_namespace_name(sub_a, "rg", long_platform)
    redis = naming.redis_name(sub_a, "rg", long_platform)

    assert bus == naming.service_bus_namespace_name(sub_a, "rg", long_platform)
    assert bus != naming.service_bus_namespace_name(sub_b, "rg", long_platform)
    assert re.fullmatch(r"[a-z][a-z0-9-]{4,48}[a-z0-9]", bus)
    assert not bus.endswith(("-sb", "-mgmt"))
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,61}[a-z0-9]", redis)


def test_long_identity_names_are_shortened_with_a_hash_and_stay_unique() -> None:
    a = naming.identity_name("p" * 100, "n" * 63, "service-a")
    b = naming.identity_name("p" * 100, "n" * 63, "service-b")

    assert len(a) <= 128
    assert len(b) <= 128
    assert a != b
    assert naming.federated_credential_name("n" * 63, "s" * 63) == naming.federated_credential_name("n" * 63, "s" * 63)
    assert len(naming.federated_credential_name("n" * 63, "s" * 63)) <= 120


def _listed(grant: Any, **changes: Any) -> dict[str, Any]:
    """A grant as ARM lists it (properties carry the scope), with `changes` applied to its properties."""
    properties = dict(grant.body["properties"])
    if grant.scope is not None:
        properties["scope"] = grant.scope
    return {"id": grant.id.upper(), "name": grant.name, "properties": properties | changes}


def test_only_the_operators_grants_the_uses_no_longer_need_are_stale(make_platform: Any, make_service: Any) -> None:
    platform = make_platform()
    before = make_service(
        "returns", uses=[{"kind": "queue", "name": "delivery-requests"}, {"kind": "redis", "name": "cache"}]
    )
    after = make_service("returns", uses=[{"kind": "queue", "name": "delivery-requests", "access": ["receive"]}])
    granted = access_resources(before, platform, principal_id=PRINCIPAL)
    [redis] = [g for g in granted if g.kind == Kind.REDIS_ACCESS_POLICY_ASSIGNMENT]
    [policy] = [g for g in granted if g.kind == Kind.REDIS_ACCESS_POLICY]
    roles = [g for g in granted if g.kind == Kind.ROLE_ASSIGNMENT]
    [sender] = [g for g in roles if g.body["properties"]["roleDefinitionId"].endswith(SERVICE_BUS_DATA_SENDER)]
    [receiver] = [g for g in roles if g.body["properties"]["roleDefinitionId"].endswith(SERVICE_BUS_DATA_RECEIVER)]
    by_hand = _listed(sender, description="granted by the on-call engineer")
    by_hand["id"] = by_hand["id"].replace(sender.name.upper(), "HAND")
    someone_else = _listed(sender, principalId="another-principal")

    stale = stale_grants(
        after,
        platform,
        principal_id=PRINCIPAL,
        role_assignments=[_listed(sender), _listed(receiver), by_hand, someone_else],
        redis_assignments=[_listed(redis), _listed(redis, objectId="another-principal")],
        redis_policies=[_listed(policy), _listed(policy) | {"name": "hand-made"}, _built_in("Data Contributor")],
    )

    assert [(g.kind, g.name) for g in stale] == [
        (Kind.ROLE_ASSIGNMENT, sender.name),
        (Kind.REDIS_ACCESS_POLICY_ASSIGNMENT, redis.name),
        (Kind.REDIS_ACCESS_POLICY, policy.name),
    ]
    assert stale[0].scope == sender.scope
    assert stale[1].parent == stale[2].parent == redis.parent


def _built_in(name: str) -> dict[str, Any]:
    return {"id": f"/x/accessPolicies/{name}", "name": name, "properties": {"type": "BuiltIn", "permissions": "+@all"}}


def test_a_teams_data_contributor_from_before_is_stale_and_its_own_policy_is_not(
    make_platform: Any, make_service: Any
) -> None:
    platform = make_platform()
    svc = make_service("returns", uses=[{"kind": "redis", "name": "cache"}])
    policy, assignment = access_resources(svc, platform, principal_id=PRINCIPAL)
    bundled = make_service("returns", component="delivery", uses=[{"kind": "redis", "name": "cache"}])
    [contributor] = access_resources(bundled, platform, principal_id=PRINCIPAL)

    stale = stale_grants(
        svc,
        platform,
        principal_id=PRINCIPAL,
        role_assignments=[],
        redis_assignments=[_listed(contributor), _listed(assignment)],
        redis_policies=[_listed(policy), _built_in("Data Contributor")],
    )

    assert [(g.kind, g.name) for g in stale] == [(Kind.REDIS_ACCESS_POLICY_ASSIGNMENT, contributor.name)]


def test_a_queue_dropped_from_the_platform_leaves_its_grants_stale(make_platform: Any, make_service: Any) -> None:
    teams = make_platform().model_dump(mode="json", by_alias=True, exclude_none=True)["spec"]["teams"]
    teams[0]["queues"].append({"name": "returns", "access": ["send", "receive"]})  # granted to the team
    with_extra = make_platform(messaging={"serviceBus": {"queues": [{"name": "returns"}]}}, teams=teams)
    svc = make_service("returns", uses=[{"kind": "queue", "name": "returns"}])
    granted = access_resources(svc, with_extra, principal_id=PRINCIPAL)

    stale = stale_grants(
        svc,
        make_platform(messaging={"serviceBus": {}}),
        principal_id=PRINCIPAL,
        role_assignments=[_listed(g) for g in granted],
        redis_assignments=[],
        redis_policies=[],
    )

    assert len(granted) == 2
    assert sorted(g.name for g in stale) == sorted(g.name for g in granted)


def test_a_store_dropped_from_the_spec_is_unnamed_under_the_current_deletion_policy(make_platform: Any) -> None:
    previous = make_platform(azure={"deletionPolicy": "Retain"})
    without_cache = make_platform(azure={"deletionPolicy": "Delete"}, cache={})
    without_bus = make_platform(azure={"deletionPolicy": "Delete"}, messaging={})
    [cache] = _by_kind(platform_resources(previous))[Kind.REDIS_CACHE]
    namespace, *queues = [r for r in platform_resources(previous) if r.kind != Kind.REDIS_CACHE]

    assert [(r.id, r.deletion_policy) for r in unnamed_stores(previous, without_cache)] == [
        (cache.id, DeletionPolicy.DELETE)
    ]
    assert [r.id for r in unnamed_stores(previous, without_bus)] == [namespace.id, *(q.id for q in queues)]
    assert {r.deletion_policy for r in unnamed_stores(previous, without_bus)} == {DeletionPolicy.DELETE}
    assert unnamed_stores(previous, previous) == []


def test_without_spec_azure_every_store_is_unnamed_under_the_last_known_policy(make_platform: Any) -> None:
    previous = make_platform(azure={"deletionPolicy": "Delete"})
    local = previous.model_copy(update={"spec": previous.spec.model_copy(update={"azure": None})})

    unnamed = unnamed_stores(previous, local)

    assert [r.id for r in unnamed] == [r.id for r in platform_resources(previous)]
    assert {r.deletion_policy for r in unnamed} == {DeletionPolicy.DELETE}
    assert unnamed_stores(local, previous) == []


def test_a_queue_dropped_from_a_namespace_that_stays_is_left_to_the_queue_listing(make_platform: Any) -> None:
    previous = make_platform(messaging={"serviceBus": {"queues": [{"name": "returns"}]}})

    assert unnamed_stores(previous, make_platform(messaging={"serviceBus": {}})) == []
