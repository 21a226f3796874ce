"""Given a team of the platform, its namespace comes with restricted pod security, quota, limits, deny-all and
a namespaced role for its groups."""

from __future__ import annotations

from typing import Any

from fabrikam.operator.api import DeliveryPlatform
from fabrikam.operator.render import render_team


def _by_kind(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_a_team_gets_its_namespace_and_guard_rails(platform: DeliveryPlatform) -> None:
    objects = render_team(platform.spec.teams[0], platform=platform)
    assert [o["kind"] for o in objects] == [
        "Namespace",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
    ]
    assert all(o["metadata"].get("namespace", "fabrikam-shipping") == "fabrikam-shipping" for o in objects)


def test_the_namespace_enforces_restricted_pod_security(platform: DeliveryPlatform) -> None:
    namespace = render_team(platform.spec.teams[0], platform=platform)[0]
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    assert labels["dronedelivery.fabrikam.io/team"] == "shipping"
    assert labels["dronedelivery.fabrikam.io/cost-center"] == "cc-1001-shipping"


def test_the_quota_bounds_requests_limits_pods_and_forbids_load_balancers(platform: DeliveryPlatform) -> None:
    quota = _by_kind(render_team(platform.spec.teams[0], platform=platform))[("ResourceQuota", "team-quota")]
    assert quota["spec"]["hard"] == {
        "requests.cpu": "72",
        "requests.memory": "64Gi",
        "limits.cpu": "72",
        "limits.memory": "64Gi",
        "pods": "120",
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }


def test_default_deny_in_both_directions_with_dns_allowed(platform: DeliveryPlatform) -> None:
    objects = _by_kind(render_team(platform.spec.teams[0], platform=platform))
    deny = objects[("NetworkPolicy", "default-deny")]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = objects[("NetworkPolicy", "allow-dns")]["spec"]
    assert dns["policyTypes"] == ["Egress"]
    assert dns["egress"][0]["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert dns["egress"][0]["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }


def test_groups_are_bound_to_a_namespaced_role_never_cluster_admin(platform: DeliveryPlatform) -> None:
    objects = _by_kind(render_team(platform.spec.teams[0], platform=platform))
    binding = objects[("RoleBinding", "fabrikam-team-developer")]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "fabrikam-team-developer",
    }
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "0b1f3c5a-7d9e-4f21-8a3b-5c7d9e1f2a4b"}
    ]
    rules = objects[("Role", "fabrikam-team-developer")]["rules"]
    granted = {(group, resource) for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]}
    assert ("dronedelivery.fabrikam.io", "droneservices") in granted
    assert ("", "secrets") not in granted
    assert ("", "pods/exec") not in granted
    assert all("*" not in rule["verbs"] and "*" not in rule["resources"] for rule in rules)


def test_owner_references_appear_once_the_platform_has_a_uid(platform: DeliveryPlatform) -> None:
    assert "ownerReferences" not in render_team(platform.spec.teams[0], platform=platform)[0]["metadata"]
    platform.metadata.uid = "7f9c1f5e-0000-4000-8000-000000000001"
    owner = render_team(platform.spec.teams[0], platform=platform)[0]["metadata"]["ownerReferences"][0]
    assert owner == {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DeliveryPlatform",
        "name": "fabrikam",
        "uid": "7f9c1f5e-0000-4000-8000-000000000001",
        "controller": True,
        "blockOwnerDeletion": True,
    }
