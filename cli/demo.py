"""`fabrikam demo`: the main job, end to end on the local control plane.

Cluster up, CRDs installed, the operator started in the background, the sample platform and a team's own service
applied, then a live table of the platform, its teams and services as they become Ready.
"""

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from fabrikam.devcluster import cluster, kubectl, processes, toolchain
from fabrikam.devcluster.paths import repository_root

_console = Console()
READY_TIMEOUT = 240.0


def _nodes_table(api_client: Any) -> Table:
    table = Table(title="Nodes (simulated by kwok)")
    for column in ("Name", "Ready", "Zone", "Priority", "Taints"):
        table.add_column(column)
    nodes: list[Any] = k8s.CoreV1Api(api_client).list_node().items
    for node in nodes:
        labels = node.metadata.labels or {}
        conditions = {c.type: c.status for c in node.status.conditions or []}
        taints = ", ".join(f"{t.key}={t.value}:{t.effect}" for t in node.spec.taints or []) or "-"
        table.add_row(
            node.metadata.name,
            conditions.get("Ready", "Unknown"),
            labels.get("topology.kubernetes.io/zone", "-"),
            labels.get("kubernetes.azure.com/scalesetpriority", "regular"),
            taints,
        )
    return table


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    result = kubectl.run(kubeconfig, *args, input=stdin, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _local_platform(root: Path) -> tuple[dict[str, Any], list[str]]:
    """The sample platform as the demo applies it: without `spec.azure`, since Azure is out of reach here."""
    platform: dict[str, Any] = yaml.safe_load((root / "config" / "samples" / "platform.yaml").read_text())
    notes = []
    if platform["spec"].pop("azure", None) is not None:
        notes.append("spec.azure left out of the sample: no Azure here, so nothing Azure-side is provisioned")
    return platform, notes


def _wait_for_namespaces(kubeconfig: Path, namespaces: list[str], timeout: float = 60.0) -> None:
    """A team applies its own services once the operator has created the team's namespace."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        existing = set(_kubectl(kubeconfig, "get", "namespaces", "-o", "name").split())
        if all(f"namespace/{ns}" in existing for ns in namespaces):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the operator did not create the team namespaces {namespaces} within {timeout:.0f}s")


def _condition(obj: dict[str, Any], kind: str = "Ready") -> tuple[str, str]:
    for condition in (obj.get("status") or {}).get("conditions", []):
        if condition["type"] == kind:
            return condition["status"], condition.get("reason", "")
    return "Unknown", "Pending"


def _status_tables(kubeconfig: Path, platform_name: str) -> tuple[Group, bool]:
    platform = json.loads(_kubectl(kubeconfig, "get", "deliveryplatform", platform_name, "-o", "json"))
    services = json.loads(_kubectl(kubeconfig, "get", "droneservices", "-A", "-o", "json"))["items"]
    ready, reason = _condition(platform)
    status = platform.get("status") or {}
    top = Table(title=f"DeliveryPlatform {platform_name}")
    for column in ("Ready", "Reason", "Services ready", "Teams"):
        top.add_column(column)
    teams = ", ".join(f"{t['name']} {t['servicesReady']}" for t in status.get("teams", []))
    top.add_row(_mark(ready), reason, status.get("servicesReady", "-"), teams or "-")
    table = Table(title="DroneServices")
    for column in ("Namespace", "Name", "Component", "Ready", "Reason", "Replicas", "Endpoint"):
        table.add_column(column)
    for svc in sorted(services, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])):
        svc_ready, svc_reason = _condition(svc)
        svc_status = svc.get("status") or {}
        table.add_row(
            svc["metadata"]["namespace"],
            svc["metadata"]["name"],
            svc["spec"].get("component", "custom"),
            _mark(svc_ready),
            svc_reason,
            f"{svc_status.get('readyReplicas') or 0}/{svc_status.get('desiredReplicas') or '-'}",
            svc_status.get("endpoint") or "-",
        )
    everything_ready = ready == "True" and all(_condition(s)[0] == "True" for s in services)
    return Group(top, table), everything_ready


def _mark(status: str) -> str:
    return {"True": "[green]✔ True[/]", "False": "[yellow]… False[/]"}.get(status, f"[dim]{status}[/]")


def demo() -> None:
    """Bring up the local cluster, run the operator, apply the sample platform and watch it become Ready."""
    root = repository_root()
    try:
        state = cluster.up(lambda message: _console.print(f"[bold cyan]cluster[/] {message}"))
    except (cluster.ClusterError, toolchain.ToolchainError) as error:
        _console.print(f"[red]cluster up failed:[/] {error}")
        raise typer.Exit(1) from error
    api_client = k8s_config.new_client_from_config(config_file=str(state.kubeconfig))  # type: ignore[no-untyped-call]
    _console.print(f"Kubernetes {k8s.VersionApi(api_client).get_code().git_version} at {state.server}")
    _console.print(_nodes_table(api_client))

    _console.print("[bold cyan]demo[/] installing the CRDs (crds/) and the local stand-ins (config/dependencies/)")
    _kubectl(
        state.kubeconfig,
        "apply",
        "--server-side",
        "-f",
        str(root / "crds"),
        "-f",
        str(root / "config" / "dependencies"),
    )
    _kubectl(state.kubeconfig, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    fabrikam = str(Path(sys.executable).with_name("fabrikam"))
    operator = cluster.attach(
        "operator",
        [
            fabrikam,
            "operator",
            "run",
            f"--kubeconfig={state.kubeconfig}",
            f"--liveness=http://127.0.0.1:{processes.free_port()}/healthz",
        ],
        env={"FABRIKAM_OPERATOR_METRICS_PORT": str(processes.free_port())},
    )
    _console.print(f"[bold cyan]demo[/] operator running in the background (pid {operator.pid}, log {operator.log})")

    platform, notes = _local_platform(root)
    for note in notes:
        _console.print(f"[bold cyan]demo[/] {note}")
    _kubectl(state.kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(platform))
    platform_name = platform["metadata"]["name"]
    _console.print("[bold cyan]demo[/] applied config/samples/platform.yaml; the operator creates the team namespaces")
    team_service = root / "config" / "samples" / "team-service.yaml"
    team_namespaces = [doc["metadata"]["namespace"] for doc in yaml.safe_load_all(team_service.read_text())]
    _wait_for_namespaces(state.kubeconfig, team_namespaces)
    _kubectl(state.kubeconfig, "apply", "-f", str(team_service))
    _console.print(
        "[bold cyan]demo[/] the shipping team applied its own DroneService (config/samples/team-service.yaml)"
    )

    started = time.monotonic()
    everything_ready = False
    with Live(console=_console, refresh_per_second=2) as live:
        while time.monotonic() - started < READY_TIMEOUT:
            view, everything_ready = _status_tables(state.kubeconfig, platform_name)
            live.update(view)
            if everything_ready:
                break
            time.sleep(1)
    took = time.monotonic() - started
    if everything_ready:
        _console.print(f"[green]platform {platform_name} and every DroneService Ready in {took:.0f}s[/]")
    else:
        _console.print(f"[red]not everything Ready after {took:.0f}s; see `kubectl describe` and {operator.log}[/]")
    kubectl = toolchain.expected_binaries().kubectl
    _console.print(
        f"\nUse it:  export KUBECONFIG={state.kubeconfig}\n"
        f"         {kubectl} get deliveryplatforms,droneservices -A\n"
        f"         {kubectl} describe droneservice ingestion -n fabrikam-shipping\n"
        "Stop it: make down"
    )
    if not everything_ready:
        raise typer.Exit(1)
