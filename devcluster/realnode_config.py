"""What a real node is made of, as data: its addresses and the configuration files of its components.

Pure builders, no I/O (`realnodes.py` does the I/O). A real node is a network namespace of the project's own, joined
to a bridge of the project's own, with its own containerd (+ runc), kubelet, kube-proxy (nftables mode) and
NetworkPolicy enforcer (kube-router's firewall) inside it — the way kind runs a node in a container, without Docker.

Addresses, for the cluster of network index N (0..15, one per cluster running side by side):
- the bridge `fbkN` on the host holds 10.250.N.1/24 (the control plane's address as the nodes see it);
- real node k (1, 2, ...) is 10.250.N.(10+k) and hands its pods 10.(240+N).k.0/24;
- Services are 10.96.0.0/16 (the API server's range), cluster DNS 10.96.0.10.
None of these overlaps what the machine routes (checked before use), and a node netns has no default route: pods
reach each other, the nodes and the control plane, and nothing else.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
MAX_NETWORKS = 16

# Real and simulated nodes are told apart by the `type` label (`kwok` or `real`); real nodes are also tainted, so
# a pod runs on one only when it asks to (toleration + nodeSelector `type: real`).
NODE_TYPE_LABEL = "type"
REAL_NODE_TYPE = "real"
REAL_NODE_TAINT = {"key": "fabrikam.io/real-node", "value": "true", "effect": "NoSchedule"}
REAL_NODE_ZONES = ("1", "2", "3")


@dataclass(frozen=True)
class NodeNetwork:
    """The addresses of one cluster's real nodes; `index` keeps clusters side by side apart."""

    index: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < MAX_NETWORKS:
            raise ValueError(f"network index {self.index} is outside 0..{MAX_NETWORKS - 1}")

    @property
    def bridge(self) -> str:
        return f"fbk{self.index}"

    @property
    def gateway(self) -> str:
        """The host's address on the bridge: nodes reach the API server and the image registry here."""
        return f"10.250.{self.index}.1"

    @property
    def node_subnet(self) -> str:
        return f"10.250.{self.index}.0/24"

    @property
    def cluster_cidr(self) -> str:
        return f"10.{240 + self.index}.0.0/16"

    def node(self, ordinal: int) -> "RealNode":
        return RealNode(self, ordinal)


@dataclass(frozen=True)
class RealNode:
    network: NodeNetwork
    ordinal: int

    @property
    def name(self) -> str:
        return f"fabrikam-real{self.ordinal}"

    @property
    def zone(self) -> str:
        return REAL_NODE_ZONES[(self.ordinal - 1) % len(REAL_NODE_ZONES)]

    @property
    def address(self) -> str:
        return f"10.250.{self.network.index}.{10 + self.ordinal}"

    @property
    def pod_cidr(self) -> str:
        return f"10.{240 + self.network.index}.{self.ordinal}.0/24"

    @property
    def netns(self) -> str:
        return f"fabrikam{self.network.index}-real{self.ordinal}"

    @property
    def host_veth(self) -> str:
        return f"fbk{self.network.index}r{self.ordinal}"

    @property
    def cgroup_root(self) -> str:
        """Each kubelet keeps its pods under a cgroup of its own, so kubelets on one machine never meet."""
        return f"/{self.netns}"

    @property
    def labels(self) -> dict[str, str]:
        return {
            NODE_TYPE_LABEL: REAL_NODE_TYPE,
            "topology.kubernetes.io/zone": self.zone,
            "topology.kubernetes.io/region": "local",
            "kubernetes.azure.com/agentpool": "real",
        }


def nodes_dir() -> Path:
    """Where real nodes keep their state, one folder per node named like its network namespace (unique among the
    clusters running on the machine). Not inside the cluster's folder: unix socket paths are limited to 107 bytes,
    and kubelet's and containerd's sockets under a test's temporary folder exceed that."""
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "fabrikam" / "nodes"
    return Path(os.environ.get("FABRIKAM_NODES_DIR", default))


