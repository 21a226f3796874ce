"""`fabrikam cluster up|down|status`: etcd → kube-apiserver → controller-manager, scheduler, kwok → nodes."""

import json
import os
import shutil
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from fabrikam.devcluster import (
    addons,
    images_for_nodes,
    kubeconfig,
    kubectl,
    nodes,
    pki,
    processes,
    realnodes,
    toolchain,
    versions,
)
from fabrikam.devcluster.paths import state_dir
from fabrikam.devcluster.processes import ManagedProcess
from fabrikam.devcluster.realnode_config import NodeFiles, NodeNetwork, RealNode

Progress = Callable[[str], None]
_STATE_FILE = "state.json"
_READY_TIMEOUT = 90.0

# The Go components collect garbage when the heap has grown 5x instead of 2x (GOGC=100): on a 2-core machine that
# hosts the whole control plane, the API server spent about a fifth of its CPU in the collector at 1000 services.
# Memory is the plentiful resource here; an explicit GOGC in the caller's environment wins.
GO_RUNTIME = {"GOGC": os.environ.get("GOGC", "400")}


class ClusterError(RuntimeError):
    """The cluster did not come up; the message names the component and the run folder with its logs."""


def default_real_nodes() -> int:
    """How many real nodes `up` starts beside the simulated ones (FABRIKAM_REAL_NODES, 2 by default; 0 = none)."""
    return int(os.environ.get("FABRIKAM_REAL_NODES", "2"))


