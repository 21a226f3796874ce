"""API versions Kubernetes stopped serving, from its Deprecated API Migration Guide: manifests that still use them
cannot be applied to a current cluster as written."""

from __future__ import annotations

from collections.abc import Sequence

# The version the seed's cluster runs: an API removed at or before it means the manifests cannot be applied at all.
SEED_KUBERNETES = (1, 28)


def _table() -> dict[tuple[str, str], tuple[tuple[int, int], str]]:
    """(apiVersion, kind) -> (the release that stopped serving it, what to use), from the Kubernetes deprecated
    API migration guide."""
    table: dict[tuple[str, str], tuple[tuple[int, int], str]] = {}
    entries: Sequence[tuple[str, tuple[int, int], str, tuple[str, ...]]] = (
        ("extensions/v1beta1", (1, 16), "apps/v1", ("Deployment", "DaemonSet", "ReplicaSet")),
        ("extensions/v1beta1", (1, 16), "networking.k8s.io/v1", ("NetworkPolicy",)),
        ("extensions/v1beta1", (1, 16), "Pod Security admission", ("PodSecurityPolicy",)),
        ("apps/v1beta1", (1, 16), "apps/v1", ("Deployment", "StatefulSet", "ReplicaSet", "ControllerRevision")),
        ("apps/v1beta2", (1, 16), "apps/v1", ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet")),
        ("extensions/v1beta1", (1, 22), "networking.k8s.io/v1", ("Ingress",)),
        ("networking.k8s.io/v1beta1", (1, 22), "networking.k8s.io/v1", ("Ingress", "IngressClass")),
        (
            "rbac.authorization.k8s.io/v1beta1",
            (1, 22),
            "rbac.authorization.k8s.io/v1",
            ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"),
        ),
        (
            "admissionregistration.k8s.io/v1beta1",
            (1, 22),
            "admissionregistration.k8s.io/v1",
            ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"),
        ),
        ("apiextensions.k8s.io/v1beta1", (1, 22), "apiextensions.k8s.io/v1", ("CustomResourceDefinition",)),
        ("apiregistration.k8s.io/v1beta1", (1, 22), "apiregistration.k8s.io/v1", ("APIService",)),
        ("certificates.k8s.io/v1beta1", (1, 22), "certificates.k8s.io/v1", ("CertificateSigningRequest",)),
        ("coordination.k8s.io/v1beta1", (1, 22), "coordination.k8s.io/v1", ("Lease",)),
        ("scheduling.k8s.io/v1beta1", (1, 22), "scheduling.k8s.io/v1", ("PriorityClass",)),
        (
            "storage.k8s.io/v1beta1",
            (1, 22),
            "storage.k8s.io/v1",
            ("CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"),
        ),
        ("batch/v1beta1", (1, 25), "batch/v1", ("CronJob",)),
        ("discovery.k8s.io/v1beta1", (1, 25), "discovery.k8s.io/v1", ("EndpointSlice",)),
        ("events.k8s.io/v1beta1", (1, 25), "events.k8s.io/v1", ("Event",)),
        ("autoscaling/v2beta1", (1, 25), "autoscaling/v2", ("HorizontalPodAutoscaler",)),
        ("policy/v1beta1", (1, 25), "policy/v1", ("PodDisruptionBudget",)),
        ("policy/v1beta1", (1, 25), "Pod Security admission", ("PodSecurityPolicy",)),
        ("node.k8s.io/v1beta1", (1, 25), "node.k8s.io/v1", ("RuntimeClass",)),
        ("autoscaling/v2beta2", (1, 26), "autoscaling/v2", ("HorizontalPodAutoscaler",)),
        (
            "flowcontrol.apiserver.k8s.io/v1beta1",
            (1, 26),
            "flowcontrol.apiserver.k8s.io/v1",
            ("FlowSchema", "PriorityLevelConfiguration"),
        ),
        ("storage.k8s.io/v1beta1", (1, 27), "storage.k8s.io/v1", ("CSIStorageCapacity",)),
        (
            "flowcontrol.apiserver.k8s.io/v1beta2",
            (1, 29),
            "flowcontrol.apiserver.k8s.io/v1",
            ("FlowSchema", "PriorityLevelConfiguration"),
        ),
        (
            "flowcontrol.apiserver.k8s.io/v1beta3",
            (1, 32),
            "flowcontrol.apiserver.k8s.io/v1",
            ("FlowSchema", "PriorityLevelConfiguration"),
        ),
    )
    for version, removed, use, kinds in entries:
        for kind in kinds:
            table[version, kind] = (removed, use)
    return table


REMOVED_APIS = _table()
