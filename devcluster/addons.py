"""The real nodes' add-ons as Kubernetes objects: cluster DNS, metrics-server, volumes (local-path-provisioner), the
NetworkPolicy enforcer's access.

Pure builders (the cluster applies them with kubectl). CoreDNS, metrics-server and local-path-provisioner run as pods,
on the real nodes only, from images built here from their pinned Go modules (`images.static_image`), pulled from the
local registry by digest. The enforcer, kube-router's firewall, runs as a process of each node like kube-proxy
(`realnodes.py`).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from fabrikam.devcluster.realnode_config import (
    CLUSTER_DOMAIN,
    DNS_SERVICE_IP,
    NODE_TYPE_LABEL,
    REAL_NODE_TAINT,
    REAL_NODE_TYPE,
)

Manifest = dict[str, Any]
_SYSTEM = "kube-system"
_ON_REAL_NODES = {
    "nodeSelector": {NODE_TYPE_LABEL: REAL_NODE_TYPE},
    "tolerations": [{"key": REAL_NODE_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}],
}
_LOCKED_DOWN = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}

# No `forward`: pods resolve cluster names only; nothing leaves for an upstream resolver (workplace network rule).
COREFILE = f""".:53 {{
    errors
    health {{
        lameduck 5s
    }}
    ready
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    prometheus :9153
    cache 30
    loop
    reload
    loadbalance
}}
"""


@dataclass(frozen=True)
class AddonImages:
    coredns: str
    metrics_server: str
    local_path_provisioner: str
    volume_helper: str
    """What local-path-provisioner's helper pods run (`sh`, `mkdir`, `rm`): the Debian base."""


def _meta(name: str, namespace: str | None = _SYSTEM, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/part-of": "fabrikam-local-cluster", **labels}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _cluster_role(name: str, rules: list[dict[str, Any]], **labels: str) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(name, None, **labels),
        "rules": rules,
    }


def _binding(
    kind: str,
    name: str,
    role_kind: str,
    role: str,
    account: str,
    namespace: str | None = None,
    account_namespace: str = _SYSTEM,
) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": _meta(name, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": account_namespace}],
    }


def _service_account(name: str, namespace: str = _SYSTEM) -> Manifest:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, namespace)}


def _watch(groups: list[str], resources: list[str], verbs: tuple[str, ...] = ("list", "watch")) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": list(verbs)}


def coredns(image: str) -> list[Manifest]:
    labels = {"k8s-app": "kube-dns"}
    pod_spec = {
        **_ON_REAL_NODES,
        "serviceAccountName": "coredns",
        "priorityClassName": "system-cluster-critical",
        "dnsPolicy": "Default",
        # Port 53 without root and without capabilities (a safe, namespaced sysctl).
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "53"}],
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": labels},
            }
        ],
        "containers": [
            {
                "name": "coredns",
                "image": image,
                "args": ["-conf", "/etc/coredns/Corefile"],
                "ports": [
                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
                ],
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                "securityContext": _LOCKED_DOWN,
                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
                "livenessProbe": {
                    "httpGet": {"path": "/health", "port": 8080},
                    "periodSeconds": 10,
                    "failureThreshold": 5,
                },
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
            }
        ],
        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
    }
    return [
        _service_account("coredns"),
        _cluster_role(
            "system:coredns",
            [
                _watch([""], ["endpoints", "services", "pods", "namespaces"]),
                _watch(["discovery.k8s.io"], ["endpointslices"]),
            ],
        ),
        _binding("ClusterRoleBinding", "system:coredns", "ClusterRole", "system:coredns", "coredns"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("coredns"), "data": {"Corefile": COREFILE}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("coredns", **labels),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
        },
        {
            # As AKS ships it: a node drain moves one DNS server at a time, so names resolve throughout.
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _meta("coredns", **labels),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("kube-dns", **labels, **{"kubernetes.io/name": "CoreDNS"}),
            "spec": {
                "clusterIP": DNS_SERVICE_IP,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                    {"name": "metrics", "port": 9153, "protocol": "TCP"},
                ],
            },
        },
    ]


