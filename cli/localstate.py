"""Where `fabrikam services up` records what it started, and how other commands find it."""

import json
from pathlib import Path

import typer

from fabrikam.devcluster.localstack import token
from fabrikam.workloads.simulator.engine import Tokens

DEFAULT_DIRECTORY = Path(".run/services")
STATE_FILE = "state.json"


def running_urls(directory: Path) -> dict[str, str]:
    state_path = directory / STATE_FILE
    if not state_path.exists():
        typer.echo("services are not up: run `fabrikam services up` first", err=True)
        raise typer.Exit(1)
    urls: dict[str, str] = json.loads(state_path.read_text())["urls"]
    return urls


def running(directory: Path) -> tuple[dict[str, str], Tokens]:
    """The URLs of the services `up` started, and tokens for the seeded demo business and its fleet."""
    urls = running_urls(directory)
    return urls, Tokens(business=token(urls["account"]), fleet=token(urls["account"], "demo-fleet"))
