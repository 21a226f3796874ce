"""Operator benchmark: N DroneServices over 10 team namespaces on a private local control plane.

Prints, per N: seconds from applying the services to all Ready, write requests the API server counted for the
operator's resources during an idle resync (its own /metrics), and the operator's peak RSS (VmHWM).

Then the floor under it: the same objects rendered for the same services (teams' guard rails, then per service its
ServiceAccount, ConfigMap, Deployment, Service, HPA, PDB, NetworkPolicy), applied with the operator's own client
and concurrency but no kopf, no watches and no status, timed until every pod is ready. What remains is the
control plane's own work (2 pods per service scheduled and started by kwok, ReplicaSets, endpoints, quotas,
HPAs): no operator can converge faster than that on the same machine.
Usage: bench_operator.py [N ...]   (default 100 500 1000)
"""

import asyncio
import functools
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

from fabrikam.devcluster import cluster, processes
from fabrikam.devcluster import kubectl as pinned_kubectl
from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.api.platform import BundledServices
from fabrikam.operator.apply.applier import apply_objects
from fabrikam.operator.apply.client import KubeApi
from fabrikam.operator.render import render_drone_service, render_team

ROOT = Path(__file__).resolve().parent.parent
TEAMS = 10
RESYNC_SECONDS = 30
FLOOR_CONCURRENCY = 64  # the operator's default worker limit: services reconciled at once
DIGEST = "sha256:" + "c" * 64


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    return pinned_kubectl.run(kubeconfig, *args, input=stdin).stdout


def platform(name: str) -> dict[str, Any]:
    teams = [
        {
            "name": f"team{i}",
            "namespace": f"{name}-team{i}",
            "costCenter": f"cc-{i}",
            "quota": {"cpu": "200", "memory": "400Gi", "pods": 1000},
        }
        for i in range(TEAMS)
    ]
    return {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DeliveryPlatform",
        "metadata": {"name": name},
        "spec": {
            "image": {"repository": "example.azurecr.io/bench", "digest": DIGEST},
            "teams": teams,
            "services": BundledServices.all_disabled(),
        },
    }


def service(name: str, namespace: str, platform_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
        "kind": "DroneService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "platformRef": {"name": platform_name},
            "image": {"repository": "example.azurecr.io/bench", "digest": DIGEST},
            "identity": {"azure": False},
            "resources": {"requests": {"cpu": "5m", "memory": "8Mi"}, "limits": {"cpu": "10m", "memory": "16Mi"}},
        },
    }


def api_writes(kubeconfig: Path) -> dict[str, int]:
    return pinned_kubectl.operator_writes(kubeconfig)


@functools.cache
def cluster_state() -> cluster.ClusterState:
    """The benchmark's cluster, started once by main; its processes do not change during the run."""
    state = cluster.ClusterState.load(Path(os.environ["FABRIKAM_CLUSTER_DIR"]))
    assert state is not None
    return state


@functools.cache
def admin_client() -> httpx.Client:
    """One HTTPS connection as the cluster admin for the readiness polls."""
    state = cluster_state()
    return httpx.Client(base_url=state.server, verify=cluster.tls_context(state), timeout=60)


def table(path: str) -> list[tuple[str, dict[str, Any]]]:
    """(namespace, printer columns) of every object of a list: the API server sends a Table of the printer columns
    instead of every full object, so polling each second does not load the machine being measured (full JSON cost
    tens of CPU-seconds per run at 1000 services)."""
    response = admin_client().get(
        path,
        params={"includeObject": "Metadata"},
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    )
    response.raise_for_status()
    document = response.json()
    names = [column["name"] for column in document["columnDefinitions"]]
    return [
        (row["object"]["metadata"]["namespace"], dict(zip(names, row["cells"], strict=True)))
        for row in document["rows"]
    ]


def ready_count(namespaces: list[str]) -> int:
    """DroneServices whose Ready column (their condition Ready) is True."""
    rows = table("/apis/dronedelivery.fabrikam.io/v1alpha1/droneservices")
    return sum(1 for namespace, cells in rows if namespace in namespaces and cells["Ready"] == "True")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def apiserver_pid() -> int:
    return next(p.pid for p in cluster_state().processes if p.name == "kube-apiserver")


