"""`fabrikam cluster down` of a cluster whose real nodes ran containers leaves nothing on the machine."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from fabrikam.devcluster import cluster as local_cluster
from fabrikam.devcluster import kubectl, realnodes
from fabrikam.devcluster.paths import state_dir

from .conftest import ON_REAL_NODES, SLEEP

FABRIKAM = str(Path(sys.executable).with_name("fabrikam"))
# Where containerd, runc, CNI and kubelet write by default; a node keeps these private (realnode_config.py).
FIXED_PLACES = (
    "/run/netns",
    "/run/containerd",
    "/var/lib/cni",
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
)


def _machine_places() -> dict[str, list[str]]:
    return {
        place: sorted(p.name for p in Path(place).iterdir()) if Path(place).is_dir() else [] for place in FIXED_PLACES
    }


def test_down_removes_every_process_interface_namespace_cgroup_mount_and_route(
    cluster: Any, real_nodes: list[str], tmp_path: Path, probe_image: str
) -> None:
    shared = local_cluster.ClusterState.load(state_dir())
    before = _machine_places()
    directory = tmp_path / "cluster"
    env = {**os.environ, "FABRIKAM_CLUSTER_DIR": str(directory), "FABRIKAM_REAL_NODES": "2"}
    env.pop("KUBECONFIG", None)
    up = subprocess.run([FABRIKAM, "cluster", "up"], capture_output=True, text=True, env=env, timeout=600)
    state = local_cluster.ClusterState.load(directory)
    try:
        assert up.returncode == 0, up.stderr
        assert state is not None
        assert state.network is not None
        assert len(state.nodes()) == 2
        if shared and shared.network:  # the shared test cluster's real nodes keep running beside these
            assert state.network.index != shared.network.index
        pod: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sleeper", "namespace": "default"},
            "spec": {**ON_REAL_NODES, "containers": [{"name": "sleeper", "image": probe_image, "command": SLEEP}]},
        }
        kubectl.run(state.kubeconfig, "apply", "-f", "-", input=yaml.safe_dump(pod))
        kubectl.run(state.kubeconfig, "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=180s")
        # The nodes' own network namespaces are the only new names: the pod's namespace, sandbox and logs stay inside
        # the node.
        during = _machine_places()
        assert during.pop("/run/netns") == sorted([*before["/run/netns"], *(n.netns for n in state.nodes())])
        assert during == {k: v for k, v in before.items() if k != "/run/netns"}
        made = realnodes.leftovers(state.network, state.nodes(), directory)
        assert any(item.startswith("network namespace") for item in made)
        assert any(item.startswith("cgroup") for item in made)
    finally:
        down = subprocess.run([FABRIKAM, "cluster", "down"], capture_output=True, text=True, env=env, timeout=180)
    assert down.returncode == 0, down.stderr
    assert "nothing left behind" in down.stderr
    assert realnodes.leftovers(state.network, state.nodes(), directory) == []
    assert not directory.exists()
    assert _machine_places() == before
    if shared and shared.network:
        assert realnodes.leftovers(shared.network, shared.nodes(), shared.directory) != []  # untouched
