"""What the platform's Azure resources tell the services, and how conditions move."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.operator.api import DeliveryPlatform, Problem
from fabrikam.operator.handlers import conditions
from fabrikam.operator.handlers.conditions import Verdict
from fabrikam.operator.handlers.facts import platform_environment
from fabrikam.operator.handlers.runtime import LastReconcile
from fabrikam.operator.render import bundled_services, render_drone_service


def test_service_bus_and_redis_endpoints_become_host_names_in_the_environment() -> None:
    platform = {
        "status": {
            "azureResources": [
                {"kind": "ServiceBusNamespace", "endpoint": "https://sb-fabrikam.servicebus.windows.net:443/"},
                {"kind": "RedisCache", "endpoint": "redis-fabrikam.redis.cache.windows.net:6380"},
                {"kind": "ServiceBusQueue", "endpoint": None},
            ]
        }
    }
    assert platform_environment(platform) == {
        "FABRIKAM_SERVICEBUS_NAMESPACE": "sb-fabrikam.servicebus.windows.net",
        "FABRIKAM_REDIS_URL": "rediss://redis-fabrikam.redis.cache.windows.net:6380/0",
    }
    assert platform_environment(None) == {}
    assert platform_environment({"status": None}) == {}


def test_transition_time_moves_only_when_the_status_flips() -> None:
    first = conditions.merge(None, [Verdict("Ready", False, "RollingOut", "0/2")], generation=1)
    same = conditions.merge(first, [Verdict("Ready", False, "RollingOut", "1/2")], generation=1)
    assert same[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert same[0]["message"] == "1/2"
    flipped = conditions.merge(
        [{**first[0], "lastTransitionTime": "2000-01-01T00:00:00Z"}],
        [Verdict("Ready", True, "Available", "2/2")],
        generation=2,
    )
    assert flipped[0]["status"] == "True"
    assert flipped[0]["lastTransitionTime"] != "2000-01-01T00:00:00Z"
    assert flipped[0]["observedGeneration"] == 2


def test_a_service_is_ready_only_when_its_rollout_is_complete() -> None:
    deployment = {
        "metadata": {"generation": 3},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 3, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2},
    }
    verdicts, ready, desired = conditions.service_verdicts(problems=[], blocking=False, deployment=deployment)
    assert (verdicts[0].status, verdicts[0].reason, ready, desired) == (True, "Available", 2, 2)
    stale = {**deployment, "status": {**deployment["status"], "observedGeneration": 2}}
    assert conditions.service_verdicts(problems=[], blocking=False, deployment=stale)[0][0].status is False
    blocked, _, _ = conditions.service_verdicts(
        problems=[Problem("NamespaceNotInPlatform", "metadata.namespace: ...")], blocking=True, deployment=None
    )
    assert [(v.type, v.status, v.reason) for v in blocked] == [
        ("Ready", False, "NamespaceNotInPlatform"),
        ("Progressing", False, "NamespaceNotInPlatform"),
        ("Degraded", True, "NamespaceNotInPlatform"),
    ]


def test_pods_without_their_azure_access_are_not_a_ready_service() -> None:
    """A rolled-out Deployment whose identity or grant Azure refused (issue #14): Ready says why, not Available."""
    deployment = _deployment(2, 2)
    problems = [
        Problem("AzureError", "RoleAssignment sb-receiver: AuthorizationFailed: the operator may not assign roles")
    ]
    verdicts, ready, desired = conditions.service_verdicts(problems=problems, blocking=False, deployment=deployment)
    assert [(v.type, v.status, v.reason) for v in verdicts] == [
        ("Ready", False, "AzureError"),
        ("Progressing", False, "RolloutComplete"),
        ("Degraded", True, "AzureError"),
    ]
    assert verdicts[0].message == problems[0].message
    assert (ready, desired) == (2, 2)
    other = [Problem("CallNotAccepted", "spec.calls[0]: ...")]
    assert conditions.service_verdicts(problems=other, blocking=False, deployment=deployment)[0][0].status is True


def test_a_kubernetes_only_pass_carries_the_last_azure_verdict() -> None:
    """Between two Azure passes the resync knows nothing new of Azure: its errors and "still provisioning" stand."""
    last = LastReconcile(
        3, [Problem("CallNotAccepted", "..."), Problem("AzureError", "Identity x: Forbidden")], waiting=None
    )
    assert last.azure_verdict() == ([Problem("AzureError", "Identity x: Forbidden")], None)
    provisioning = LastReconcile(3, [], waiting="the managed identity is still provisioning")
    assert provisioning.azure_verdict() == ([], "the managed identity is still provisioning")


def _deployment(desired: int, ready: int, updated: int | None = None) -> dict[str, object]:
    updated = desired if updated is None else updated
    return {
        "metadata": {"generation": 4},
        "spec": {"replicas": desired},
        "status": {"observedGeneration": 4, "replicas": desired, "readyReplicas": ready, "updatedReplicas": updated},
    }


def test_a_drained_pod_keeps_a_rolled_out_service_ready_within_its_disruption_budget() -> None:
    """A drain evicting one of 2 pods (minReplicas 2, maxUnavailable 1) is not an outage; nor is an HPA scale-out
    waiting for its new pods. Before the first complete rollout, Ready still waits for every pod."""
    budget = conditions.Availability(floor=1, was_ready=True)

    def ready(deployment: dict[str, object], availability: conditions.Availability) -> tuple[bool, str, str]:
        verdicts, _, _ = conditions.service_verdicts(
            problems=[], blocking=False, deployment=deployment, availability=availability
        )
        return verdicts[0].status, verdicts[0].reason, verdicts[1].reason

    assert ready(_deployment(2, 1), budget) == (True, "Available", "ReplacingPods")
    assert ready(_deployment(6, 2), budget) == (True, "Available", "ReplacingPods")  # scale-out 2 -> 6
    assert ready(_deployment(2, 0), budget) == (False, "RollingOut", "RollingOut")  # every pod gone: an outage
    assert ready(_deployment(2, 1), conditions.Availability(floor=1)) == (False, "RollingOut", "RollingOut")
    assert ready(_deployment(2, 1, updated=1), budget) == (False, "RollingOut", "RollingOut")  # a new spec rolling
    # An evicted pod leaves `replicas` and `updatedReplicas` at once, before its replacement exists.
    evicted = _deployment(2, 1, updated=1)
    evicted["status"] = {**evicted["status"], "replicas": 1}  # type: ignore[dict-item]
    assert ready(evicted, budget) == (True, "Available", "ReplacingPods")
    assert ready(evicted, conditions.Availability(floor=1)) == (False, "RollingOut", "RollingOut")
    assert ready(_deployment(4, 2), conditions.Availability(floor=3, was_ready=True))[0] is False
    assert ready(_deployment(2, 2), conditions.Availability()) == (True, "Available", "RolloutComplete")
    # An HPA scale the Deployment controller has not observed yet (its generation ahead of observedGeneration).
    scaled = _deployment(3, 2, updated=2)
    scaled["metadata"] = {"generation": 5}
    assert ready(scaled, budget) == (True, "Available", "ReplacingPods")
    assert ready(scaled, conditions.Availability(floor=1)) == (False, "RollingOut", "RollingOut")  # not yet Ready


def test_a_rollout_the_api_refuses_says_why_in_degraded() -> None:
    """Seen on real pods: a quota too small for the rollout's surge left the service "RollingOut" with no reason."""
    quota = 'pods "x" is forbidden: exceeded quota: team-quota, requested: limits.cpu=1'
    deployment = {
        "metadata": {"generation": 2},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 2,
            "replicas": 2,
            "readyReplicas": 2,
            "updatedReplicas": 0,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": quota},
            ],
        },
    }
    verdicts, _, _ = conditions.service_verdicts(problems=[], blocking=False, deployment=deployment)
    assert [(v.type, v.status, v.reason) for v in verdicts] == [
        ("Ready", False, "RollingOut"),
        ("Progressing", True, "RollingOut"),
        ("Degraded", True, "PodsRefused"),
    ]
    assert "exceeded quota" in verdicts[2].message
    deployment["status"]["conditions"] = [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}
    ]
    verdicts, _, _ = conditions.service_verdicts(problems=[], blocking=False, deployment=deployment)
    assert (verdicts[2].status, verdicts[2].reason) == (True, "ProgressDeadlineExceeded")
    deployment["status"]["conditions"] = [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]
    verdicts, _, _ = conditions.service_verdicts(problems=[], blocking=False, deployment=deployment)
    assert verdicts[2].status is False


