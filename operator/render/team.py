"""A team's namespace and its guard rails: restricted pod security, quota, default limits, deny-all, RBAC."""

from __future__ import annotations

from fabrikam.operator.api import API_VERSION, DeliveryPlatform, Team
from fabrikam.operator.render.labels import Obj, common, metadata, owner_reference
from fabrikam.operator.render.network import team_policies

ROLE = "fabrikam-team-developer"
QUOTA = "team-quota"
LIMITS = "team-limits"
# Defaults for any container the team runs outside a DroneService, so nothing is ever unbounded.
DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi"}
DEFAULT_LIMIT = {"cpu": "500m", "memory": "256Mi"}

_READ = ["get", "list", "watch"]
# What a team needs to run its services, and no more: no secrets, no exec, nothing cluster-wide.
ROLE_RULES: list[Obj] = [
    {
        "apiGroups": ["dronedelivery.fabrikam.io"],
        "resources": ["droneservices"],
        "verbs": [*_READ, "create", "update", "patch", "delete"],
    },
    {"apiGroups": ["dronedelivery.fabrikam.io"], "resources": ["droneservices/status"], "verbs": _READ},
    {
        "apiGroups": [""],
        "resources": ["pods", "pods/log", "services", "endpoints", "configmaps", "events", "serviceaccounts"],
        "verbs": _READ,
    },
    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": _READ},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _READ},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _READ},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies", "ingresses"], "verbs": _READ},
]


def pod_security_labels() -> dict[str, str]:
    """Pod Security Admission at `restricted` for enforce, audit and warn: root and privileged pods are refused."""
    return {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")} | {
        f"pod-security.kubernetes.io/{mode}-version": "latest" for mode in ("enforce", "audit", "warn")
    }


def render_team(team: Team, *, platform: DeliveryPlatform) -> list[Obj]:
    """Every object of one team, in apply order (the namespace first)."""
    labels = common(name=team.name, component="team", team=team, platform=platform.name)
    owners = owner_reference(
        api_version=API_VERSION, kind="DeliveryPlatform", name=platform.name, uid=platform.metadata.uid
    )
    ns = team.namespace
    quota = team.quota
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": metadata(ns, labels=labels | pod_security_labels(), owners=owners),
        },
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": metadata(QUOTA, namespace=ns, labels=labels, owners=owners),
            "spec": {
                "hard": {
                    "requests.cpu": quota.cpu,
                    "requests.memory": quota.memory,
                    "limits.cpu": quota.cpu,
                    "limits.memory": quota.memory,
                    "pods": str(quota.pods),
                    # Public exposure goes through the shared ingress only.
                    "services.loadbalancers": "0",
                    "services.nodeports": "0",
                }
            },
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": metadata(LIMITS, namespace=ns, labels=labels, owners=owners),
            "spec": {"limits": [{"type": "Container", "defaultRequest": DEFAULT_REQUEST, "default": DEFAULT_LIMIT}]},
        },
        *team_policies(ns, platform=platform, labels=labels, owners=owners),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata(ROLE, namespace=ns, labels=labels, owners=owners),
            "rules": ROLE_RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata(ROLE, namespace=ns, labels=labels, owners=owners),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group} for group in team.groups
            ],
        },
    ]
