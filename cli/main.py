"""Entry point of the `fabrikam` command: one typer app composed of one sub-app per concern."""

from importlib.metadata import version

import typer

from fabrikam.cli import cluster, demo, dlq, image, operator_run, platform, services, simulate
from fabrikam.cli.adopt.command import adopt_command
from fabrikam.cli.audit import command as audit

app = typer.Typer(
    help="Fabrikam Drone Delivery: local control plane, operator, services and demo.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(cluster.app, name="cluster")
app.add_typer(image.app, name="image")
app.add_typer(image.registry_app, name="registry")
app.add_typer(services.app, name="services")
app.add_typer(operator_run.app, name="operator")
app.add_typer(simulate.app, name="simulate")
app.add_typer(dlq.app, name="dlq")
platform.register(app)
app.command(name="demo")(demo.demo)
app.command(name="audit")(audit.audit)
app.command(name="adopt")(adopt_command)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"fabrikam {version('fabrikam-drone-delivery')}")
        raise typer.Exit()


@app.callback()
def main(
    show_version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Fabrikam Drone Delivery command line."""