def test_services_trust_the_platform_token_issuer_and_the_account_service_issues_none() -> None:
    sample = Path(__file__).resolve().parents[3] / "config" / "samples" / "platform.yaml"
    platform = DeliveryPlatform.model_validate(yaml.safe_load(sample.read_text()))
    services = bundled_services(platform)
    environments = {
        svc.name: next(
            o for o in render_drone_service(svc, platform=platform, peers=services) if o["kind"] == "ConfigMap"
        )["data"]
        for svc in services
    }
    assert {env["FABRIKAM_AUTH_ISSUER"] for env in environments.values()} == {
        "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
    }
    assert {env["FABRIKAM_AUTH_AUDIENCE"] for env in environments.values()} == {"api://fabrikam-drone-delivery"}
    assert {env["FABRIKAM_AUTH_BUSINESS_CLAIM"] for env in environments.values()} == {"extn.businessId"}
    assert environments["account"]["FABRIKAM_ACCOUNT_LOCAL_ISSUER"] == "false"
    assert "FABRIKAM_ACCOUNT_LOCAL_ISSUER" not in environments["ingestion"]


_AS_EXPECTED = ("Degraded", False, "AsExpected")


@pytest.mark.parametrize(
    ("outcome", "ready", "total", "degraded", "expected"),
    [
        ({}, 8, 8, [], [("Ready", True, "AllServicesReady"), ("Progressing", False), _AS_EXPECTED]),
        ({}, 7, 8, [], [("Ready", False, "ServicesNotReady"), ("Progressing", True), _AS_EXPECTED]),
        ({}, 0, 0, [], [("Ready", False, "ServicesNotReady"), ("Progressing", True), _AS_EXPECTED]),
        (
            {"problems": [Problem("InvalidSpec", "spec.teams: ...")], "blocking": True},
            8,
            8,
            [],
            [("Ready", False, "InvalidSpec"), ("Progressing", False), ("Degraded", True, "InvalidSpec")],
        ),
        (
            {"problems": [Problem("QuotaBelowMaxima", "..."), Problem("AzureError", "refused")]},
            8,
            8,
            [],
            [("Ready", False, "AzureError"), ("Progressing", False), ("Degraded", True, "QuotaBelowMaxima")],
        ),
        (
            {"waiting": "Azure resources are still provisioning"},
            8,
            8,
            [],
            [("Ready", False, "AzureProvisioning"), ("Progressing", True), _AS_EXPECTED],
        ),
        (
            {},
            8,
            8,
            ["fabrikam-shipping/x: CallNotAccepted"],
            [("Ready", True, "AllServicesReady"), ("Progressing", False), ("Degraded", True, "ServiceDegraded")],
        ),
    ],
)
def test_the_platform_aggregates_its_own_outcome_and_its_services(
    outcome: dict[str, Any], ready: int, total: int, degraded: list[str], expected: list[tuple[Any, ...]]
) -> None:
    """Ready only with nothing blocking, Azure settled and every service Ready; Degraded names its own problem
    before its services'; a degraded service does not make a ready platform not Ready."""
    verdicts = conditions.platform_verdicts(
        problems=outcome.get("problems", []),
        blocking=outcome.get("blocking", False),
        waiting=outcome.get("waiting"),
        ready=ready,
        total=total,
        degraded_services=degraded,
    )
    assert [(v.type, v.status, v.reason)[: len(e)] for v, e in zip(verdicts, expected, strict=True)] == expected


