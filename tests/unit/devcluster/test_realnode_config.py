"""The real nodes' addresses and configuration files, and the add-ons' objects, as pure data."""

import ipaddress
import json
import tomllib
from pathlib import Path

import pytest
import yaml

from fabrikam.devcluster import addons
from fabrikam.devcluster.realnode_config import (
    DNS_SERVICE_IP,
    KUBELET_KERNEL_TUNABLES,
    REAL_NODE_TAINT,
    SERVICE_CIDR,
    NodeFiles,
    NodeNetwork,
    cni_config,
    containerd_config,
    kube_proxy_config,
    kube_router_args,
    kubelet_config,
    registry_hosts,
)

IFNAMSIZ = 15


@pytest.mark.parametrize("index", [0, 7, 15])
def test_nodes_of_a_network_have_distinct_addresses_inside_their_ranges(index: int) -> None:
    network = NodeNetwork(index)
    nodes = [network.node(k) for k in (1, 2, 3)]
    subnet = ipaddress.ip_network(network.node_subnet)
    cluster = ipaddress.ip_network(network.cluster_cidr)
    assert ipaddress.ip_address(network.gateway) in subnet
    assert len({n.address for n in nodes} | {network.gateway}) == 4
    assert all(ipaddress.ip_address(n.address) in subnet for n in nodes)
    assert all(ipaddress.ip_network(n.pod_cidr).subnet_of(cluster) for n in nodes)  # type: ignore[arg-type]
    assert not cluster.overlaps(ipaddress.ip_network(SERVICE_CIDR))
    assert all(len(name) <= IFNAMSIZ for n in nodes for name in (n.host_veth, network.bridge))
    assert [n.zone for n in nodes] == ["1", "2", "3"]


def test_two_clusters_never_share_an_address_range_or_a_name() -> None:
    first, second = NodeNetwork(0).node(1), NodeNetwork(1).node(1)
    assert not ipaddress.ip_network(first.pod_cidr).overlaps(ipaddress.ip_network(second.pod_cidr))
    assert first.address != second.address
    assert len({first.netns, second.netns, first.cgroup_root, second.cgroup_root}) == 4
    with pytest.raises(ValueError, match="outside"):
        NodeNetwork(16)


def test_containerd_keeps_its_state_socket_and_runc_root_under_the_node_folder(tmp_path: Path) -> None:
    files = NodeFiles(tmp_path / "node")
    config = tomllib.loads(containerd_config(files, "127.0.0.1:5000/fabrikam/pause@sha256:" + "a" * 64))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert config["grpc"]["address"] == str(files.containerd_socket)
    assert all(str(config[key]).startswith(str(files.root)) for key in ("root", "state"))
    assert cri["sandbox_image"].endswith("a" * 64)
    assert cri["restrict_oom_score_adj"] is True
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["options"]["SystemdCgroup"] is False
    assert runc["options"]["Root"].startswith(str(files.root))
    assert cri["cni"]["conf_dir"] == str(files.cni_config_dir)
    assert cri["registry"]["config_path"] == str(files.registry_hosts_dir)


def test_nodes_pull_the_loopback_registry_from_the_bridge_address() -> None:
    hosts = tomllib.loads(registry_hosts("127.0.0.1:41234", NodeNetwork(3)))
    assert hosts["server"] == "http://127.0.0.1:41234"
    assert hosts["host"] == {"http://10.250.3.1:41234": {"capabilities": ["pull", "resolve"]}}


def test_pods_get_the_node_range_and_no_masquerade(tmp_path: Path) -> None:
    node = NodeNetwork(2).node(2)
    bridge = json.loads(cni_config(node, NodeFiles(tmp_path)))["plugins"][0]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.242.2.0/24"}]]
    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["dataDir"].startswith(str(tmp_path))


def test_kubelet_is_tainted_in_its_own_cgroup_and_uses_cluster_dns(tmp_path: Path) -> None:
    node = NodeNetwork(0).node(1)
    files = NodeFiles(tmp_path)
    config = yaml.safe_load(kubelet_config(node, files, tmp_path / "ca.crt", (tmp_path / "s.crt", tmp_path / "s.key")))
    assert config["cgroupRoot"] == "/fabrikam0-real1"
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["failCgroupV1"] is False
    assert config["registerWithTaints"] == [REAL_NODE_TAINT]
    assert config["clusterDNS"] == [DNS_SERVICE_IP]
    assert config["authorization"] == {"mode": "Webhook"}
    assert config["authentication"]["anonymous"] == {"enabled": False}
    assert config["address"] == node.address
    assert config["podLogsDir"].startswith(str(tmp_path))
    assert set(KUBELET_KERNEL_TUNABLES) >= {"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"}


def test_kube_proxy_runs_nftables_for_the_cluster_range_and_leaves_conntrack_limits_alone(tmp_path: Path) -> None:
    node = NodeNetwork(0).node(2)
    config = yaml.safe_load(kube_proxy_config(node, NodeFiles(tmp_path)))
    assert config["mode"] == "nftables"  # apart from kube-router's iptables filter table (see kube_proxy_config)
    assert config["clusterCIDR"] == "10.240.0.0/16"
    assert config["hostnameOverride"] == "fabrikam-real2"
    assert config["conntrack"]["maxPerCore"] == 0


def test_cluster_dns_is_the_kube_dns_service_and_resolves_cluster_names_only() -> None:
    objects = addons.coredns("r/coredns@sha256:1")
    service = next(o for o in objects if o["kind"] == "Service")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert service["metadata"]["name"] == "kube-dns"
    assert service["spec"]["clusterIP"] == DNS_SERVICE_IP
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"k8s-app": "kube-dns"}
    assert "forward" not in addons.COREFILE
    assert "kubernetes cluster.local" in addons.COREFILE
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    budget = next(o for o in objects if o["kind"] == "PodDisruptionBudget")  # a drain moves one server at a time
    assert budget["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {"k8s-app": "kube-dns"}}}


def test_every_addon_workload_runs_on_real_nodes_only() -> None:
    images = addons.AddonImages("r/a@sha256:1", "r/b@sha256:2", "r/c@sha256:3", "r/d@sha256:4")
    node_volumes = {"fabrikam-real1": "/nodes/fabrikam0-real1/volumes"}
    workloads = [o for o in addons.all_addons(images, node_volumes) if o["kind"] in ("Deployment", "DaemonSet")]
    assert {o["metadata"]["name"] for o in workloads} == {"coredns", "metrics-server", "local-path-provisioner"}
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"type": "real"}
        assert pod["tolerations"][0]["key"] == REAL_NODE_TAINT["key"]
        assert pod["containers"][0]["image"].startswith("r/")
    api_service = next(o for o in addons.all_addons(images, node_volumes) if o["kind"] == "APIService")
    assert api_service["spec"]["service"] == {"name": "metrics-server", "namespace": "kube-system"}


def test_kube_router_enforces_network_policies_only_and_reads_the_cluster_as_its_own_user(tmp_path: Path) -> None:
    node = NodeNetwork(0).node(1)
    args = kube_router_args(node, NodeFiles(tmp_path))
    assert {"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false"} <= set(args)
    assert f"--hostname-override={node.name}" in args
    binding = next(o for o in addons.kube_router_access() if o["kind"] == "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": addons.KUBE_ROUTER_USER}
    ]
    role = next(o for o in addons.kube_router_access() if o["kind"] == "ClusterRole")
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in role["rules"])
