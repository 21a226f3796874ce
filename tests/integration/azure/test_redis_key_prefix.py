"""A team's service reaches only its own keys in the platform's shared Redis: the real SDK clients against the fake
ARM create its custom access policy before the assignment that names it, remove both (assignment first) when Redis
is no longer used, put a hand-edited policy back, and replace a Data Contributor assignment left from before."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from fabrikam.operator.azure import Kind, reconcile_platform, reconcile_service_identity
from fabrikam.operator.azure.desired import REDIS_DATA_CONTRIBUTOR, redis_permissions
from fabrikam.operator.azure.provision import delete_service_identity

REDIS = {"kind": "redis", "name": "cache"}
POLICIES = "Microsoft.Cache/redis/accessPolicies"
ASSIGNMENTS = "Microsoft.Cache/redis/accessPolicyAssignments"


async def _platform_with_cache(make_platform: Any, azure: Any) -> tuple[Any, Any]:
    platform = make_platform()
    outcome = await reconcile_platform(platform, azure)
    [cache] = [r for r in outcome.resources if r.kind == Kind.REDIS_CACHE]
    return platform, cache


def _custom_policies(fake_arm: Any) -> list[dict[str, Any]]:
    return [p for p in map(fake_arm.get, fake_arm.paths(POLICIES)) if p["properties"]["type"] == "Custom"]


def _assignments(fake_arm: Any) -> list[dict[str, Any]]:
    return [fake_arm.get(path)["properties"] for path in fake_arm.paths(ASSIGNMENTS)]


def _position(fake_arm: Any, method: str, last_segments: str) -> int:
    """Where in the request log the only `method` request to a path ending in `last_segments` (and a name) is."""
    pattern = re.compile(re.escape(last_segments) + "[^/]*$", re.I)
    [index] = [i for i, r in enumerate(fake_arm.requests) if r.method == method and pattern.search(r.path)]
    return index


async def test_a_teams_service_gets_its_own_prefix_policy_then_its_assignment_and_no_data_contributor(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform, cache = await _platform_with_cache(make_platform, azure)
    svc = make_service("returns", uses=[REDIS])

    outcome = await reconcile_service_identity(svc, platform, azure)
    writes = len(fake_arm.writes())
    again = await reconcile_service_identity(svc, platform, azure)

    assert outcome.ready, outcome
    [policy] = _custom_policies(fake_arm)
    assert policy["id"].startswith(f"{cache.id}/accessPolicies/")
    assert policy["properties"]["permissions"] == redis_permissions(svc)
    assert "~team/shipping/returns:*" in policy["properties"]["permissions"].split()
    assert _assignments(fake_arm) == [
        {
            "accessPolicyName": policy["name"],
            "objectId": outcome.principal_id,
            "objectIdAlias": "shipping-returns",
            "provisioningState": "Succeeded",
        }
    ]
    assert _position(fake_arm, "PUT", "/accessPolicies/") < _position(fake_arm, "PUT", "/accessPolicyAssignments/")
    assert again.ready
    assert len(fake_arm.writes()) == writes


async def test_a_bundled_service_keeps_the_built_in_data_contributor(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform, _ = await _platform_with_cache(make_platform, azure)
    delivery = make_service("delivery", component="delivery", uses=[{"kind": "redis", "name": "delivery"}])

    outcome = await reconcile_service_identity(delivery, platform, azure)

    assert outcome.ready, outcome
    assert [a["accessPolicyName"] for a in _assignments(fake_arm)] == [REDIS_DATA_CONTRIBUTOR]
    assert _custom_policies(fake_arm) == []
    assert fake_arm.calls("PUT", "/accessPolicies/") == []


async def test_the_assignment_waits_for_a_slow_policy_and_follows_once_azure_holds_it(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any, make_clients: Any
) -> None:
    platform, _ = await _platform_with_cache(make_platform, azure)
    svc = make_service("returns", uses=[REDIS])
    fake_arm.lro_seconds = 1.5

    async with make_clients(lro_timeout=0.3) as impatient:
        early = await reconcile_service_identity(svc, platform, impatient)
        await asyncio.sleep(1.5)
        fake_arm.lro_seconds = 0.1
        later = await reconcile_service_identity(svc, platform, impatient)

    states = {r.kind: r for r in early.resources}
    assert not early.ready
    assert states[Kind.REDIS_ACCESS_POLICY].provisioning_state == "InProgress"
    assert states[Kind.REDIS_ACCESS_POLICY_ASSIGNMENT].provisioning_state == "Pending"
    assert states[Kind.REDIS_ACCESS_POLICY].name in (states[Kind.REDIS_ACCESS_POLICY_ASSIGNMENT].error_message or "")
    assert later.ready, later
    assert len(fake_arm.calls("PUT", "/accessPolicies/")) == 1
    assert len(fake_arm.calls("PUT", "/accessPolicyAssignments/")) == 1


async def test_dropping_redis_from_uses_removes_the_assignment_then_the_policy(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform, _ = await _platform_with_cache(make_platform, azure)
    await reconcile_service_identity(make_service("returns", uses=[REDIS]), platform, azure)
    without = make_service("returns", uses=[{"kind": "queue", "name": "delivery-requests"}])

    outcome = await reconcile_service_identity(without, platform, azure)
    writes = len(fake_arm.writes())
    again = await reconcile_service_identity(without, platform, azure)

    assert outcome.ready, outcome
    assert sorted(r.kind for r in outcome.removed) == [Kind.REDIS_ACCESS_POLICY, Kind.REDIS_ACCESS_POLICY_ASSIGNMENT]
    assert _custom_policies(fake_arm) == []
    assert _assignments(fake_arm) == []
    assert len(fake_arm.paths(POLICIES)) == 3  # the built-in ones stay
    assert _position(fake_arm, "DELETE", "/accessPolicyAssignments/") < _position(
        fake_arm, "DELETE", "/accessPolicies/"
    )
    assert again.removed == ()
    assert len(fake_arm.writes()) == writes


async def test_a_hand_edited_policy_is_put_back(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform, _ = await _platform_with_cache(make_platform, azure)
    svc = make_service("returns", uses=[REDIS])
    await reconcile_service_identity(svc, platform, azure)
    [policy] = _custom_policies(fake_arm)
    fake_arm.tamper(policy["id"], lambda p: p["properties"].update(permissions="+@all allkeys"))

    outcome = await reconcile_service_identity(svc, platform, azure)

    assert outcome.ready, outcome
    assert [r.path for r in fake_arm.calls("PUT", "/accessPolicies/")] == [policy["id"]] * 2
    assert fake_arm.get(policy["id"])["properties"]["permissions"] == redis_permissions(svc)
    assert len(fake_arm.calls("PUT", "/accessPolicyAssignments/")) == 1


async def test_a_data_contributor_left_from_before_is_replaced_by_the_teams_own_policy_in_one_pass(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform, cache = await _platform_with_cache(make_platform, azure)
    no_redis = await reconcile_service_identity(make_service("returns"), platform, azure)
    before = {
        "properties": {
            "accessPolicyName": REDIS_DATA_CONTRIBUTOR,
            "objectId": no_redis.principal_id,
            "objectIdAlias": "shipping-returns",
        }
    }
    poller = await azure.redis.access_policy_assignment.begin_create_update(
        platform.spec.azure.resource_group, cache.name, "granted-before-custom-policies", before
    )
    await poller.result()

    outcome = await reconcile_service_identity(make_service("returns", uses=[REDIS]), platform, azure)

    assert outcome.ready, outcome
    assert [r.name for r in outcome.removed] == ["granted-before-custom-policies"]
    [policy] = _custom_policies(fake_arm)
    assert [a["accessPolicyName"] for a in _assignments(fake_arm)] == [policy["name"]]
    [granted] = [r for r in outcome.resources if r.kind == Kind.REDIS_ACCESS_POLICY_ASSIGNMENT]
    revoked = _position(fake_arm, "DELETE", "/granted-before-custom-policies")
    assert revoked < _position(fake_arm, "PUT", f"/accessPolicyAssignments/{granted.name}")


async def test_deleting_a_teams_service_removes_its_assignment_then_its_policy_then_its_identity(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform, _ = await _platform_with_cache(make_platform, azure)
    svc = make_service("returns", uses=[REDIS])
    await reconcile_service_identity(svc, platform, azure)

    outcome = await delete_service_identity(svc, platform, azure)

    assert outcome.ready, outcome
    assert _custom_policies(fake_arm) == []
    assert _assignments(fake_arm) == []
    assignment = _position(fake_arm, "DELETE", "/accessPolicyAssignments/")
    policy = _position(fake_arm, "DELETE", "/accessPolicies/")
    identity = _position(fake_arm, "DELETE", "/userAssignedIdentities/id-prod-shipping-returns")
    assert assignment < policy < identity


async def test_the_fake_refuses_what_azure_would_so_an_ordering_bug_shows(
    fake_arm: Any, azure: Any, make_platform: Any, make_service: Any
) -> None:
    platform, cache = await _platform_with_cache(make_platform, azure)
    svc = make_service("returns", uses=[REDIS])
    outcome = await reconcile_service_identity(svc, platform, azure)
    [policy] = _custom_policies(fake_arm)
    resource_group = platform.spec.azure.resource_group
    ops = azure.redis

    unknown = {"properties": {"accessPolicyName": "not-created-yet", "objectId": "x", "objectIdAlias": "x"}}
    with pytest.raises(HttpResponseError) as refused:
        await ops.access_policy_assignment.begin_create_update(resource_group, cache.name, "early", unknown)
    second = {"properties": {"accessPolicyName": "Data Reader", "objectId": outcome.principal_id, "objectIdAlias": "x"}}
    with pytest.raises(HttpResponseError) as duplicate:
        await ops.access_policy_assignment.begin_create_update(resource_group, cache.name, "second", second)
    with pytest.raises(HttpResponseError) as still_assigned:
        await (await ops.access_policy.begin_delete(resource_group, cache.name, policy["name"])).result()
    listed = [p.as_dict() async for p in ops.access_policy.list(resource_group, cache.name)]

    assert (refused.value.status_code, duplicate.value.status_code, still_assigned.value.status_code) == (400, 400, 409)
    assert sorted((p["name"], p["type_properties_type"]) for p in listed) == [
        ("Data Contributor", "BuiltIn"),
        ("Data Owner", "BuiltIn"),
        ("Data Reader", "BuiltIn"),
        (policy["name"], "Custom"),
    ]