@dataclass(frozen=True)
class NodeFiles:
    """Where one node's state and configuration live: all under one folder, removed with it."""

    root: Path

    @classmethod
    def of(cls, node: "RealNode") -> "NodeFiles":
        return cls(nodes_dir() / node.netns)

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd.sock"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.root / "kubelet.kubeconfig"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy.yaml"

    @property
    def kube_proxy_kubeconfig(self) -> Path:
        return self.root / "kube-proxy.kubeconfig"

    @property
    def kube_router_kubeconfig(self) -> Path:
        return self.root / "kube-router.kubeconfig"

    @property
    def cni_config_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def registry_hosts_dir(self) -> Path:
        return self.root / "certs.d"

    @property
    def resolv_conf(self) -> Path:
        return self.root / "resolv.conf"

    @property
    def sysctl_dir(self) -> Path:
        return self.root / "sysctl"

    @property
    def volumes_dir(self) -> Path:
        """The node's persistent volumes (local-path-provisioner): on disk, under the node's own folder, which its
        mount namespace sees as the machine does (only /run, /var/lib and /var/log are private tmpfs there)."""
        return self.root / "volumes"


def containerd_config(files: NodeFiles, pause_image: str) -> str:
    """containerd 1.6 (config version 2): state under the node's folder, its own socket, CNI from Debian's plugins.

    `restrict_oom_score_adj`: the machine lacks CAP_SYS_RESOURCE, so runc cannot lower oom_score_adj as kubelet asks
    for sandboxes (without it runc fails with "can't get final child's PID from pipe: EOF").
    """
    root = files.root
    cri = "io.containerd.grpc.v1.cri"
    return "\n".join(
        [
            "version = 2",
            f'root = "{root / "containerd" / "root"}"',
            f'state = "{root / "containerd" / "state"}"',
            "[grpc]",
            f'  address = "{files.containerd_socket}"',
            "[ttrpc]",
            f'  address = "{root / "containerd-ttrpc.sock"}"',
            '[plugins."io.containerd.internal.v1.opt"]',
            f'  path = "{root / "containerd" / "opt"}"',
            f'[plugins."{cri}"]',
            f'  sandbox_image = "{pause_image}"',
            "  restrict_oom_score_adj = true",
            '  stream_server_address = "127.0.0.1"',
            '  stream_server_port = "0"',
            "  enable_cdi = false",
            f'[plugins."{cri}".containerd]',
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            f'[plugins."{cri}".containerd.runtimes.runc]',
            '  runtime_type = "io.containerd.runc.v2"',
            f'[plugins."{cri}".containerd.runtimes.runc.options]',
            "  SystemdCgroup = false",
            f'  Root = "{root / "runc"}"',
            f'[plugins."{cri}".cni]',
            '  bin_dir = "/usr/lib/cni"',
            f'  conf_dir = "{files.cni_config_dir}"',
            f'[plugins."{cri}".registry]',
            f'  config_path = "{files.registry_hosts_dir}"',
            "",
        ]
    )


def registry_hosts(registry: str, network: NodeNetwork) -> str:
    """containerd's hosts.toml for the loopback registry: a node pulls `127.0.0.1:PORT/...` from the host's bridge
    address, where a forwarder of the cluster's own listens (a node's 127.0.0.1 is its own)."""
    port = registry.rsplit(":", 1)[1]
    mirror = f"http://{network.gateway}:{port}"
    return f'server = "http://{registry}"\n\n[host."{mirror}"]\n  capabilities = ["pull", "resolve"]\n'


