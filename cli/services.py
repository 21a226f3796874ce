"""Commands that run the workloads locally: real redis-server, FerretDB and one process per service."""

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import httpx
import typer

from fabrikam.cli import dashboard
from fabrikam.cli.localstate import DEFAULT_DIRECTORY, STATE_FILE, running_urls
from fabrikam.devcluster.localstack import ALL_SERVICES, Stack, seed_fleet, token

app = typer.Typer(help="Run the Fabrikam services as local processes.", no_args_is_help=True)

OWN_COMMANDS = ("fabrikam.workloads.entrypoint", "redis-server", "ferretdb", "aiosmtpd")
INFRASTRUCTURE = ("mail", "ferretdb", "redis")
# Services with a dead-letter redrive endpoint.
REDRIVABLE = ("notification",)


@app.command()
def up(
    directory: Path = typer.Option(DEFAULT_DIRECTORY, help="Where data, logs and the process list live."),
    drones: int = typer.Option(100, min=0, help="Drones to register in the fleet."),
) -> None:
    """Start redis-server, FerretDB, a local SMTP sink and the eight services on free ports, with bearer-token
    checks on (the account service issues tokens); print the services' URLs as JSON (last line)."""
    state_path = directory / STATE_FILE
    if state_path.exists():
        typer.echo(f"services already up (see {state_path}); run `fabrikam services down` first", err=True)
        raise typer.Exit(1)
    stack = Stack(directory.resolve(), services=ALL_SERVICES, auth=True)
    try:
        stack.start()
        fleet_token = token(stack.services["account"].url, "demo-fleet")
        seed_fleet(stack.services["scheduler"].url, drones, bearer=fleet_token)
    except Exception:
        stack.stop()
        raise
    urls = stack.urls()
    mail = str(stack.mail.maildir) if stack.mail else None
    state_path.write_text(json.dumps({"pids": stack.pids(), "urls": urls, "maildir": mail}, indent=2))
    typer.echo(f"logs in {directory / 'logs'}; {drones} drones registered; emails land in {mail}", err=True)
    typer.echo(json.dumps(urls))


def _ours(pid: int) -> bool:
    """Only signal a pid that still runs one of our commands (pids are reused)."""
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return any(name in command_line for name in OWN_COMMANDS)


def _stop(pid: int, grace: float) -> None:
    if not _ours(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _ours(pid):
        time.sleep(0.1)
    if _ours(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@app.command()
def down(directory: Path = typer.Option(DEFAULT_DIRECTORY, help="The directory given to `up`.")) -> None:
    """Stop the services gracefully (they finish or release in-flight messages), then FerretDB and Redis."""
    state_path = directory / STATE_FILE
    if not state_path.exists():
        typer.echo("services are not up", err=True)
        return
    pids: dict[str, int] = json.loads(state_path.read_text())["pids"]
    for name in [*(n for n in pids if n not in INFRASTRUCTURE), *INFRASTRUCTURE]:
        if name in pids:
            _stop(pids[name], grace=20.0)
    state_path.unlink()
    typer.echo("services stopped", err=True)


@app.command(name="token")
def print_token(
    directory: Path = typer.Option(DEFAULT_DIRECTORY, help="The directory given to `up`."),
    client: str = typer.Option("demo-business", help="demo-business (business admin) or demo-fleet (drones)."),
) -> None:
    """Print a bearer token for the seeded demo business (local issuer only)."""
    typer.echo(token(running_urls(directory)["account"], client))


@app.command()
def redrive(
    service: str = typer.Argument(..., help="The service whose dead letters to send again: notification."),
    directory: Path = typer.Option(DEFAULT_DIRECTORY, help="The directory given to `up`."),
) -> None:
    """Move a service's dead-lettered messages back to its queue (say, after an email outage); print how many."""
    if service not in REDRIVABLE:
        typer.echo(f"only {', '.join(REDRIVABLE)} can redrive dead letters", err=True)
        raise typer.Exit(2)
    urls = running_urls(directory)
    response = httpx.post(
        f"{urls[service]}/v1/admin/dead-letters/redrive",
        headers={"Authorization": f"Bearer {token(urls['account'], 'demo-fleet')}"},
        timeout=30,
    )
    response.raise_for_status()
    typer.echo(json.dumps(response.json()))


app.command(name="dashboard")(dashboard.dashboard)
