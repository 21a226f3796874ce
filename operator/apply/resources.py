"""Where each kind we manage lives in the REST API: the fixed mapping instead of a discovery round-trip."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def base(self) -> str:
        return f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"

    def collection(self, namespace: str | None) -> str:
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.kind} is namespaced: metadata.namespace is required")
            return f"{self.base}/namespaces/{namespace}/{self.plural}"
        return f"{self.base}/{self.plural}"

    def path(self, name: str, namespace: str | None) -> str:
        return f"{self.collection(namespace)}/{name}"


_KNOWN = (
    Resource("v1", "Namespace", "namespaces", False),
    Resource("v1", "ResourceQuota", "resourcequotas", True),
    Resource("v1", "LimitRange", "limitranges", True),
    Resource("v1", "ServiceAccount", "serviceaccounts", True),
    Resource("v1", "ConfigMap", "configmaps", True),
    Resource("v1", "Service", "services", True),
    Resource("v1", "Secret", "secrets", True),
    Resource("v1", "Event", "events", True),
    Resource("apps/v1", "Deployment", "deployments", True),
    Resource("apps/v1", "StatefulSet", "statefulsets", True),
    Resource("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    Resource("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
    Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True),
    Resource("networking.k8s.io/v1", "Ingress", "ingresses", True),
    Resource("rbac.authorization.k8s.io/v1", "Role", "roles", True),
    Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
    Resource("coordination.k8s.io/v1", "Lease", "leases", True),
    Resource("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass", "secretproviderclasses", True),
    Resource("dronedelivery.fabrikam.io/v1alpha1", "DroneService", "droneservices", True),
    Resource("dronedelivery.fabrikam.io/v1alpha1", "DeliveryPlatform", "deliveryplatforms", False),
)
RESOURCES: dict[tuple[str, str], Resource] = {(r.api_version, r.kind): r for r in _KNOWN}

# Objects others depend on are applied first (a Deployment needs its ServiceAccount and ConfigMap).
APPLY_ORDER = {
    kind: position
    for position, kind in enumerate(
        (
            "Namespace",
            "ResourceQuota",
            "LimitRange",
            "Role",
            "RoleBinding",
            "NetworkPolicy",
            "ServiceAccount",
            "ConfigMap",
            "SecretProviderClass",
            "Service",
            "Deployment",
            "StatefulSet",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "Ingress",
            "DroneService",
        )
    )
}


def resource_of(obj: dict[str, Any]) -> Resource:
    key = (obj["apiVersion"], obj["kind"])
    if key not in RESOURCES:
        raise KeyError(f"{obj['apiVersion']}/{obj['kind']} is not a kind the operator manages")
    return RESOURCES[key]


def describe(obj: dict[str, Any]) -> str:
    """`Kind namespace/name`, for events, logs and error messages."""
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {where}{meta['name']}"