def test_with_disaster_recovery_the_services_use_the_names_that_follow_a_failover() -> None:
    platform = {
        "status": {
            "azureResources": [
                {"kind": "ServiceBusNamespace", "endpoint": "https://sb-fabrikam.servicebus.windows.net:443/"},
                {
                    "kind": "ServiceBusRecoveryNamespace",
                    "endpoint": "https://sb-fabrikam-dr.servicebus.windows.net:443/",
                },
                {
                    "kind": "ServiceBusGeoRecoveryAlias",
                    "endpoint": "https://sb-fabrikam-geo.servicebus.windows.net:443/",
                },
                {"kind": "RedisCache", "endpoint": "redis-fabrikam.redis.cache.windows.net:6380"},
                {"kind": "RedisLinkedServer", "endpoint": "redis-fabrikam.geo.redis.cache.windows.net"},
            ]
        }
    }
    assert platform_environment(platform) == {
        "FABRIKAM_SERVICEBUS_NAMESPACE": "sb-fabrikam-geo.servicebus.windows.net",
        "FABRIKAM_REDIS_URL": "rediss://redis-fabrikam.geo.redis.cache.windows.net:6380/0",
    }
    # Until the alias is paired (no endpoint yet), the namespace itself.
    platform["status"]["azureResources"][2]["endpoint"] = None
    assert platform_environment(platform)["FABRIKAM_SERVICEBUS_NAMESPACE"] == "sb-fabrikam.servicebus.windows.net"


def test_a_store_short_of_the_recovery_targets_degrades_the_platform_without_unreadying_it() -> None:
    verdicts = conditions.platform_verdicts(
        problems=[
            Problem(conditions.RECOVERY_TARGET_UNMET, "ServiceBus: Service Bus Standard has no geo-disaster recovery")
        ],
        blocking=False,
        waiting=None,
        ready=8,
        total=8,
        degraded_services=[],
    )
    by_type = {v.type: v for v in verdicts}
    assert (by_type["Ready"].status, by_type["Ready"].reason) == (True, "AllServicesReady")
    assert (by_type["Degraded"].status, by_type["Degraded"].reason) == (True, "RecoveryTargetUnmet")
    # A Kubernetes-only pass keeps the verdict of the last Azure pass.
    outcome = LastReconcile(
        1, problems=[Problem("RecoveryTargetUnmet", "ServiceBus: ..."), Problem("InvalidSpec", "x")]
    )
    assert outcome.azure_verdict() == ([Problem("RecoveryTargetUnmet", "ServiceBus: ...")], None)
