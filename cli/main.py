"""Entry point of the `fabrikam` command: one typer app composed of one sub-app or command per concern.

A concern's module is imported only when its command is looked up: to run it, or to list it in `fabrikam --help`.
`fabrikam audit` then loads what auditing needs, not the Kubernetes client, the operator's models and the local
cluster's code that the other commands import (click's lazy group pattern).
"""

from collections.abc import Iterator, MutableMapping
from functools import cache
from importlib import import_module
from importlib.metadata import version
from typing import Any

import typer
from typer._click import Command  # the click that typer bundles, whose commands its groups hold
from typer.core import TyperGroup

# Every command, in the order `fabrikam --help` lists them, and where it is defined (`module:attribute`): a typer
# sub-app becomes a group of commands under the name, a function one command.
COMMANDS: dict[str, str] = {
    "crds": "fabrikam.cli.platform:crds",
    "render": "fabrikam.cli.platform:render",
    "demo": "fabrikam.cli.demo:demo",
    "audit": "fabrikam.cli.audit.command:audit",
    "adopt": "fabrikam.cli.adopt.command:adopt_command",
    "cluster": "fabrikam.cli.cluster:app",
    "image": "fabrikam.cli.image:app",
    "registry": "fabrikam.cli.image:registry_app",
    "services": "fabrikam.cli.services:app",
    "operator": "fabrikam.cli.operator_run:app",
    "simulate": "fabrikam.cli.simulate:app",
    "dlq": "fabrikam.cli.dlq:app",
}


@cache
def load(name: str) -> Command:
    """The command `name`, built from its module the way `add_typer` or `command` on the root app would."""
    module, attribute = COMMANDS[name].split(":")
    defined = getattr(import_module(module), attribute)
    holder = typer.Typer()
    if isinstance(defined, typer.Typer):
        holder.add_typer(defined, name=name)
    else:
        holder.command(name=name)(defined)
    return typer.main.get_group(holder).commands[name]


class LazyCommands(MutableMapping[str, Command]):
    """The root group's commands by name: every name is known up front (a mistyped command is answered with the
    names it is close to, without an import), and a command is loaded when it is first read. A command is added by
    adding it to `COMMANDS`."""

    def __getitem__(self, name: str) -> Command:
        if name not in COMMANDS:
            raise KeyError(name)
        return load(name)

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)

    def __setitem__(self, name: str, command: Command) -> None:
        raise TypeError(f"add {name!r} to COMMANDS in {__name__}")

    def __delitem__(self, name: str) -> None:
        raise TypeError(f"remove {name!r} from COMMANDS in {__name__}")


class LazyGroup(TyperGroup):
    """The root group, with `LazyCommands` for its commands."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands()


app = typer.Typer(
    cls=LazyGroup,
    help="Fabrikam Drone Delivery: local control plane, operator, services and demo.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


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
