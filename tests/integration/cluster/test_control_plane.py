"""The control plane is real: scheduling over zones, garbage collection, PodSecurity admission."""

import json
from collections import Counter
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.cluster

ZONE = "topology.kubernetes.io/zone"


def _restricted_container(name: str = "app") -> dict[str, Any]:
    return {
        "name": name,
        "image": "registry.k8s.io/pause:3.10",
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def test_four_ready_nodes_three_zones_and_a_tainted_spot_node(cluster: Any) -> None:
    if cluster.kind != "local":
        pytest.skip("the node layout is the local control plane's; other clusters have their own")
    nodes = cluster.core.list_node().items
    ready = [n for n in nodes if {c.type: c.status for c in n.status.conditions}.get("Ready") == "True"]
    assert len(ready) == 4
    assert sorted(n.metadata.labels[ZONE] for n in nodes if "spot" not in n.metadata.name) == ["1", "2", "3"]
    (spot,) = [n for n in nodes if n.metadata.labels.get("kubernetes.azure.com/scalesetpriority") == "spot"]
    assert [(t.key, t.value, t.effect) for t in spot.spec.taints] == [
        ("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")
    ]
    assert k8s.VersionApi(cluster.api_client).get_code().git_version.startswith("v1.34.")


def test_deployment_becomes_available_with_pods_spread_over_three_zones(
    cluster: Any, namespace: str, eventually: Any
) -> None:
    labels = {"app": "spread"}
    cluster.apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "spread"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "topologySpreadConstraints": [
                            {
                                "maxSkew": 1,
                                "topologyKey": ZONE,
                                "whenUnsatisfiable": "DoNotSchedule",
                                "labelSelector": {"matchLabels": labels},
                            }
                        ],
                        "containers": [_restricted_container()],
                    },
                },
            },
        },
    )

    def available() -> bool:
        status = cluster.apps.read_namespaced_deployment_status("spread", namespace).status
        return status.available_replicas == 3

    eventually(available, timeout=60, what="3 available replicas")
    pods = cluster.core.list_namespaced_pod(namespace, label_selector="app=spread").items
    node_zone = {n.metadata.name: n.metadata.labels.get(ZONE) for n in cluster.core.list_node().items}
    assert Counter(node_zone[p.spec.node_name] for p in pods) == Counter({"1": 1, "2": 1, "3": 1})
    assert all(p.status.phase == "Running" for p in pods)


def test_deleting_a_namespace_completes_and_collects_its_objects(cluster: Any, eventually: Any) -> None:
    name = "gc-check"
    cluster.core.create_namespace({"metadata": {"name": name}})
    cluster.core.create_namespaced_config_map(name, {"metadata": {"name": "cm"}, "data": {"k": "v"}})
    cluster.apps.create_namespaced_deployment(
        name,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [_restricted_container()]}},
            },
        },
    )
    eventually(lambda: len(cluster.core.list_namespaced_pod(name).items) == 2, what="2 pods")
    cluster.core.delete_namespace(name)

    def gone() -> bool:
        try:
            cluster.core.read_namespace(name)
        except ApiException as error:
            return error.status == 404
        return False

    eventually(gone, timeout=90, what="namespace deletion to finish")


def test_podsecurity_restricted_rejects_a_privileged_pod_and_admits_a_compliant_one(
    cluster: Any, namespace: str, eventually: Any
) -> None:
    cluster.core.patch_namespace(
        namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    privileged = {
        "metadata": {"name": "root-debug"},
        "spec": {
            "containers": [{"name": "shell", "image": "busybox", "securityContext": {"privileged": True}}],
        },
    }
    with pytest.raises(ApiException) as rejected:
        cluster.core.create_namespaced_pod(namespace, privileged)
    assert rejected.value.status == 403
    message = json.loads(rejected.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert 'privileged (container "shell" must not set securityContext.privileged=true)' in message

    cluster.core.create_namespaced_pod(
        namespace, {"metadata": {"name": "compliant"}, "spec": {"containers": [_restricted_container()]}}
    )
    eventually(
        lambda: cluster.core.read_namespaced_pod("compliant", namespace).status.phase == "Running",
        what="the compliant pod to run",
    )