@dataclass(frozen=True)
class ClusterState:
    directory: Path
    server: str
    kubeconfig: Path
    processes: tuple[ManagedProcess, ...]
    network_index: int | None = None
    real_nodes: int = 0

    @property
    def network(self) -> NodeNetwork | None:
        return NodeNetwork(self.network_index) if self.network_index is not None else None

    def nodes(self) -> list[RealNode]:
        network = self.network
        return [network.node(k) for k in range(1, self.real_nodes + 1)] if network else []

    def with_processes(self, started: list[ManagedProcess]) -> "ClusterState":
        return ClusterState(
            self.directory, self.server, self.kubeconfig, tuple(started), self.network_index, self.real_nodes
        )

    def save(self) -> None:
        document = {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "versions": {"kubernetes": versions.KUBERNETES, "etcd": versions.ETCD, "kwok": versions.KWOK},
            "processes": [p.to_json() for p in self.processes],
            "network_index": self.network_index,
            "real_nodes": self.real_nodes,
        }
        (self.directory / _STATE_FILE).write_text(json.dumps(document, indent=2))

    @classmethod
    def load(cls, directory: Path) -> "ClusterState | None":
        try:
            document = json.loads((directory / _STATE_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return cls(
            directory=directory,
            server=document["server"],
            kubeconfig=Path(document["kubeconfig"]),
            processes=tuple(ManagedProcess.from_json(p) for p in document["processes"]),
            network_index=document.get("network_index"),
            real_nodes=document.get("real_nodes", 0),
        )


def kubeconfig_path(directory: Path | None = None) -> Path:
    return (directory or state_dir()) / "kubeconfig"


def up(progress: Progress = print, real_nodes: int | None = None) -> ClusterState:
    """Starts the cluster unless it already runs healthy; returns once the API serves and every node is Ready.

    `real_nodes` (default `default_real_nodes()`): nodes that run containers, beside the 4 simulated ones."""
    count = default_real_nodes() if real_nodes is None else real_nodes
    directory = state_dir()
    existing = ClusterState.load(directory)
    if existing and all(p.alive() for p in existing.processes) and _apiserver_ready(existing):
        if existing.real_nodes == count:
            progress(f"cluster already running at {existing.server}")
            return existing
        progress(f"the running cluster has {existing.real_nodes} real nodes, {count} wanted: restarting it")
    if existing or directory.exists():
        progress("cleaning up a previous, incomplete cluster")
        down(progress)
    binaries = toolchain.ensure_binaries(progress)
    started = time.monotonic()
    directory.mkdir(parents=True)
    network = realnodes.choose_network() if count else None
    skeleton = ClusterState(directory, "", kubeconfig_path(directory), (), network.index if network else None, count)
    started_processes: list[ManagedProcess] = []
    try:
        state = _start(skeleton, binaries, started_processes, progress)
    except Exception as error:
        skeleton.with_processes(started_processes).save()  # so `down` can stop what did start
        raise ClusterError(f"{error}\nlogs: {directory / 'logs'}\n{_log_tails(directory / 'logs')}") from error
    progress(f"cluster ready in {time.monotonic() - started:.1f}s: {state.server}")
    return state


def _start(
    skeleton: ClusterState, binaries: toolchain.Binaries, started: list[ManagedProcess], progress: Progress
) -> ClusterState:
    directory, network = skeleton.directory, skeleton.network
    certs = pki.generate(directory / "pki", extra_ips=(network.gateway,) if network else ())
    logs = directory / "logs"
    etcd_port, peer_port, api_port = processes.free_port(), processes.free_port(), processes.free_port()
    server = f"https://127.0.0.1:{api_port}"

    progress("starting etcd")
    started.append(
        processes.start("etcd", _etcd_command(binaries, directory, etcd_port, peer_port), logs, env=GO_RUNTIME)
    )
    _wait(
        lambda: httpx.get(f"http://127.0.0.1:{etcd_port}/health", timeout=2).json()["health"] == "true",
        "etcd",
    )

    admin = kubeconfig.write(kubeconfig_path(directory), server, certs.ca.cert, certs.admin, "fabrikam-admin")
    component_configs = {
        "kube-controller-manager": kubeconfig.write(
            directory / "kube-controller-manager.kubeconfig",
            server,
            certs.ca.cert,
            certs.controller_manager,
            "system:kube-controller-manager",
        ),
        "kube-scheduler": kubeconfig.write(
            directory / "kube-scheduler.kubeconfig",
            server,
            certs.ca.cert,
            certs.scheduler,
            "system:kube-scheduler",
        ),
    }

    progress("starting kube-apiserver")
    started.append(
        processes.start(
            "kube-apiserver",
            [*_apiserver_command(binaries, certs, etcd_port, api_port, network), *_audit_flags(directory)],
            logs,
            env=GO_RUNTIME,
        )
    )
    partial = ClusterState(directory, server, admin, tuple(started))
    _wait(lambda: _apiserver_ready(partial), "kube-apiserver /readyz")

    progress("starting kube-controller-manager, kube-scheduler and kwok")
    kcm_port, scheduler_port = processes.free_port(), processes.free_port()
    kcm_config = component_configs["kube-controller-manager"]
    started.append(
        processes.start(
            "kube-controller-manager",
            [
                str(binaries.kube_controller_manager),
                f"--kubeconfig={kcm_config}",
                f"--authentication-kubeconfig={kcm_config}",
                f"--authorization-kubeconfig={kcm_config}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--root-ca-file={certs.ca.cert}",
                f"--service-account-private-key-file={certs.service_account_key}",
                "--use-service-account-credentials=true",
                "--cluster-name=fabrikam-local",
                "--concurrent-deployment-syncs=20",
                "--concurrent-replicaset-syncs=20",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
            ],
            logs,
            env=GO_RUNTIME,
        )
    )
    scheduler_config = component_configs["kube-scheduler"]
    started.append(
        processes.start(
            "kube-scheduler",
            [
                str(binaries.kube_scheduler),
                f"--kubeconfig={scheduler_config}",
                f"--authentication-kubeconfig={scheduler_config}",
                f"--authorization-kubeconfig={scheduler_config}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={scheduler_port}",
            ],
            logs,
            env=GO_RUNTIME,
        )
    )
    started.append(
        processes.start(
            "kwok",
            [
                str(binaries.kwok),
                f"--kubeconfig={admin}",
                # Only the simulated nodes: a kwok managing every node fakes the real nodes' pods too.
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--cidr=10.0.0.1/16",
                "--node-lease-duration-seconds=40",
            ],
            logs,
            env=GO_RUNTIME,
        )
    )
    state = ClusterState(directory, server, admin, tuple(started), skeleton.network_index, skeleton.real_nodes)
    state.save()
    for component, port in (("kube-controller-manager", kcm_port), ("kube-scheduler", scheduler_port)):
        _wait(lambda port=port: _component_healthy(port), f"{component} /healthz")  # type: ignore[misc]

    progress("registering 4 kwok nodes (zones 1, 2, 3 and one spot node)")
    api = _core_api(admin)
    for node in nodes.desired_nodes():
        try:
            api.create_node(node)
        except ApiException as error:
            if error.status != 409:
                raise
    _wait(lambda: _ready_node_count(api) >= len(nodes.desired_nodes()), "4 Ready nodes")
    _wait(
        lambda: _default_service_account_exists(api),
        "the default ServiceAccount (controller-manager at work)",
    )
    if network:
        node_images = images_for_nodes.build(binaries, progress)
        # The add-ons first: kube-router's access exists before it starts, the pods wait for the nodes.
        node_volumes = {node.name: str(NodeFiles.of(node).volumes_dir) for node in state.nodes()}
        manifests = addons.all_addons(node_images.addons, node_volumes)
        _kubectl(state, "apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(manifests))
        _start_real_nodes(state, network, api_port, node_images, binaries, started, progress)
        state = state.with_processes(started)
        state.save()
        total = len(nodes.desired_nodes()) + state.real_nodes
        _wait(lambda: _ready_node_count(api) == total, f"{total} Ready nodes")
        progress(
            f"{state.real_nodes} real nodes Ready; starting kube-router's firewall, waiting for CoreDNS, metrics-server"
            " and local-path-provisioner"
        )
        state = _start_firewalls(state, binaries, started)
        for namespace, deployment in (
            ("kube-system", "coredns"),
            ("kube-system", "metrics-server"),
            (addons.LOCAL_PATH_NAMESPACE, "local-path-provisioner"),
        ):
            _kubectl(state, "-n", namespace, "rollout", "status", f"deployment/{deployment}", "--timeout=120s")
    return state


def _start_firewalls(state: ClusterState, binaries: toolchain.Binaries, started: list[ManagedProcess]) -> ClusterState:
    """kube-router needs its Node to exist, so it starts once the nodes are Ready; `up` waits until it enforces."""
    for real in state.nodes():
        started.append(realnodes.start_firewall(real, binaries, state.directory / "logs", GO_RUNTIME))
        state.with_processes(started).save()
    for real, firewall in zip(state.nodes(), started[-state.real_nodes :], strict=True):

        def enforcing(real: RealNode = real, firewall: ManagedProcess = firewall) -> bool:
            if not firewall.alive():
                raise ClusterError(f"{firewall.name} exited; log {firewall.log}")
            return realnodes.firewall_ready(real)

        _wait(enforcing, f"{real.name}: kube-router's firewall")
    return state.with_processes(started)


def _kubectl(state: ClusterState, *args: str, input: str | None = None) -> None:
    result = kubectl.run(state.kubeconfig, *args, input=input, check=False)
    if result.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")


def _start_real_nodes(
    state: ClusterState,
    network: NodeNetwork,
    api_port: int,
    node_images: images_for_nodes.NodeImages,
    binaries: toolchain.Binaries,
    started: list[ManagedProcess],
    progress: Progress,
) -> None:
    """The bridge and forwarders first, then each node (saved as it starts, so `down` finds what a failure left)."""
    logs = state.directory / "logs"
    progress(f"creating {state.real_nodes} real nodes on bridge {network.bridge} ({network.node_subnet})")
    realnodes.create_bridge(network)
    started.append(realnodes.start_forwarder("apiserver-forwarder", network, api_port, logs))
    started.append(realnodes.start_forwarder("registry-forwarder", network, node_images.registry_port, logs))
    issuer = pki.Issuer.load(state.directory / "pki")
    gateway_server = f"https://{network.gateway}:{api_port}"
    for node in state.nodes():
        realnodes.create_node_network(node, state.nodes())
        files = NodeFiles.of(node)
        realnodes.write_node_files(node, files, issuer, gateway_server, node_images.pause, node_images.registry)
        started.extend(realnodes.start_node(node, files, binaries, logs, GO_RUNTIME))
        state.with_processes(started).save()


def _etcd_command(binaries: toolchain.Binaries, directory: Path, client_port: int, peer_port: int) -> list[str]:
    client_url, peer_url = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [
        str(binaries.etcd),
        "--name=default",
        f"--data-dir={directory / 'etcd'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=default={peer_url}",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


# Writes by ServiceAccounts outside kube-system, at Metadata level (who, what, which pod's token): the evidence that
# a standby operator replica writes nothing (tests/e2e/nodes/test_operator_pod.py), small enough to keep on.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "userGroups": ["system:serviceaccounts:kube-system"]},
        {
            "level": "Metadata",
            "userGroups": ["system:serviceaccounts"],
            "verbs": ["create", "update", "patch", "delete", "deletecollection"],
        },
        {"level": "None"},
    ],
}


def audit_log(directory: Path) -> Path:
    """The API server's audit log of the cluster in `directory` (JSON lines, see AUDIT_POLICY)."""
    return directory / "audit.log"


def _audit_flags(directory: Path) -> list[str]:
    policy = directory / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(AUDIT_POLICY))
    return [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={audit_log(directory)}",
        "--audit-log-format=json",
        "--audit-log-maxsize=64",
        "--audit-log-maxbackup=1",
    ]


def _apiserver_command(
    binaries: toolchain.Binaries, certs: pki.ClusterPki, etcd_port: int, api_port: int, network: NodeNetwork | None
) -> list[str]:
    """With real nodes, the `kubernetes` Service points at the bridge address (pods cannot reach the host's
    loopback), where a forwarder of the cluster's own relays to the API server's loopback port."""
    advertise = network.gateway if network else "127.0.0.1"
    return [
        str(binaries.kube_apiserver),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        f"--secure-port={api_port}",
        "--bind-address=127.0.0.1",
        f"--advertise-address={advertise}",
        f"--tls-cert-file={certs.apiserver.cert}",
        f"--tls-private-key-file={certs.apiserver.key}",
        f"--client-ca-file={certs.ca.cert}",
        "--authorization-mode=Node,RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={certs.service_account_public_key}",
        f"--service-account-signing-key-file={certs.service_account_key}",
        "--service-cluster-ip-range=10.96.0.0/16",
        "--allow-privileged=true",
        f"--endpoint-reconciler-type={'lease' if network else 'none'}",
        f"--kubelet-client-certificate={certs.kubelet_client.cert}",
        f"--kubelet-client-key={certs.kubelet_client.key}",
        "--kubelet-preferred-address-types=InternalIP",
        # Aggregated APIs (metrics-server) trust the API server's front-proxy identity from the same CA.
        f"--requestheader-client-ca-file={certs.ca.cert}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={certs.front_proxy_client.cert}",
        f"--proxy-client-key-file={certs.front_proxy_client.key}",
        "--enable-aggregator-routing=true",
        "--enable-admission-plugins=NodeRestriction",
        "--max-requests-inflight=800",
        "--max-mutating-requests-inflight=400",
    ]


def tls_context(state: ClusterState) -> ssl.SSLContext:
    """TLS to the API server as the cluster admin (client certificate)."""
    pki_dir = state.directory / "pki"
    context = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
    context.load_cert_chain(str(pki_dir / "admin.crt"), str(pki_dir / "admin.key"))
    return context


def _apiserver_ready(state: ClusterState) -> bool:
    try:
        response = httpx.get(f"{state.server}/readyz", verify=tls_context(state), timeout=3)
    except (httpx.HTTPError, OSError, ssl.SSLError):
        return False
    return response.status_code == 200


def _component_healthy(port: int) -> bool:
    try:
        return httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _core_api(admin_kubeconfig: Path) -> Any:
    return k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=str(admin_kubeconfig)))  # type: ignore[no-untyped-call]


