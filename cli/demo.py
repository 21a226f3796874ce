"""`fabrikam demo`: the main job, shown end to end on the local control plane."""

from typing import Any

import typer
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from rich.console import Console
from rich.table import Table

from fabrikam.devcluster import cluster, toolchain

_console = Console()


def _nodes_table(api_client: Any) -> Table:
    table = Table(title="Nodes (simulated by kwok)")
    for column in ("Name", "Ready", "Zone", "Priority", "Taints", "Allocatable"):
        table.add_column(column)
    nodes: list[Any] = k8s.CoreV1Api(api_client).list_node().items
    for node in nodes:
        labels = node.metadata.labels or {}
        conditions = {c.type: c.status for c in node.status.conditions or []}
        taints = ", ".join(f"{t.key}={t.value}:{t.effect}" for t in node.spec.taints or []) or "-"
        allocatable = node.status.allocatable or {}
        table.add_row(
            node.metadata.name,
            conditions.get("Ready", "Unknown"),
            labels.get("topology.kubernetes.io/zone", "-"),
            labels.get("kubernetes.azure.com/scalesetpriority", "regular"),
            taints,
            f"cpu {allocatable.get('cpu')}, memory {allocatable.get('memory')}, pods {allocatable.get('pods')}",
        )
    return table


def demo() -> None:
    """Bring up the local cluster and show it."""
    try:
        state = cluster.up(lambda message: _console.print(f"[bold cyan]cluster[/] {message}"))
    except (cluster.ClusterError, toolchain.ToolchainError) as error:
        _console.print(f"[red]cluster up failed:[/] {error}")
        raise typer.Exit(1) from error
    api_client = k8s_config.new_client_from_config(config_file=str(state.kubeconfig))  # type: ignore[no-untyped-call]
    version = k8s.VersionApi(api_client).get_code().git_version
    _console.print(f"Kubernetes {version} at {state.server}")
    _console.print(_nodes_table(api_client))
    _console.print(
        f"\nUse it:  export KUBECONFIG={state.kubeconfig}\n"
        f"         {toolchain.expected_binaries().kubectl} get nodes\n"
        "Stop it: make down"
    )