def metrics_server(image: str) -> list[Manifest]:
    labels = {"k8s-app": "metrics-server"}
    return [
        _service_account("metrics-server"),
        _cluster_role(
            "system:aggregated-metrics-reader",
            [_watch(["metrics.k8s.io"], ["pods", "nodes"], ("get", "list", "watch"))],
            # Who may view, edit or administer a namespace may read its pods' figures (kubectl top).
            **{f"rbac.authorization.k8s.io/aggregate-to-{role}": "true" for role in ("view", "edit", "admin")},
        ),
        _cluster_role(
            "system:metrics-server",
            [_watch([""], ["nodes/metrics"], ("get",)), _watch([""], ["pods", "nodes"], ("get", "list", "watch"))],
        ),
        _binding(
            "RoleBinding",
            "metrics-server-auth-reader",
            "Role",
            "extension-apiserver-authentication-reader",
            "metrics-server",
            _SYSTEM,
        ),
        _binding(
            "ClusterRoleBinding",
            "metrics-server:system:auth-delegator",
            "ClusterRole",
            "system:auth-delegator",
            "metrics-server",
        ),
        _binding(
            "ClusterRoleBinding", "system:metrics-server", "ClusterRole", "system:metrics-server", "metrics-server"
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("metrics-server", **labels),
            "spec": {"selector": labels, "ports": [{"name": "https", "port": 443, "targetPort": "https"}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("metrics-server", **labels),
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        **_ON_REAL_NODES,
                        "serviceAccountName": "metrics-server",
                        "priorityClassName": "system-cluster-critical",
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 1000,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "metrics-server",
                                "image": image,
                                "args": [
                                    "--cert-dir=/tmp",
                                    "--secure-port=10250",
                                    "--kubelet-preferred-address-types=InternalIP",
                                    "--kubelet-use-node-status-port",
                                    "--metric-resolution=15s",
                                    # Kubelets serve certificates of the cluster's CA naming their address.
                                    "--kubelet-certificate-authority="
                                    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
                                ],
                                "ports": [{"name": "https", "containerPort": 10250, "protocol": "TCP"}],
                                "resources": {
                                    "requests": {"cpu": "20m", "memory": "64Mi"},
                                    "limits": {"memory": "256Mi"},
                                },
                                "securityContext": _LOCKED_DOWN,
                                "readinessProbe": {
                                    "httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
                                    "periodSeconds": 5,
                                    "failureThreshold": 3,
                                },
                                "livenessProbe": {
                                    "httpGet": {"path": "/livez", "port": "https", "scheme": "HTTPS"},
                                    "periodSeconds": 10,
                                    "failureThreshold": 3,
                                },
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": _meta("v1beta1.metrics.k8s.io", None, **labels),
            "spec": {
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "insecureSkipTLSVerify": True,
                "service": {"name": "metrics-server", "namespace": _SYSTEM},
            },
        },
    ]


LOCAL_PATH_NAMESPACE = "local-path-storage"
LOCAL_PATH_STORAGE_CLASS = "local-path"
LOCAL_PATH_PROVISIONER = "rancher.io/local-path"
_LOCAL_PATH_ACCOUNT = "local-path-provisioner-service-account"
# Upstream's scripts (deploy/local-path-storage.yaml): the helper pod runs them with VOL_DIR set, on the volume's node.
_LOCAL_PATH_SETUP = '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n'
_LOCAL_PATH_TEARDOWN = '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n'


def local_path_config(node_volumes: Mapping[str, str]) -> dict[str, Any]:
    """Every real node shares the machine's filesystem, so each gets a folder of its own: one shared path would let
    a "node-local" volume be seen from every node. Nodes not listed (the simulated ones) get no volumes."""
    return {"nodePathMap": [{"node": node, "paths": [path]} for node, path in sorted(node_volumes.items())]}


def _helper_pod(image: str) -> Manifest:
    """The template of the pods that make and remove a volume's folder on its node (the provisioner adds the
    node, the hostPath, the scripts and a toleration of every taint)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "helper-pod"},
        "spec": {
            "priorityClassName": "system-node-critical",
            "tolerations": [{"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "helper-pod", "image": image, "imagePullPolicy": "IfNotPresent"}],
        },
    }


def local_path_provisioner(image: str, helper_image: str, node_volumes: Mapping[str, str]) -> list[Manifest]:
    """rancher's local-path-provisioner as upstream deploys it, on the real nodes, with the default StorageClass
    `local-path` (node name -> that node's folder in `node_volumes`)."""
    namespace, labels = LOCAL_PATH_NAMESPACE, {"app": "local-path-provisioner"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace, None)},
        _service_account(_LOCAL_PATH_ACCOUNT, namespace),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta("local-path-provisioner-role", namespace),
            "rules": [_watch([""], ["pods"], ("get", "list", "watch", "create", "patch", "update", "delete"))],
        },
        _cluster_role(
            "local-path-provisioner-role",
            [
                _watch(
                    [""],
                    ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
                    ("get", "list", "watch"),
                ),
                _watch([""], ["persistentvolumes"], ("get", "list", "watch", "create", "patch", "update", "delete")),
                _watch([""], ["events"], ("create", "patch")),
                _watch(["storage.k8s.io"], ["storageclasses"], ("get", "list", "watch")),
            ],
        ),
        _binding(
            "RoleBinding",
            "local-path-provisioner-bind",
            "Role",
            "local-path-provisioner-role",
            _LOCAL_PATH_ACCOUNT,
            namespace,
            namespace,
        ),
        _binding(
            "ClusterRoleBinding",
            "local-path-provisioner-bind",
            "ClusterRole",
            "local-path-provisioner-role",
            _LOCAL_PATH_ACCOUNT,
            account_namespace=namespace,
        ),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("local-path-config", namespace),
            "data": {
                "config.json": json.dumps(local_path_config(node_volumes), indent=2),
                "setup": _LOCAL_PATH_SETUP,
                "teardown": _LOCAL_PATH_TEARDOWN,
                "helperPod.yaml": yaml.safe_dump(_helper_pod(helper_image), sort_keys=False),
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("local-path-provisioner", namespace, **labels),
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        **_ON_REAL_NODES,
                        "serviceAccountName": _LOCAL_PATH_ACCOUNT,
                        "priorityClassName": "system-cluster-critical",
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "local-path-provisioner",
                                "image": image,
                                "args": ["start", "--config", "/etc/config/config.json"],
                                "env": [
                                    {
                                        "name": "POD_NAMESPACE",
                                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                                    },
                                    # Where it watches the ConfigMap for changes of the node paths.
                                    {"name": "CONFIG_MOUNT_PATH", "value": "/etc/config/"},
                                ],
                                "resources": {
                                    "requests": {"cpu": "10m", "memory": "32Mi"},
                                    "limits": {"memory": "128Mi"},
                                },
                                "securityContext": _LOCKED_DOWN,
                                "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/config/"}],
                            }
                        ],
                        "volumes": [{"name": "config-volume", "configMap": {"name": "local-path-config"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                **_meta(LOCAL_PATH_STORAGE_CLASS, None),
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": LOCAL_PATH_PROVISIONER,
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete",
            # The scheduler places a pod with an unbound claim only where a volume can be made: on a real node (a
            # simulated node has no folder, and its volume would never be provisioned).
            "allowedTopologies": [{"matchLabelExpressions": [{"key": NODE_TYPE_LABEL, "values": [REAL_NODE_TYPE]}]}],
        },
    ]


KUBE_ROUTER_USER = "system:kube-router"


def kube_router_access() -> list[Manifest]:
    """kube-router runs on each real node beside kube-proxy (it runs iptables and ipset of the node); it reads the
    cluster as this user, with its upstream ClusterRole's read rules."""
    return [
        _cluster_role(
            "kube-router",
            [
                _watch([""], ["namespaces", "pods", "services", "nodes", "endpoints"], ("get", "list", "watch")),
                _watch(["networking.k8s.io"], ["networkpolicies"], ("get", "list", "watch")),
                _watch(["discovery.k8s.io"], ["endpointslices"], ("get", "list", "watch")),
            ],
        ),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta("kube-router", None),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kube-router"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": KUBE_ROUTER_USER}],
        },
    ]


def all_addons(images: AddonImages, node_volumes: Mapping[str, str]) -> list[Manifest]:
    """`node_volumes`: each real node's name -> the folder its volumes are made in."""
    return [
        *coredns(images.coredns),
        *metrics_server(images.metrics_server),
        *local_path_provisioner(images.local_path_provisioner, images.volume_helper, node_volumes),
        *kube_router_access(),
    ]
