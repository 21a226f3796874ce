"""Real nodes on this machine: network namespaces, a bridge, containerd, kubelet and kube-proxy (the I/O side).

What each node is made of is described in `realnode_config.py`. Everything created here is the project's own and is
removed by `remove`: the bridge and its routes, each node's network namespace (its veth pair goes with it), the
processes, the cgroups kubelet made and the node folders. The machine's own routes and iptables policies are never
touched; a node's iptables live in the node's namespace and vanish with it.
"""

import contextlib
import ipaddress
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from fabrikam.devcluster import kubeconfig, pki, processes, toolchain
from fabrikam.devcluster.addons import KUBE_ROUTER_USER
from fabrikam.devcluster.processes import ManagedProcess
from fabrikam.devcluster.realnode_config import (
    KUBELET_KERNEL_TUNABLES,
    NODE_PRIVATE_TREES,
    SERVICE_CIDR,
    NodeFiles,
    NodeNetwork,
    RealNode,
    cni_config,
    containerd_config,
    kube_proxy_config,
    kube_router_args,
    kubelet_config,
    node_sysctls,
    registry_hosts,
)

Progress = Callable[[str], None]
_NETNS_DIR = Path("/run/netns")
_CGROUP_ROOT = Path("/sys/fs/cgroup")


class RealNodeError(RuntimeError):
    """A real node could not be set up; the message says which step."""


def _ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RealNodeError(f"`{' '.join(command)}` failed: {result.stderr.strip()}")


def _routed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    output = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    networks = []
    for line in output.splitlines():
        destination = line.split()[0] if line.split() else ""
        if destination in ("default", "broadcast", "local") or not destination[0].isdigit():
            continue
        with contextlib.suppress(ValueError):
            networks.append(ipaddress.ip_network(destination, strict=False))
    return networks


def choose_network() -> NodeNetwork:
    """The first network index whose bridge does not exist and whose addresses the machine does not route yet."""
    routed = [n for n in _routed_networks() if n.prefixlen > 0]
    for index in range(16):
        network = NodeNetwork(index)
        if Path(f"/sys/class/net/{network.bridge}").exists():
            continue
        ours = [ipaddress.ip_network(network.node_subnet), ipaddress.ip_network(network.cluster_cidr)]
        ours.append(ipaddress.ip_network(SERVICE_CIDR))
        if any(mine.overlaps(other) for mine in ours for other in routed):
            continue
        return network
    raise RealNodeError("no free network for real nodes: 16 clusters with real nodes already run on this machine")


def create_bridge(network: NodeNetwork) -> None:
    _ip("link", "add", network.bridge, "type", "bridge")
    _ip("addr", "add", f"{network.gateway}/24", "dev", network.bridge)
    _ip("link", "set", network.bridge, "up")


