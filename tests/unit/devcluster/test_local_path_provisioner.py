"""The volume add-on: local-path-provisioner on the real nodes, a folder of each node's own, the default class."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabrikam.devcluster import addons
from fabrikam.devcluster.realnode_config import (
    NODE_PRIVATE_TREES,
    NODE_TYPE_LABEL,
    REAL_NODE_TAINT,
    REAL_NODE_TYPE,
    NodeFiles,
    NodeNetwork,
)

IMAGES = addons.AddonImages(
    coredns="r/coredns@sha256:1",
    metrics_server="r/metrics-server@sha256:2",
    local_path_provisioner="r/local-path-provisioner@sha256:3",
    volume_helper="r/python-base@sha256:4",
)


def _volumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("FABRIKAM_NODES_DIR", str(tmp_path))
    nodes = [NodeNetwork(3).node(k) for k in (1, 2, 3)]
    return {node.name: str(NodeFiles.of(node).volumes_dir) for node in nodes}


def _manifests(node_volumes: dict[str, str]) -> list[dict[str, Any]]:
    return addons.local_path_provisioner(IMAGES.local_path_provisioner, IMAGES.volume_helper, node_volumes)


def _one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [m for m in manifests if m["kind"] == kind]
    return found


def test_each_real_node_gets_a_folder_of_its_own_and_unlisted_nodes_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_volumes = _volumes(tmp_path, monkeypatch)
    config = json.loads(_one(_manifests(node_volumes), "ConfigMap")["data"]["config.json"])
    paths = {entry["node"]: entry["paths"] for entry in config["nodePathMap"]}
    assert paths == {
        "fabrikam-real1": [str(tmp_path / "fabrikam3-real1" / "volumes")],
        "fabrikam-real2": [str(tmp_path / "fabrikam3-real2" / "volumes")],
        "fabrikam-real3": [str(tmp_path / "fabrikam3-real3" / "volumes")],
    }
    assert "DEFAULT_PATH_FOR_NON_LISTED_NODES" not in paths
    assert "sharedFileSystemPath" not in config
    folders = [Path(p) for [p] in paths.values()]
    assert not any(a != b and (a.is_relative_to(b) or b.is_relative_to(a)) for a in folders for b in folders)


def test_the_volume_folders_are_on_disk_not_under_a_tree_the_node_replaces_with_a_tmpfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FABRIKAM_NODES_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", "/root/.local/state")
    folder = NodeFiles.of(NodeNetwork(0).node(1)).volumes_dir
    assert folder == Path("/root/.local/state/fabrikam/nodes/fabrikam0-real1/volumes")
    assert not any(folder.is_relative_to(tree) for tree in (*NODE_PRIVATE_TREES, "/tmp", "/dev/shm"))


def test_the_provisioner_runs_on_the_real_nodes_locked_down_as_upstream_configures_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = _manifests(_volumes(tmp_path, monkeypatch))
    pod = _one(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {NODE_TYPE_LABEL: REAL_NODE_TYPE}
    assert {"key": REAL_NODE_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["image"] == IMAGES.local_path_provisioner
    assert container["args"] == ["start", "--config", "/etc/config/config.json"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["serviceAccountName"] == "local-path-provisioner-service-account"
    namespaced = [m for m in manifests if m["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding")]
    assert {m["metadata"].get("namespace") for m in namespaced if m["kind"] != "StorageClass"} == {
        addons.LOCAL_PATH_NAMESPACE
    }
    for binding in (m for m in manifests if m["kind"].endswith("Binding")):
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": "local-path-provisioner-service-account",
                "namespace": addons.LOCAL_PATH_NAMESPACE,
            }
        ]


def test_the_helper_pods_run_the_debian_base_with_upstreams_scripts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _one(_manifests(_volumes(tmp_path, monkeypatch)), "ConfigMap")["data"]
    helper = yaml.safe_load(data["helperPod.yaml"])
    [container] = helper["spec"]["containers"]
    assert container["image"] == IMAGES.volume_helper
    assert "busybox" not in data["helperPod.yaml"]
    assert 'mkdir -m 0777 -p "$VOL_DIR"' in data["setup"]
    assert 'rm -rf "$VOL_DIR"' in data["teardown"]


def test_local_path_is_the_default_class_binding_on_first_use_on_real_nodes_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage_class = _one(_manifests(_volumes(tmp_path, monkeypatch)), "StorageClass")
    assert storage_class["metadata"]["name"] == "local-path"
    assert storage_class["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert storage_class["provisioner"] == "rancher.io/local-path"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage_class["reclaimPolicy"] == "Delete"
    assert storage_class["allowedTopologies"] == [
        {"matchLabelExpressions": [{"key": NODE_TYPE_LABEL, "values": [REAL_NODE_TYPE]}]}
    ]


def test_the_cluster_installs_the_provisioner_with_the_other_addons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = addons.all_addons(IMAGES, _volumes(tmp_path, monkeypatch))
    kinds = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    assert ("Deployment", "local-path-provisioner") in kinds
    assert ("Deployment", "coredns") in kinds
    # The namespace comes before what lives in it: one `kubectl apply` creates them in order.
    namespace_at = kinds.index(("Namespace", addons.LOCAL_PATH_NAMESPACE))
    assert all(
        namespace_at < i
        for i, m in enumerate(manifests)
        if m["metadata"].get("namespace") == addons.LOCAL_PATH_NAMESPACE
    )