def _ready_node_count(api: Any) -> int:
    ready = 0
    for node in api.list_node().items:
        conditions = {c.type: c.status for c in (node.status.conditions or [])}
        # The node lifecycle controller lifts the not-ready taint a moment after Ready; pods wait for both.
        tainted = any(t.key.startswith("node.kubernetes.io/") for t in node.spec.taints or [])
        ready += conditions.get("Ready") == "True" and not tainted
    return ready


def _default_service_account_exists(api: Any) -> bool:
    try:
        api.read_namespaced_service_account("default", "default")
    except ApiException:
        return False
    return True


def _wait(check: Callable[[], bool], what: str, timeout: float = _READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as error:  # readiness probes fail in many ways until the component is up
            last_error = error
        time.sleep(0.25)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})")


def _log_tails(log_dir: Path, lines: int = 8) -> str:
    tails = []
    for log in sorted(log_dir.glob("*.log")):
        content = log.read_text(errors="replace").splitlines()[-lines:]
        tails.append(f"--- {log.name} (last {len(content)} lines)\n" + "\n".join(content))
    return "\n".join(tails)


def attach(name: str, command: list[str], env: dict[str, str] | None = None) -> ManagedProcess:
    """Runs a process that belongs to the running cluster (e.g. the demo's operator): logged in the run folder,
    recorded in its state, stopped by `down`. Returns the running one when it is already there."""
    state = ClusterState.load(state_dir())
    if state is None:
        raise ClusterError("the cluster is not running: run `fabrikam cluster up` first")
    for process in state.processes:
        if process.name == name and process.alive():
            return process
    started = processes.start(name, command, state.directory / "logs", env=env)
    others = tuple(p for p in state.processes if p.name != name)
    state.with_processes([*others, started]).save()
    return started


