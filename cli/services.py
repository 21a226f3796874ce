"""Commands that run the eight workloads locally."""

import typer

app = typer.Typer(help="Run the Fabrikam services as local processes.", no_args_is_help=True)
