"""`fabrikam cluster ...`: the local control plane."""

import typer

app = typer.Typer(help="A real local Kubernetes control plane (no Docker).", no_args_is_help=True)
