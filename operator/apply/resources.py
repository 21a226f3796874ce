"""Where each kind we manage lives in the REST API: the fixed mapping instead of a discovery round-trip."""

from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool
    watched: bool = False
    applied: bool = True
    # Served only when its CustomResourceDefinition is installed, which the operator does not require.
    optional: bool = False

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

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


# Every kind the operator reads or writes, in the order a set of them is applied (what others depend on first: a
# Deployment needs its ServiceAccount and ConfigMap); `watched` marks the children whose drift it reverts.
_KNOWN = (
    Resource("v1", "Namespace", "namespaces", False, watched=True),
    Resource("v1", "ResourceQuota", "resourcequotas", True, watched=True),
    Resource("v1", "LimitRange", "limitranges", True, watched=True),
    Resource("rbac.authorization.k8s.io/v1", "Role", "roles", True, watched=True),
    Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True, watched=True),
    Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True, watched=True),
    Resource("v1", "ServiceAccount", "serviceaccounts", True, watched=True),
    Resource("v1", "ConfigMap", "configmaps", True, watched=True),
    Resource("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass", "secretproviderclasses", True),
    Resource("v1", "Service", "services", True, watched=True),
    Resource("apps/v1", "Deployment", "deployments", True, watched=True),
    Resource("apps/v1", "StatefulSet", "statefulsets", True, watched=True),
    Resource("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, watched=True),
    Resource("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True, watched=True),
    Resource("networking.k8s.io/v1", "Ingress", "ingresses", True, watched=True),
    Resource("dronedelivery.fabrikam.io/v1alpha1", "DroneService", "droneservices", True, watched=True),
    # The Prometheus Operator's kinds, applied only where the API server serves them (handlers/discovery.py).
    Resource("monitoring.coreos.com/v1", "PodMonitor", "podmonitors", True, watched=True, optional=True),
    Resource("monitoring.coreos.com/v1", "PrometheusRule", "prometheusrules", True, watched=True, optional=True),
    Resource(
        "monitoring.coreos.com/v1alpha1", "AlertmanagerConfig", "alertmanagerconfigs", True, watched=True, optional=True
    ),
    # Read or written, never applied as a rendered child.
    Resource("v1", "Secret", "secrets", True, applied=False),
    Resource("v1", "Event", "events", True, applied=False),
    Resource("coordination.k8s.io/v1", "Lease", "leases", True, applied=False),
    Resource("dronedelivery.fabrikam.io/v1alpha1", "DeliveryPlatform", "deliveryplatforms", False, applied=False),
)
RESOURCES: dict[tuple[str, str], Resource] = {(r.api_version, r.kind): r for r in _KNOWN}
APPLY_ORDER = {r.kind: position for position, r in enumerate(r for r in _KNOWN if r.applied)}
# The children the operator watches (and reverts when they drift), and as kopf names them: (group, version, plural).
CHILD_RESOURCES = tuple(r for r in _KNOWN if r.watched)
WATCHED = tuple((r.group, r.version, r.plural) for r in CHILD_RESOURCES)
OPTIONAL = tuple(r for r in _KNOWN if r.optional)


def resource_of(obj: dict[str, Any]) -> Resource:
    key = (obj["apiVersion"], obj["kind"])
    if key not in RESOURCES:
        raise KeyError(f"{obj['apiVersion']}/{obj['kind']} is not a kind the operator manages")
    return RESOURCES[key]


class ChildKey(NamedTuple):
    """Which object the operator manages: the one key of a child in what it remembers (its desired state, the hash
    and rollout state the watches showed) and in what the applier is told; `str()` is how people read it."""

    api_version: str
    kind: str
    namespace: str  # "" for a cluster-scoped object
    name: str

    @classmethod
    def of(cls, obj: dict[str, Any]) -> "ChildKey":
        meta = obj["metadata"]
        return cls(obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"])

    def __str__(self) -> str:
        """`Kind namespace/name`, for events, logs and error messages."""
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


def describe(obj: dict[str, Any]) -> str:
    """`Kind namespace/name`, for events, logs and error messages."""
    return str(ChildKey.of(obj))
