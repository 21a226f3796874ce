"""Kubernetes objects as the rules read them: who an object is, the pods a workload runs, and an index of what the
cross-object rules look up (HPA targets, PDB and NetworkPolicy selectors, quotas, ConfigMaps and Secrets). Plain
dicts in, no client models: the same objects come from YAML files and from the API server's JSON.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fabrikam.cli.audit.findings import ObjectRef

Obj = Mapping[str, Any]

# Kinds that run pods, and how to reach their pod template.
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}
_BATCH = frozenset({"Job", "CronJob"})
CLUSTER_SCOPED = frozenset(
    [
        "APIService",
        "CertificateSigningRequest",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "DeliveryPlatform",
        "FlowSchema",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    ]
)


def value_at(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def mapping_at(obj: Any, *path: str) -> Mapping[str, Any]:
    value = value_at(obj, *path)
    return value if isinstance(value, Mapping) else {}


def mappings_at(obj: Any, *path: str) -> list[Any]:
    value = value_at(obj, *path)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def ref(obj: Obj) -> ObjectRef:
    """Who an object is; a namespaced object that names no namespace lands in `default`, as with kubectl."""
    kind = str(obj.get("kind", ""))
    namespace = value_at(obj, "metadata", "namespace")
    if kind in CLUSTER_SCOPED:
        namespace = None
    elif not namespace:
        namespace = "default"
    return ObjectRef(kind, namespace, str(value_at(obj, "metadata", "name") or ""), str(obj.get("apiVersion", "")))


def flatten(objects: Iterable[Obj]) -> Iterator[Obj]:
    """`kind: List` (kubectl get -o yaml) holds its objects in `items`."""
    for obj in objects:
        if not isinstance(obj, Mapping):
            continue
        if str(obj.get("kind", "")).endswith("List") and isinstance(obj.get("items"), list):
            yield from flatten(obj["items"])
        elif obj.get("kind"):
            yield obj


def selects(selector: Any, labels: Mapping[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions) against a label set; `{}` selects everything."""
    if not isinstance(selector, Mapping):
        return False
    if any(labels.get(key) != value for key, value in mapping_at(selector, "matchLabels").items()):
        return False
    for expression in mappings_at(selector, "matchExpressions"):
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


@dataclass(frozen=True)
class Workload:
    """An object that runs pods, with its pod template."""

    obj: Obj
    ref: ObjectRef
    template: Obj

    @property
    def kind(self) -> str:
        return self.ref.kind

    @property
    def spec(self) -> Mapping[str, Any]:
        return mapping_at(self.template, "spec")

    @property
    def labels(self) -> Mapping[str, str]:
        return mapping_at(self.template, "metadata", "labels")

    @property
    def containers(self) -> list[Obj]:
        return mappings_at(self.spec, "containers")

    @property
    def all_containers(self) -> list[Obj]:
        """Containers and init containers: what runs with the pod's privileges."""
        return [*mappings_at(self.spec, "initContainers"), *self.containers]

    @property
    def long_running(self) -> bool:
        return self.kind not in _BATCH


def workload_of(obj: Obj) -> Workload | None:
    path = _TEMPLATE_PATHS.get(str(obj.get("kind")))
    if path is None:
        return None
    # A ReplicaSet of a Deployment, a Job of a CronJob, a Pod of either: its owner is reported instead.
    owners = mappings_at(obj, "metadata", "ownerReferences")
    if any(o.get("controller") and o.get("kind") in _TEMPLATE_PATHS for o in owners):
        return None
    template = value_at(obj, *path) if path else obj
    return Workload(obj, ref(obj), template if isinstance(template, Mapping) else {})


@dataclass
class Cluster:
    """What the cross-object rules look up, built in one pass over the objects."""

    objects: list[Obj] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    hpa_targets: set[tuple[str | None, str, str]] = field(default_factory=set)
    pdb_selectors: dict[str | None, list[Any]] = field(default_factory=lambda: defaultdict(list))
    policies: dict[str | None, list[Obj]] = field(default_factory=lambda: defaultdict(list))
    quotas: set[str | None] = field(default_factory=set)
    limit_ranges: set[str | None] = field(default_factory=set)
    namespaces: dict[str, Obj] = field(default_factory=dict)
    config_maps: dict[tuple[str | None, str], Obj] = field(default_factory=dict)
    secrets: dict[tuple[str | None, str], Obj] = field(default_factory=dict)
    service_accounts: dict[tuple[str | None, str], Obj] = field(default_factory=dict)
    cluster_roles: dict[str, Obj] = field(default_factory=dict)
    issuers: dict[tuple[str | None, str], Obj] = field(default_factory=dict)

    @classmethod
    def of(cls, objects: Iterable[Obj]) -> Cluster:
        cluster = cls()
        for obj in flatten(objects):
            cluster._add(obj)
        return cluster

    def _add(self, obj: Obj) -> None:
        self.objects.append(obj)
        where = ref(obj)
        namespace, name, kind = where.namespace, where.name, where.kind
        workload = workload_of(obj)
        if workload is not None:
            self.workloads.append(workload)
        elif kind == "HorizontalPodAutoscaler":
            target = mapping_at(obj, "spec", "scaleTargetRef")
            self.hpa_targets.add((namespace, str(target.get("kind")), str(target.get("name"))))
        elif kind == "PodDisruptionBudget":
            self.pdb_selectors[namespace].append(value_at(obj, "spec", "selector") or {})
        elif kind == "NetworkPolicy":
            self.policies[namespace].append(obj)
        elif kind == "ResourceQuota":
            self.quotas.add(namespace)
        elif kind == "LimitRange":
            self.limit_ranges.add(namespace)
        elif kind == "Namespace":
            self.namespaces[name] = obj
        elif kind == "ConfigMap":
            self.config_maps[namespace, name] = obj
        elif kind == "Secret":
            self.secrets[namespace, name] = obj
        elif kind == "ServiceAccount":
            self.service_accounts[namespace, name] = obj
        elif kind == "ClusterRole":
            self.cluster_roles[name] = obj
        elif kind in ("Issuer", "ClusterIssuer"):
            self.issuers[namespace, name] = obj

    def workload_namespaces(self) -> list[str]:
        return sorted({w.ref.namespace for w in self.workloads if w.ref.namespace})
