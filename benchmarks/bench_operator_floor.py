"""The floor under the operator benchmark: the same objects, applied without the operator, on the same machine.

For N services over 10 team namespaces, renders exactly what the operator would (teams' guard rails, then per
service its ServiceAccount, ConfigMap, Deployment, Service, HPA, PDB, NetworkPolicy), applies them with the
operator's own client and concurrency but no kopf, no watches and no status, then waits until every Deployment
has all its pods ready. What remains is the control plane's own work (2 pods per service scheduled, started by
kwok, ReplicaSets, endpoints, quotas, HPAs): no operator can converge faster than this here.
Usage: bench_operator_floor.py [N ...]   (default 1000)
"""

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fabrikam.devcluster import cluster
from fabrikam.devcluster import kubectl as pinned_kubectl
from fabrikam.operator.api import DeliveryPlatform, DroneService
from fabrikam.operator.apply.applier import apply_objects
from fabrikam.operator.apply.client import KubeApi
from fabrikam.operator.render import render_drone_service, render_team

TEAMS = 10
CONCURRENCY = 64  # the operator's default worker limit: services reconciled at once
DIGEST = "sha256:" + "c" * 64
BUNDLED = ("ingestion", "workflow", "delivery", "droneScheduler", "package", "notification", "account")


def platform(name: str) -> DeliveryPlatform:
    """The operator benchmark's platform: 10 teams, no bundled services."""
    teams = [
        {"name": f"team{i}", "namespace": f"{name}-team{i}", "costCenter": f"cc-{i}"}
        | {"quota": {"cpu": "200", "memory": "400Gi", "pods": 1000}}
        for i in range(TEAMS)
    ]
    components = {component: {"enabled": False} for component in (*BUNDLED, "droneTelemetry")}
    return DeliveryPlatform.model_validate(
        {
            "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
            "kind": "DeliveryPlatform",
            "metadata": {"name": name},
            "spec": {
                "image": {"repository": "example.azurecr.io/bench", "digest": DIGEST},
                "teams": teams,
                "services": components,
            },
        }
    )


def service(name: str, namespace: str, platform_name: str) -> DroneService:
    """The operator benchmark's DroneService."""
    return DroneService.model_validate(
        {
            "apiVersion": "dronedelivery.fabrikam.io/v1alpha1",
            "kind": "DroneService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "platformRef": {"name": platform_name},
                "image": {"repository": "example.azurecr.io/bench", "digest": DIGEST},
                "identity": {"azure": False},
                "resources": {
                    "requests": {"cpu": "5m", "memory": "8Mi"},
                    "limits": {"cpu": "10m", "memory": "16Mi"},
                },
            },
        }
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ready_deployments(kubeconfig: Path, namespaces: set[str]) -> int:
    items = json.loads(pinned_kubectl.run(kubeconfig, "get", "deployments", "-A", "-o", "json").stdout)["items"]
    return sum(
        1
        for d in items
        if d["metadata"]["namespace"] in namespaces
        and d.get("status", {}).get("readyReplicas", 0) >= d["spec"].get("replicas", 1)
        and d.get("status", {}).get("observedGeneration", 0) >= d["metadata"]["generation"]
    )


async def apply_all(state: cluster.ClusterState, teams: list[dict[str, Any]], services: list[list[Any]]) -> None:
    api = KubeApi(state.server, cluster.tls_context(state), {}, pool_size=CONCURRENCY)
    try:
        await apply_objects(api, teams, concurrency=CONCURRENCY, assume_new=True)
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(objects: list[Any]) -> None:
            async with limit:
                await apply_objects(api, objects, assume_new=True)

        await asyncio.gather(*(one(objects) for objects in services))
    finally:
        await api.close()


def control_plane_cpu(state: cluster.ClusterState) -> float:
    return sum(cpu_seconds(p.pid) for p in state.processes)


def client_cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def run(n: int, state: cluster.ClusterState) -> tuple[float, float, float, float, float]:
    """Seconds to all Deployments ready and to the last apply; CPU seconds of kube-apiserver, of the whole control
    plane (etcd, apiserver, controller manager, scheduler, kwok) and of this client (kubectl polls included)."""
    name = f"floor{n}"
    plat = platform(name)
    teams = [obj for team in plat.spec.teams for obj in render_team(team, platform=plat)]
    namespaces = [team.namespace for team in plat.spec.teams]
    services = [
        render_drone_service(service(f"svc{i:04d}", namespaces[i % TEAMS], name), platform=plat) for i in range(n)
    ]
    apiserver = next(p.pid for p in state.processes if p.name == "kube-apiserver")
    cpu_before, plane_before, client_before = cpu_seconds(apiserver), control_plane_cpu(state), client_cpu()
    started = time.monotonic()
    asyncio.run(apply_all(state, teams, services))
    applied = time.monotonic() - started
    while ready_deployments(state.kubeconfig, set(namespaces)) < n:
        if time.monotonic() - started > 900:
            raise TimeoutError(f"{n} Deployments not all ready after 900s")
        time.sleep(1)
    converged = time.monotonic() - started
    cpu, plane = cpu_seconds(apiserver) - cpu_before, control_plane_cpu(state) - plane_before
    client = client_cpu() - client_before
    for namespace in namespaces:
        pinned_kubectl.run(state.kubeconfig, "delete", "namespace", namespace, "--wait=false")
    for namespace in namespaces:
        pinned_kubectl.run(
            state.kubeconfig, "wait", "--for=delete", f"namespace/{namespace}", "--timeout=600s", check=False
        )
    return converged, applied, cpu, plane, client


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [1000]
    os.environ["FABRIKAM_CLUSTER_DIR"] = str(Path(tempfile.mkdtemp(prefix="fabrikam-floor-")) / "cluster")
    cluster.up(lambda message: None)
    try:
        state = cluster.ClusterState.load(Path(os.environ["FABRIKAM_CLUSTER_DIR"]))
        assert state is not None
        print(
            f"{'services':>9} {'all pods ready (s)':>19} {'applies done (s)':>17} {'apiserver CPU s':>16}"
            f" {'control plane CPU s':>20} {'client CPU s':>13}"
        )
        for n in sizes:
            converged, applied, cpu, plane, client = run(n, state)
            print(f"{n:>9} {converged:>19.1f} {applied:>17.1f} {cpu:>16.1f} {plane:>20.1f} {client:>13.1f}", flush=True)
        print(f"(this machine has {os.cpu_count()} cores: the control plane's CPU seconds / cores bound the time)")
    finally:
        cluster.down(lambda message: None)


if __name__ == "__main__":
    main()