def reconciles(metrics_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("fabrikam_operator_reconciles_total{") and 'kind="DroneService"' in line
    )


def run(n: int, kubeconfig: Path, metrics_port: int) -> dict[str, float]:
    """Applies the platform and N services, waits for all Ready, then counts writes over one idle resync."""
    name = f"bench{n}"
    kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(platform(name)))
    namespaces = [f"{name}-team{i}" for i in range(TEAMS)]
    deadline = time.monotonic() + 120
    while set(namespaces) - set(kubectl(kubeconfig, "get", "ns", "-o", "jsonpath={.items[*].metadata.name}").split()):
        if time.monotonic() > deadline:
            raise TimeoutError("team namespaces not created")
        time.sleep(0.5)

    per_team = [
        [service(f"svc{i:04d}", ns, name) for i in range(n) if i % TEAMS == t] for t, ns in enumerate(namespaces)
    ]
    started = time.monotonic()
    # Each team applies its own services (one kubectl per namespace, at once): one kubectl for all 1000 sends them
    # one after the other and took 38 s of the run by itself.
    with ThreadPoolExecutor(TEAMS) as teams:
        list(
            teams.map(
                lambda docs: kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(docs)),
                per_team,
            )
        )
    print(f"  {n} DroneServices submitted by {TEAMS} kubectl applies in {time.monotonic() - started:.1f}s", flush=True)
    converged = None
    while time.monotonic() - started < 900:
        if ready_count(namespaces) == n:
            converged = time.monotonic() - started
            break
        time.sleep(1)
    if converged is None:
        raise TimeoutError(f"{n} DroneServices not all Ready after 900s")

    time.sleep(5)
    before_writes, before_reconciles = api_writes(kubeconfig), reconciles(metrics_port)
    while reconciles(metrics_port) < before_reconciles + n:  # one full idle resync of every service
        time.sleep(2)
    after_writes = api_writes(kubeconfig)
    idle = {k: n - before_writes.get(k, 0) for k, n in after_writes.items() if n != before_writes.get(k, 0)}
    if idle:
        print(f"  writes during the idle resync of {n}: {idle}", flush=True)
    idle_writes = sum(idle.values())
    return {"converge_seconds": converged, "idle_resync_writes": idle_writes}


def clean_up(n: int, kubeconfig: Path) -> None:
    """Deletes size `n` and waits for its garbage collection, so the next size starts on an empty cluster."""
    name = f"bench{n}"
    kubectl(kubeconfig, "delete", "deliveryplatform", name, "--wait=false")
    kubectl(kubeconfig, "delete", "droneservices", "--all", "-A", "--wait=false")
    wait_gone(kubeconfig, [f"{name}-team{i}" for i in range(TEAMS)])


def wait_gone(kubeconfig: Path, namespaces: list[str]) -> None:
    """Waits until the namespaces and everything in them are garbage-collected."""
    for namespace in namespaces:
        pinned_kubectl.run(kubeconfig, "wait", "--for=delete", f"namespace/{namespace}", "--timeout=600s", check=False)


def control_plane_cpu(state: cluster.ClusterState) -> float:
    return sum(cpu_seconds(p.pid) for p in state.processes)


def ready_deployments(namespaces: set[str]) -> int:
    """Deployments with every pod ready (Ready column "2/2"; "0/0" before its replicas are set does not count)."""
    ready = 0
    for namespace, cells in table("/apis/apps/v1/deployments"):
        current, _, desired = str(cells["Ready"]).partition("/")
        ready += namespace in namespaces and current == desired != "0"
    return ready


async def apply_without_operator(state: cluster.ClusterState, teams: list[Any], services: list[list[Any]]) -> None:
    api = KubeApi(state.server, cluster.tls_context(state), {}, pool_size=FLOOR_CONCURRENCY)
    try:
        await apply_objects(api, teams, concurrency=FLOOR_CONCURRENCY, assume_new=True)
        limit = asyncio.Semaphore(FLOOR_CONCURRENCY)

        async def one(objects: list[Any]) -> None:
            async with limit:
                await apply_objects(api, objects, assume_new=True)

        await asyncio.gather(*(one(objects) for objects in services))
    finally:
        await api.close()


