"""`fabrikam demo`: the platform on real pods of the local cluster, then a simulated fleet flying against them.

Cluster up (simulated nodes and real ones), the images built into the local registry, the operator installed by its
Helm chart, `config/samples/platform-dev.yaml` applied with those images; a live table until the platform's eight
services are Ready on the real nodes, then a simulated fleet requesting and flying deliveries through them. The
platform keeps running afterwards.
"""

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import typer
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from fabrikam.cli import dashboard
from fabrikam.devcluster import backing_images, cluster, images, kubectl, platform_install, toolchain
from fabrikam.devcluster.paths import repository_root
from fabrikam.devcluster.realnode_config import NODE_TYPE_LABEL, REAL_NODE_TYPE
from fabrikam.workloads.simulator.engine import SimulatorConfig, Tokens

_console = Console()
# The simulator's drones fly 15 m/s; `speed_up` multiplies the ground speed they report to the platform.
DRONE_SPEED_MPS = 15.0
# platform-dev.yaml sets no `spec.auth`: its services check no tokens, so any bearer passes (an empty one would be
# an illegal header value).
NO_AUTH = Tokens(business="demo", fleet="demo")
# The namespaces whose pods the platform runs: the operator's, the two teams', the stores'.
PLATFORM_NAMESPACES = ("fabrikam-system", "fabrikam-shipping", "fabrikam-customer", "fabrikam-backing")
T = TypeVar("T")


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and what to look at."""


def _nodes_table(api_client: Any) -> Table:
    table = Table(title="Nodes")
    for column in ("Name", "Kind", "Ready", "Zone", "Priority", "Taints"):
        table.add_column(column)
    nodes: list[Any] = k8s.CoreV1Api(api_client).list_node().items
    for node in nodes:
        labels = node.metadata.labels or {}
        conditions = {c.type: c.status for c in node.status.conditions or []}
        taints = ", ".join(f"{t.key}={t.value}:{t.effect}" for t in node.spec.taints or []) or "-"
        table.add_row(
            node.metadata.name,
            "real (runs pods)" if labels.get(NODE_TYPE_LABEL) == REAL_NODE_TYPE else "simulated (kwok)",
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


def _condition(obj: dict[str, Any], kind: str = "Ready") -> tuple[str, str]:
    for condition in (obj.get("status") or {}).get("conditions", []):
        if condition["type"] == kind:
            return condition["status"], condition.get("reason", "")
    return "Unknown", "Pending"


def _ready_now(obj: dict[str, Any]) -> bool:
    """Ready for the spec as it is now: right after an apply the status still speaks of the previous generation."""
    observed = (obj.get("status") or {}).get("observedGeneration")
    return _condition(obj)[0] == "True" and observed == obj["metadata"].get("generation")


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
    everything_ready = _ready_now(platform) and all(_ready_now(s) for s in services)
    return Group(top, table), everything_ready


def _mark(status: str) -> str:
    return {"True": "[green]✔ True[/]", "False": "[yellow]… False[/]"}.get(status, f"[dim]{status}[/]")


def _pods(kubeconfig: Path) -> list[dict[str, Any]]:
    found = json.loads(_kubectl(kubeconfig, "get", "pods", "-A", "-o", "json"))["items"]
    return [pod for pod in found if pod["metadata"]["namespace"] in PLATFORM_NAMESPACES]


def _pod_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def _pods_table(kubeconfig: Path) -> Table:
    table = Table(title="The platform's pods")
    for column in ("Namespace", "Pod", "Node", "Phase", "Ready"):
        table.add_column(column)
    for pod in sorted(_pods(kubeconfig), key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
        table.add_row(
            pod["metadata"]["namespace"],
            pod["metadata"]["name"],
            pod["spec"].get("nodeName", "-"),
            pod.get("status", {}).get("phase", "-"),
            _mark(str(_pod_ready(pod))),
        )
    return table


def _not_ready(kubeconfig: Path, platform_name: str) -> str:
    """What keeps the platform from Ready: its own reason, the services not Ready, the pods not Ready."""
    platform = json.loads(_kubectl(kubeconfig, "get", "deliveryplatform", platform_name, "-o", "json"))
    services = json.loads(_kubectl(kubeconfig, "get", "droneservices", "-A", "-o", "json"))["items"]
    lines = [f"DeliveryPlatform {platform_name}: Ready={'/'.join(_condition(platform))}"]
    for svc in services:
        ready, reason = _condition(svc)
        if ready != "True":
            lines.append(f"DroneService {svc['metadata']['namespace']}/{svc['metadata']['name']}: {ready} {reason}")
    for pod in _pods(kubeconfig):
        if not _pod_ready(pod):
            waiting = [
                s["state"]["waiting"].get("reason", "")
                for s in pod.get("status", {}).get("containerStatuses", [])
                if "waiting" in s.get("state", {})
            ]
            phase = pod.get("status", {}).get("phase", "-")
            lines.append(
                f"pod {pod['metadata']['namespace']}/{pod['metadata']['name']} on {pod['spec'].get('nodeName', '-')}:"
                f" {phase} {' '.join(waiting)}".rstrip()
            )
    return "\n  ".join(lines)


def _wait_until_ready(kubeconfig: Path, platform_name: str, timeout: float) -> str:
    """A live table until the platform and every DroneService are Ready; returns `servicesReady` (e.g. 8/8)."""
    started = time.monotonic()
    everything_ready = False
    with Live(console=_console, refresh_per_second=2) as live:
        while time.monotonic() - started < timeout:
            try:
                view, everything_ready = _status_tables(kubeconfig, platform_name)
            except RuntimeError:
                everything_ready = False  # the API answers again on the next round
            else:
                live.update(view)
            if everything_ready:
                break
            time.sleep(1)
    # Without a terminal, Live leaves its last frame without a line end.
    _console.print()
    if everything_ready:
        platform = json.loads(_kubectl(kubeconfig, "get", "deliveryplatform", platform_name, "-o", "json"))
        return str(platform["status"]["servicesReady"])
    raise DemoError(
        f"platform {platform_name} not Ready {timeout:.0f} s after kubectl apply; not ready:\n  "
        f"{_not_ready(kubeconfig, platform_name)}\nsee `kubectl describe` on those, and the operator's log: "
        f"kubectl -n {platform_install.OPERATOR_NAMESPACE} logs --prefix --tail=200 "
        f"-l app.kubernetes.io/instance={platform_install.OPERATOR_RELEASE} (the Lease "
        f"{platform_install.OPERATOR_RELEASE} names the replica that reconciles)"
    )


def _fly(kubeconfig: Path, config: SimulatorConfig, seconds: float) -> tuple[int, int, int]:
    """The simulated fleet against the pods, watched live; (requested, arrived, refused steps)."""
    try:
        with platform_install.service_urls(kubeconfig) as urls:
            snapshot, tracker = asyncio.run(dashboard.watch(urls, NO_AUTH, config, seconds, _console))
    except httpx.HTTPError as error:
        raise DemoError(f"the fleet lost a service through its port-forward: {error!r}") from error
    finally:
        _console.print()
    _console.print(dashboard.summary(snapshot, tracker))
    return len(snapshot.requested), len(snapshot.arrived), sum(snapshot.refused.values())


def _timed(timings: dict[str, float], step: str, action: Callable[[], T]) -> T:
    started = time.monotonic()
    result = action()
    timings[step] = time.monotonic() - started
    _console.print(f"[bold cyan]demo[/] {step}: {timings[step]:.1f} s")
    return result


def _progress(step: str) -> Callable[[str], None]:
    return lambda message: _console.print(f"[bold cyan]{step}[/] {message}")


def demo(
    fleet_seconds: float = typer.Option(30.0, min=0, help="Wall seconds of simulated delivery requests (0: no fleet)."),
    rate: float = typer.Option(1.0, min=0.01, help="Delivery requests per wall second."),
    drones: int = typer.Option(30, min=1, help="Drones the simulator registers and flies."),
    speed_up: float = typer.Option(
        30.0, min=1, help="Simulated seconds per wall second; 15 m/s times this stays below spec.fleet.maxSpeedMps."
    ),
    ready_timeout: float = typer.Option(300.0, min=1, help="Seconds from kubectl apply to the platform Ready."),
) -> None:
    """The platform on real pods of the local cluster, then a simulated fleet flying deliveries through it."""
    sample: dict[str, Any] = yaml.safe_load((repository_root() / platform_install.DEV_PLATFORM).read_text())
    max_speed = float(sample["spec"]["fleet"]["maxSpeedMps"])
    if DRONE_SPEED_MPS * speed_up >= max_speed:
        raise typer.BadParameter(
            f"{DRONE_SPEED_MPS:.0f} m/s x {speed_up:g} reaches the platform's spec.fleet.maxSpeedMps ({max_speed:g})",
            param_hint="--speed-up",
        )
    timings: dict[str, float] = {}
    try:
        state = _timed(timings, "cluster up", lambda: cluster.up(_progress("cluster")))
        api_client = k8s_config.new_client_from_config(config_file=str(state.kubeconfig))  # type: ignore[no-untyped-call]
        _console.print(f"Kubernetes {k8s.VersionApi(api_client).get_code().git_version} at {state.server}")
        _console.print(_nodes_table(api_client))

        def build() -> tuple[images.BuiltImages, backing_images.BackingImages]:
            return images.build_images(_progress("images")), backing_images.build(_progress("images"))

        built, stores = _timed(timings, "images", build)
        document = platform_install.with_images(sample, built.workloads, stores)
        _timed(
            timings,
            "operator install",
            lambda: platform_install.install_operator(state.kubeconfig, built.operator, _progress("operator")),
        )
        platform_name = document["metadata"]["name"]
        started = time.monotonic()
        _kubectl(state.kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(document))
        _console.print(f"[bold cyan]demo[/] applied {platform_install.DEV_PLATFORM} with the images built above")
        services_ready = _wait_until_ready(state.kubeconfig, platform_name, ready_timeout)
        ready_seconds = timings[f"kubectl apply -> {services_ready} Ready"] = time.monotonic() - started
        _console.print(f"[green]warm start to {services_ready} Ready on real pods in {ready_seconds:.0f} s[/]")
        _console.print(_pods_table(state.kubeconfig))
        if fleet_seconds > 0:
            config = SimulatorConfig(
                drones=drones, requests_per_second=rate, speed_up=speed_up, speed_mps=DRONE_SPEED_MPS
            )
            requested, arrived, refused = _timed(
                timings, "fleet", lambda: _fly(state.kubeconfig, config, fleet_seconds)
            )
            _console.print(
                f"fleet against the pods: {requested} deliveries requested, {arrived} arrived, {refused} refused"
            )
            if requested and not arrived:
                raise DemoError("no delivery arrived: see the services' logs (kubectl logs -n fabrikam-shipping ...)")
    except RuntimeError as error:  # each step's own error (ClusterError, ImageError, InstallError, ...) is one
        _console.print(f"[red]demo failed:[/] {error}")
        raise typer.Exit(1) from error
    _console.print(_timings_table(timings))
    _console.print(_how_to_look(state.kubeconfig, [node.name for node in state.nodes()]))


def _timings_table(timings: dict[str, float]) -> Table:
    table = Table(title="Demo timings")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    for step, seconds in timings.items():
        table.add_row(step, f"{seconds:.1f}")
    return table


def _how_to_look(kubeconfig: Path, real: list[str]) -> str:
    binary = toolchain.expected_binaries().kubectl
    directory = os.environ.get("FABRIKAM_CLUSTER_DIR")
    prefix = f"FABRIKAM_CLUSTER_DIR={directory} " if directory else ""
    return (
        "\nThe platform keeps running. Look at it:\n"
        f"  export KUBECONFIG={kubeconfig}\n"
        f"  {binary} get deliveryplatform\n"
        f"  {binary} get pods -A -o wide        # the services Running on {' and '.join(sorted(real))}\n"
        f"  {binary} get droneservices -A\n"
        f"Stop it: {prefix}make down   (or {prefix}fabrikam cluster down)"
    )
