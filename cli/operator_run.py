"""`fabrikam operator run`: the operator process (the image's entrypoint, and the demo's background process)."""

import os
from pathlib import Path

import typer

app = typer.Typer(help="Run the Fabrikam operator.", no_args_is_help=True)


@app.command()
def run(
    kubeconfig: Path | None = typer.Option(None, help="Outside a cluster: the kubeconfig ($KUBECONFIG otherwise)."),
    liveness: str = typer.Option(
        "http://0.0.0.0:8081/healthz", help="kopf's liveness endpoint; the chart's probes point at it."
    ),
    verbose: bool = typer.Option(False, "--verbose", help="Debug logging."),
) -> None:
    """Reconcile DeliveryPlatforms and DroneServices cluster-wide until stopped (SIGTERM/SIGINT)."""
    if kubeconfig is not None:
        os.environ["KUBECONFIG"] = str(kubeconfig)
    import kopf

    import fabrikam.operator.handlers  # noqa: F401  (registers the handlers with kopf)

    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON)
    from fabrikam.operator.handlers.runtime import RUNTIME

    if RUNTIME.settings.leader_election:
        import asyncio

        from fabrikam.operator.handlers import leadership

        asyncio.run(leadership.run(liveness=liveness or None))
        return
    kopf.run(clusterwide=True, standalone=True, liveness_endpoint=liveness or None)
