"""`fabrikam cluster ...`: the local control plane."""

import typer
from rich.console import Console

from fabrikam.devcluster import cluster, toolchain

app = typer.Typer(help="A real local Kubernetes control plane (no Docker).", no_args_is_help=True)
_err = Console(stderr=True)


def _progress(message: str) -> None:
    _err.print(f"[bold cyan]cluster[/] {message}")


@app.command()
def build() -> None:
    """Build or fetch the pinned binaries into the per-machine cache (only what is missing)."""
    try:
        binaries = toolchain.ensure_binaries(_progress)
    except toolchain.ToolchainError as error:
        _err.print(f"[red]{error}[/]")
        raise typer.Exit(1) from error
    _progress(f"binaries ready in {binaries.kube_apiserver.parent.parent}")


@app.command()
def up(
    real_nodes: int = typer.Option(
        None,
        "--real-nodes",
        min=0,
        max=3,
        help="Nodes that run containers beside the 4 simulated ones (default $FABRIKAM_REAL_NODES or 2; 0 = none).",
    ),
) -> None:
    """Start etcd, kube-apiserver, controller-manager, scheduler, kwok and real nodes; print the kubeconfig last."""
    try:
        state = cluster.up(_progress, real_nodes=real_nodes)
    except (cluster.ClusterError, toolchain.ToolchainError) as error:
        _err.print(f"[red]cluster up failed:[/] {error}")
        raise typer.Exit(1) from error
    typer.echo(str(state.kubeconfig))


@app.command()
def down() -> None:
    """Stop every process the cluster started and remove its state."""
    leftovers = cluster.down(_progress)
    if leftovers:
        _err.print(f"[red]left behind:[/] {', '.join(leftovers)}")
        raise typer.Exit(1)
    _progress("stopped; nothing left behind")


@app.command()
def status() -> None:
    """Tell what runs."""
    current = cluster.status()
    if current.server is None:
        typer.echo("not running")
        raise typer.Exit(3)
    for name, alive in current.components.items():
        typer.echo(f"{name:<24} {'running' if alive else 'STOPPED'}")
    typer.echo(f"{'api server':<24} {current.server}")
    typer.echo(f"{'ready nodes':<24} {current.ready_nodes}")
    typer.echo(f"{'kubeconfig':<24} {current.kubeconfig}")
    if not current.running:
        raise typer.Exit(1)


@app.command()
def kubeconfig() -> None:
    """Print the admin kubeconfig path of the local cluster."""
    typer.echo(str(cluster.kubeconfig_path()))
