"""Persistent volumes on the real nodes: local-path-provisioner makes a claim's folder in its node's own folder, a
pod's files outlive the pod, and the folder goes with the claim."""

import ipaddress
import uuid
from pathlib import Path
from typing import Any

from fabrikam.devcluster.realnode_config import NodeFiles, NodeNetwork, RealNode

from .conftest import ON_REAL_NODES, SLEEP, apply, wait_for

RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _claim(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": namespace},
        "spec": {
            "storageClassName": "local-path",
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "64Mi"}},
        },
    }


def _pod(namespace: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "holder", "namespace": namespace},
        "spec": {
            **ON_REAL_NODES,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "holder",
                    "image": image,
                    "command": SLEEP,
                    "securityContext": RESTRICTED,
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }


def _running(cluster: Any, namespace: str) -> Any:
    pod = cluster.core.read_namespaced_pod("holder", namespace)
    ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    return pod if ready and not pod.metadata.deletion_timestamp else None


def _real_node(cluster: Any, name: str) -> RealNode:
    """The real node behind a Node: node k of network N has the address 10.250.N.(10+k)."""
    node = cluster.core.read_node(name)
    address = next(a.address for a in node.status.addresses if a.type == "InternalIP")
    _, _, index, last = ipaddress.ip_address(address).packed
    real = NodeNetwork(index).node(last - 10)
    assert real.name == name
    return real


def _exec(cluster: Any, namespace: str, *command: str) -> str:
    return str(cluster.kubectl("-n", namespace, "exec", "holder", "--", *command).stdout)


def test_a_claim_is_made_in_its_nodes_own_folder_and_outlives_its_pod(
    cluster: Any, namespace: str, real_nodes: list[str], probe_image: str
) -> None:
    token = uuid.uuid4().hex
    apply(cluster, _claim(namespace), _pod(namespace, probe_image))
    pod = wait_for(lambda: _running(cluster, namespace), "the pod with the claim Running", timeout=180)
    node = pod.spec.node_name
    assert node in real_nodes
    _exec(cluster, namespace, "sh", "-c", f"echo {token} > /data/proof")

    claim = cluster.core.read_namespaced_persistent_volume_claim("data", namespace)
    assert claim.status.phase == "Bound"
    volume = cluster.core.read_persistent_volume(claim.spec.volume_name)
    assert volume.spec.storage_class_name == "local-path"
    [term] = volume.spec.node_affinity.required.node_selector_terms
    assert term.match_expressions[0].values == [node]
    folder = Path(volume.spec.host_path.path)
    own = NodeFiles.of(_real_node(cluster, node)).volumes_dir
    assert folder.parent == own
    for other in set(real_nodes) - {node}:
        assert not folder.is_relative_to(NodeFiles.of(_real_node(cluster, other)).root)
    # On the machine's disk, where the node's kubelet mounted it from (this test runs on the same machine).
    assert (folder / "proof").read_text().strip() == token

    cluster.core.delete_namespaced_pod("holder", namespace, grace_period_seconds=0)
    wait_for(lambda: not cluster.core.list_namespaced_pod(namespace).items, "the pod gone", timeout=60)
    apply(cluster, _pod(namespace, probe_image))
    again = wait_for(lambda: _running(cluster, namespace), "the new pod Running", timeout=120)
    assert again.metadata.uid != pod.metadata.uid
    assert again.spec.node_name == node  # the volume's node affinity brings it back
    assert _exec(cluster, namespace, "cat", "/data/proof").strip() == token

    cluster.core.delete_namespaced_pod("holder", namespace, grace_period_seconds=0)
    cluster.core.delete_namespaced_persistent_volume_claim("data", namespace)
    # reclaimPolicy Delete: the volume and, through a helper pod on the node, its folder are removed.
    wait_for(lambda: not folder.exists(), f"{folder} removed", timeout=120)
    names = [v.metadata.name for v in cluster.core.list_persistent_volume().items]
    wait_for(
        lambda: volume.metadata.name not in [v.metadata.name for v in cluster.core.list_persistent_volume().items],
        f"the volume deleted (volumes: {names})",
        timeout=60,
    )