def restart_apiserver(down_seconds: float = 0.0) -> ClusterState:
    """Stops the API server (its open watches end as a restart ends them), waits `down_seconds`, and starts it again
    with the same command: a control-plane upgrade or crash as the clients see it. Returns once it serves again."""
    state = ClusterState.load(state_dir())
    if state is None:
        raise ClusterError("the cluster is not running: run `fabrikam cluster up` first")
    old = next(p for p in state.processes if p.name == "kube-apiserver")
    command = Path(f"/proc/{old.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    processes.stop(old)
    time.sleep(down_seconds)
    started = processes.start("kube-apiserver", command, Path(old.log).parent, env=GO_RUNTIME)
    state = state.with_processes([started if p is old else p for p in state.processes])
    state.save()
    _wait(lambda: _apiserver_ready(state), "kube-apiserver /readyz")
    return state


def down(progress: Progress = print) -> list[str]:
    """Stops every process `up` started, removes the real nodes and the state; returns what is still there (a
    process, interface, namespace, cgroup, mount or route of the cluster's), empty when clean."""
    directory = state_dir()
    state = ClusterState.load(directory)
    for process in reversed(state.processes if state else ()):
        if process.alive():
            progress(f"stopping {process.name} (pid {process.pid})")
        processes.stop(process)
    if state and state.network:
        progress(f"removing the real nodes' namespaces, bridge {state.network.bridge}, cgroups and containers")
        realnodes.remove(state.network, state.nodes())
        leftovers = realnodes.leftovers(state.network, state.nodes(), directory)
    else:
        leftovers = [f"process {pid}" for pid in processes.processes_using(directory)]
    if not leftovers and directory.exists():
        shutil.rmtree(directory)
    return leftovers


@dataclass(frozen=True)
class Status:
    running: bool
    server: str | None
    kubeconfig: Path | None
    components: dict[str, bool]
    ready_nodes: int


def status() -> Status:
    state = ClusterState.load(state_dir())
    if state is None:
        return Status(False, None, None, {}, 0)
    components = {p.name: p.alive() for p in state.processes}
    ready_nodes = 0
    serving = bool(state.server) and _apiserver_ready(state)
    if serving:
        try:
            ready_nodes = _ready_node_count(_core_api(state.kubeconfig))
        except (ApiException, OSError):
            ready_nodes = 0
    return Status(serving and all(components.values()), state.server, state.kubeconfig, components, ready_nodes)