def create_node_network(node: RealNode, peers: Iterable[RealNode]) -> None:
    """The node's namespace, a veth to the bridge, routes to the other nodes' pods; no default route."""
    network = node.network
    _ip("netns", "add", node.netns)
    _ip("link", "add", node.host_veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
    _ip("link", "set", node.host_veth, "master", network.bridge, "up")
    _ip("addr", "add", f"{node.address}/24", "dev", "eth0", netns=node.netns)
    _ip("link", "set", "lo", "up", netns=node.netns)
    _ip("link", "set", "eth0", "up", netns=node.netns)
    # Service addresses are translated by kube-proxy, but the kernel needs a route to pick an interface first.
    _ip("route", "add", SERVICE_CIDR, "dev", "eth0", "src", node.address, netns=node.netns)
    for peer in peers:
        if peer != node:
            _ip("route", "add", peer.pod_cidr, "via", peer.address, netns=node.netns)
    # The host (API server -> aggregated APIs such as metrics-server) reaches the node's pods through the node.
    _ip("route", "add", node.pod_cidr, "via", node.address, "dev", network.bridge)
    for key, value in node_sysctls().items():
        _in_netns(node, ["sh", "-c", f"echo {value} > /proc/sys/{key}"])


def _in_netns(node: RealNode, command: list[str]) -> None:
    result = subprocess.run(["nsenter", f"--net={_NETNS_DIR / node.netns}", *command], capture_output=True, text=True)
    if result.returncode != 0:
        raise RealNodeError(f"{' '.join(command)} in {node.netns} failed: {result.stderr.strip()}")


def write_node_files(
    node: RealNode, files: NodeFiles, issuer: pki.Issuer, server: str, pause_image: str, registry: str
) -> None:
    if files.root.exists():  # left by a cluster that was not taken down; nothing of it runs (its bridge is gone)
        shutil.rmtree(files.root)
    files.root.mkdir(parents=True)
    files.volumes_dir.mkdir()
    files.cni_config_dir.mkdir(parents=True, exist_ok=True)
    (files.cni_config_dir / "10-fabrikam.conflist").write_text(cni_config(node, files))
    hosts = files.registry_hosts_dir / registry
    hosts.mkdir(parents=True, exist_ok=True)
    (hosts / "hosts.toml").write_text(registry_hosts(registry, node.network))
    files.containerd_config.write_text(containerd_config(files, pause_image))
    files.resolv_conf.write_text("# A local cluster's pods resolve cluster names only (no upstream resolver).\n")
    serving = issuer.serving(f"kubelet-{node.name}", node.name, [node.name], [node.address])
    client = issuer.client(f"kubelet-client-{node.name}", f"system:node:{node.name}", "system:nodes")
    ca = issuer.directory / "ca.crt"
    kubeconfig.write(files.kubelet_kubeconfig, server, ca, client, f"system:node:{node.name}")
    files.kubelet_config.write_text(kubelet_config(node, files, ca, (serving.cert, serving.key)))
    proxy = issuer.client(f"kube-proxy-{node.name}", "system:kube-proxy")
    kubeconfig.write(files.kube_proxy_kubeconfig, server, ca, proxy, "system:kube-proxy")
    files.kube_proxy_config.write_text(kube_proxy_config(node, files))
    router = issuer.client(f"kube-router-{node.name}", KUBE_ROUTER_USER)
    kubeconfig.write(files.kube_router_kubeconfig, server, ca, router, KUBE_ROUTER_USER)
    files.sysctl_dir.mkdir(exist_ok=True)
    for key, value in KUBELET_KERNEL_TUNABLES.items():
        (files.sysctl_dir / key.replace("/", ".")).write_text(f"{value}\n")


def create_cgroups(node: RealNode) -> None:
    """kubelet wants its cgroup root to exist in every hierarchy; cpuset needs its CPUs and memory nodes set."""
    for hierarchy in _CGROUP_ROOT.iterdir():
        if not (hierarchy / "cgroup.procs").exists():
            continue
        directory = hierarchy / node.cgroup_root.lstrip("/")
        directory.mkdir(exist_ok=True)
        for setting in ("cpuset.cpus", "cpuset.mems"):
            if (directory / setting).exists() and not (directory / setting).read_text().strip():
                (directory / setting).write_text((hierarchy / setting).read_text())


def _node_mounts_script(files: NodeFiles, then: list[str]) -> str:
    """Run inside the node's new mount namespace: private /run, /var/lib and /var/log, kubelet's sysctls shadowed."""
    trees = [
        shlex.join(["mount", "-t", "tmpfs", "-o", "mode=0755", "fabrikam-node", tree]) for tree in NODE_PRIVATE_TREES
    ]
    tunables = [
        shlex.join(["mount", "--bind", str(files.sysctl_dir / key.replace("/", ".")), f"/proc/sys/{key}"])
        for key in KUBELET_KERNEL_TUNABLES
    ]
    return " && ".join([*trees, *tunables, "exec " + shlex.join(then)])


def start_node(
    node: RealNode, files: NodeFiles, binaries: toolchain.Binaries, log_dir: Path, go_env: dict[str, str]
) -> list[ManagedProcess]:
    """containerd in a new mount namespace of the node's own (kubelet joins it: the volumes kubelet mounts must be
    seen by runc, and the machine's mounts stay untouched), then kubelet and kube-proxy in the node's network."""
    netns = f"--net={_NETNS_DIR / node.netns}"
    create_cgroups(node)
    containerd = processes.start(
        f"{node.name}-containerd",
        [
            "nsenter",
            netns,
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            _node_mounts_script(files, ["/usr/bin/containerd", "--config", str(files.containerd_config)]),
        ],
        log_dir,
        binary="/usr/bin/containerd",
    )
    _wait_for(lambda: files.containerd_socket.exists(), f"{node.name}: containerd socket", containerd)
    kubelet = processes.start(
        f"{node.name}-kubelet",
        [
            "nsenter",
            netns,
            f"--mount=/proc/{containerd.pid}/ns/mnt",
            str(binaries.kubelet),
            f"--config={files.kubelet_config}",
            f"--kubeconfig={files.kubelet_kubeconfig}",
            f"--root-dir={files.root / 'kubelet'}",
            f"--cert-dir={files.root / 'kubelet-pki'}",
            f"--hostname-override={node.name}",
            f"--node-ip={node.address}",
            "--node-labels=" + ",".join(f"{k}={v}" for k, v in node.labels.items()),
            "--v=1",
        ],
        log_dir,
        env=go_env,
        binary=str(binaries.kubelet),
    )
    kube_proxy = processes.start(
        f"{node.name}-kube-proxy",
        ["nsenter", netns, str(binaries.kube_proxy), f"--config={files.kube_proxy_config}", "--v=1"],
        log_dir,
        env=go_env,
        binary=str(binaries.kube_proxy),
    )
    return [containerd, kubelet, kube_proxy]


def start_firewall(
    node: RealNode, binaries: toolchain.Binaries, log_dir: Path, go_env: dict[str, str]
) -> ManagedProcess:
    """kube-router's NetworkPolicy firewall, once the node is registered (it exits when it cannot find its Node)."""
    return processes.start(
        f"{node.name}-kube-router",
        [
            "nsenter",
            f"--net={_NETNS_DIR / node.netns}",
            str(binaries.kube_router),
            *kube_router_args(node, NodeFiles.of(node)),
        ],
        log_dir,
        env=go_env,
        binary=str(binaries.kube_router),
    )


def firewall_ready(node: RealNode) -> bool:
    """kube-router has programmed the node: its forward chain exists in the node's iptables."""
    command = ["nsenter", f"--net={_NETNS_DIR / node.netns}", "iptables", "-w", "5", "-S", "KUBE-ROUTER-FORWARD"]
    return subprocess.run(command, capture_output=True).returncode == 0


def start_forwarder(name: str, network: NodeNetwork, port: int, log_dir: Path) -> ManagedProcess:
    """Makes a loopback port of the host (API server, image registry) reachable from the nodes at the bridge address."""
    return processes.start(
        name,
        [
            "/usr/bin/socat",
            f"TCP-LISTEN:{port},bind={network.gateway},fork,reuseaddr",
            f"TCP:127.0.0.1:{port}",
        ],
        log_dir,
    )


def _wait_for(check: Callable[[], bool], what: str, process: ManagedProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        # The first moments it still runs as nsenter/unshare, which `alive()` does not count as the binary.
        if not process.alive() and time.monotonic() > deadline - timeout + 2:
            raise RealNodeError(f"{what}: {process.name} exited; log {process.log}")
        time.sleep(0.1)
    raise RealNodeError(f"timed out after {timeout:.0f}s waiting for {what}; log {process.log}")


def _cgroup_dirs(cgroup_root: str) -> list[Path]:
    """Every cgroup under a node's root, deepest first, in every mounted hierarchy."""
    found: list[Path] = []
    for hierarchy in _CGROUP_ROOT.iterdir():
        top = hierarchy / cgroup_root.lstrip("/")
        if top.is_dir():
            found += sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
            found.append(top)
    return found


def _kill_cgroup_tasks(cgroup_root: str) -> None:
    """Containers outlive containerd and their shims; what is left in the node's cgroups is killed."""
    for _ in range(50):
        pids = set()
        for directory in _cgroup_dirs(cgroup_root):
            with contextlib.suppress(OSError):
                pids |= {int(p) for p in (directory / "cgroup.procs").read_text().split()}
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def remove(network: NodeNetwork, nodes: Iterable[RealNode]) -> None:
    """Undoes everything `create_*`/`start_*` made, in reverse; safe to call on a half-made or already gone node."""
    for node in nodes:
        _kill_cgroup_tasks(node.cgroup_root)
        node_dir = NodeFiles.of(node).root
        for pid in processes.processes_using(node_dir):  # containerd shims name the node's socket
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for directory in _cgroup_dirs(node.cgroup_root):
            for _ in range(20):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
        if (_NETNS_DIR / node.netns).exists():
            subprocess.run(["ip", "netns", "delete", node.netns], capture_output=True)
        if not processes.processes_using(node_dir):  # its mount namespace, and every mount in it, is gone too
            shutil.rmtree(node_dir, ignore_errors=True)
    if Path(f"/sys/class/net/{network.bridge}").exists():
        subprocess.run(["ip", "link", "delete", network.bridge], capture_output=True)


def leftovers(network: NodeNetwork, nodes: Iterable[RealNode], cluster_dir: Path) -> list[str]:
    """What of a cluster's real nodes still exists on the machine: the check that `down` left nothing behind."""
    nodes = list(nodes)
    found = [f"process {pid}" for pid in processes.processes_using(cluster_dir)]
    interfaces = [network.bridge, *(node.host_veth for node in nodes)]
    found += [f"interface {name}" for name in interfaces if Path(f"/sys/class/net/{name}").exists()]
    for node in nodes:
        node_dir = NodeFiles.of(node).root
        found += [f"process {pid}" for pid in processes.processes_using(node_dir)]
        if node_dir.exists():
            found.append(f"folder {node_dir}")
        if (_NETNS_DIR / node.netns).exists():
            found.append(f"network namespace {node.netns}")
        found += [f"cgroup {p}" for p in _cgroup_dirs(node.cgroup_root)]
    mounts = Path("/proc/self/mountinfo").read_text()
    markers = [str(cluster_dir), *(str(NodeFiles.of(node).root) for node in nodes)]
    found += [f"mount {line.split()[4]}" for line in mounts.splitlines() if any(m in line for m in markers)]
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    found += [f"route {line}" for line in routes.splitlines() if f"dev {network.bridge}" in line]
    return found