def floor(n: int, state: cluster.ClusterState) -> tuple[float, float]:
    """(seconds until every pod of N services is ready without the operator, control-plane CPU seconds)."""
    name = f"floor{n}"
    plat = DeliveryPlatform.model_validate(platform(name))
    teams = [obj for team in plat.spec.teams for obj in render_team(team, platform=plat)]
    namespaces = [team.namespace for team in plat.spec.teams]
    services = [
        render_drone_service(
            DroneService.model_validate(service(f"svc{i:04d}", namespaces[i % TEAMS], name)), platform=plat
        )
        for i in range(n)
    ]
    cpu_before, started = control_plane_cpu(state), time.monotonic()
    asyncio.run(apply_without_operator(state, teams, services))
    while ready_deployments(set(namespaces)) < n:
        if time.monotonic() - started > 900:
            raise TimeoutError(f"{n} Deployments not all ready after 900s")
        time.sleep(1)
    converged, cpu = time.monotonic() - started, control_plane_cpu(state) - cpu_before
    kubectl(state.kubeconfig, "delete", "namespace", *namespaces, "--wait=false")
    wait_gone(state.kubeconfig, namespaces)
    return converged, cpu


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [100, 500, 1000]
    state = Path(tempfile.mkdtemp(prefix="fabrikam-bench-"))
    os.environ["FABRIKAM_CLUSTER_DIR"] = str(state / "cluster")
    kubeconfig = cluster.up(lambda message: None, real_nodes=0).kubeconfig  # simulated nodes only
    try:
        dependencies = str(ROOT / "config" / "dependencies")
        kubectl(kubeconfig, "apply", "--server-side", "-f", str(ROOT / "crds"), "-f", dependencies)
        kubectl(kubeconfig, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        print(
            f"{'DroneServices':>14} {'all Ready (s)':>14} {'idle-resync writes':>19} {'operator peak RSS (MB)':>23}"
            f" {'operator CPU s':>14} {'apiserver CPU s':>15}"
        )
        for n in sizes:
            # A fresh operator per size, so the peak RSS belongs to that size alone.
            metrics_port = processes.free_port()
            fabrikam = str(Path(sys.executable).with_name("fabrikam"))
            liveness = f"--liveness=http://127.0.0.1:{processes.free_port()}/healthz"
            env = {
                **os.environ,
                "FABRIKAM_OPERATOR_METRICS_PORT": str(metrics_port),
                "FABRIKAM_OPERATOR_RESYNC_SECONDS": str(RESYNC_SECONDS),
            }
            with open(state / f"operator-{n}.log", "w") as log:
                operator = subprocess.Popen(
                    [fabrikam, "operator", "run", f"--kubeconfig={kubeconfig}", liveness],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            try:
                while True:
                    try:
                        httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2)
                        break
                    except httpx.TransportError:
                        time.sleep(0.2)
                apiserver_before = cpu_seconds(apiserver_pid())
                result = run(n, kubeconfig, metrics_port)
                rss = peak_rss_mb(operator.pid)
                operator_cpu = cpu_seconds(operator.pid)
                apiserver_cpu = cpu_seconds(apiserver_pid()) - apiserver_before
                clean_up(n, kubeconfig)  # after the figures: the deletion burst is not part of size n's peak
            finally:
                operator.terminate()
                operator.wait(timeout=60)
            print(
                f"{n:>14} {result['converge_seconds']:>14.1f} {result['idle_resync_writes']:>19.0f} {rss:>23.0f}"
                f" {operator_cpu:>14.1f} {apiserver_cpu:>15.1f}",
                flush=True,
            )
        print(f"\n{'services':>9} {'without the operator: all pods ready (s)':>41} {'control plane CPU s':>20}")
        for n in sizes:
            converged, cpu = floor(n, cluster_state())
            print(f"{n:>9} {converged:>41.1f} {cpu:>20.1f}", flush=True)
        print(f"(this machine has {os.cpu_count()} cores: the control plane's CPU seconds / cores bound the time)")
    finally:
        cluster.down(lambda message: None)


if __name__ == "__main__":
    main()