def cni_config(node: RealNode, files: NodeFiles) -> str:
    """A bridge inside the node's namespace; no masquerade and no default route beyond the node (see module doc)."""
    document = {
        "cniVersion": "1.0.0",
        "name": "fabrikam",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(files.root / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(document, indent=2)


def kubelet_config(node: RealNode, files: NodeFiles, ca_file: Path, serving: tuple[Path, Path]) -> str:
    document: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # cgroups v1 here, and no systemd (docs/local-control-plane.md).
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "cgroupRoot": node.cgroup_root,
        "address": node.address,
        "healthzBindAddress": "127.0.0.1",
        "readOnlyPort": 0,
        "tlsCertFile": str(serving[0]),
        "tlsPrivateKeyFile": str(serving[1]),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [DNS_SERVICE_IP],
        "resolvConf": str(files.resolv_conf),
        "containerRuntimeEndpoint": f"unix://{files.containerd_socket}",
        "podLogsDir": str(files.root / "pod-logs"),
        "registerWithTaints": [REAL_NODE_TAINT],
        "serializeImagePulls": False,
        "maxPods": 110,
        # The disk is shared with the rest of the machine: evict only when it is really full.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
        "imageGCHighThresholdPercent": 98,
        "imageGCLowThresholdPercent": 97,
        # Two cores host the whole cluster: housekeeping less often than the default.
        "nodeStatusReportFrequency": "1m",
        "syncFrequency": "30s",
        "evictionPressureTransitionPeriod": "30s",
        "shutdownGracePeriod": "0s",
    }
    return yaml.safe_dump(document, sort_keys=False)


def kube_proxy_config(node: RealNode, files: NodeFiles) -> str:
    """nftables mode, in a table of kube-proxy's own. In iptables mode, kube-router's firewall (which saves the whole
    iptables filter table, edits its own chains and restores the table) put back kube-proxy's stale "no endpoints"
    REJECT rules: fresh pods got "No route to host" from a Service with a Ready endpoint for up to kube-proxy's next
    full sync (2 of 4 runs of the operator-in-a-pod test); none in 9 runs in nftables mode."""
    document = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "nftables",
        "clientConnection": {"kubeconfig": str(files.kube_proxy_kubeconfig)},
        "hostnameOverride": node.name,
        "clusterCIDR": node.network.cluster_cidr,
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        "nodePortAddresses": [f"{node.address}/32"],
        # The conntrack table size is a machine-wide setting: leave it alone (0 = do not change).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "nftables": {"syncPeriod": "30s", "minSyncPeriod": "1s"},
    }
    return yaml.safe_dump(document, sort_keys=False)


# containerd, its shims, runc, the CNI plugins and kubelet write to fixed places too (/run/containerd, /run/netns for
# pod network namespaces, /var/lib/cni, /var/lib/kubelet/device-plugins, /var/log/containers). In the node's own mount
# namespace each of these trees is a fresh tmpfs: nothing reaches the machine's, and all of it vanishes with the node.
NODE_PRIVATE_TREES = ("/run", "/var/lib", "/var/log")

# kubelet sets these machine-wide sysctls to its preferred values at start (or refuses to start with
# protectKernelDefaults). A node of ours must not change the machine's kernel settings, so inside the node's own
# mount namespace each is shadowed by a file holding the value kubelet expects.
KUBELET_KERNEL_TUNABLES = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}


def node_sysctls() -> dict[str, str]:
    """Per-network-namespace settings of a node: it routes its pods' traffic and bridged traffic meets iptables."""
    return {
        "net/ipv4/ip_forward": "1",
        "net/bridge/bridge-nf-call-iptables": "1",
        "net/ipv4/conf/all/rp_filter": "0",
    }


def kube_router_args(node: RealNode, files: NodeFiles) -> list[str]:
    """Only the NetworkPolicy firewall: routing is the bridge's and static routes', Services are kube-proxy's."""
    return [
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--enable-cni=false",
        "--enable-ipv6=false",
        f"--hostname-override={node.name}",
        f"--kubeconfig={files.kube_router_kubeconfig}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--health-port=20244",
        "--metrics-port=0",
        "--iptables-sync-period=5m",
        "--v=1",
    ]
