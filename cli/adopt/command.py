"""`fabrikam adopt`: reads Deployments (manifests or a live namespace), asks their registries for digests, writes
the DroneServices and team mapping that reproduce them, and prints what changed on the way."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from fabrikam.cli.adopt import output, registry, sources
from fabrikam.cli.adopt.convert import DEFAULT_PLATFORM, AdoptionError, adopt
from fabrikam.cli.adopt.notes import Note

_console = Console()


def _team_mapping(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        deployment, sep, team = pair.partition("=")
        if not sep or not deployment or not team:
            raise typer.BadParameter(f"{pair!r}: expected DEPLOYMENT=TEAM", param_hint="--team-of")
        mapping[deployment] = team
    return mapping


def _read(
    paths: list[str], kubeconfig: Path | None, context: str | None, namespace: str | None
) -> list[dict[str, Any]]:
    if not paths:
        return sources.read_cluster(kubeconfig=kubeconfig, context=context, namespace=namespace)
    # `helm template` leaves the namespace out: the reader puts such objects in the one they would be installed into.
    return sources.read_manifests(paths, stdin=sys.stdin, namespace=namespace)


def notes_table(notes: list[Note]) -> Table:
    table = Table(title="What changed on the way", show_lines=True, expand=True)
    table.add_column("Deployment", no_wrap=True)
    table.add_column("Field", no_wrap=True)
    table.add_column("Note")
    for note in notes:
        table.add_row(note.workload, note.field, note.message)
    return table


def adopt_command(
    paths: list[str] = typer.Argument(
        None,
        help="Manifest files or folders (read recursively), - for stdin (`helm template ... | fabrikam adopt -`). "
        "None: the Deployments of a live namespace.",
        show_default=False,
    ),
    kubeconfig: Path | None = typer.Option(None, "--kubeconfig", help="Kubeconfig of the live cluster."),
    context: str | None = typer.Option(None, "--context", help="Kubeconfig context of the live cluster."),
    namespace: str | None = typer.Option(
        None,
        "-n",
        "--namespace",
        help="Live: the namespace read (default: the context's). Manifests: the namespace of objects that name none "
        "(default: default), as `helm template` leaves them.",
    ),
    team: str | None = typer.Option(None, "--team", help="One team for every Deployment."),
    team_of: list[str] = typer.Option(
        [], "--team-of", help="DEPLOYMENT=TEAM, repeatable; others: their team label, else their Helm release."
    ),
    platform: str = typer.Option(DEFAULT_PLATFORM, "--platform", help="The DeliveryPlatform the services belong to."),
    platform_file: Path | None = typer.Option(
        None,
        "--platform-file",
        help="An existing DeliveryPlatform manifest: its name, teams and Key Vault are used, and platform.yaml is "
        "written with the adopted teams merged in.",
    ),
    resolve_digests: bool = typer.Option(
        True, "--resolve-digests/--no-resolve-digests", help="Ask each image's registry for the digest of its tag."
    ),
    registry_timeout: float = typer.Option(5.0, "--registry-timeout", help="Seconds to wait for each registry."),
    output_dir: Path = typer.Option(Path("adopted"), "-o", "--output", help="Folder to write into."),
) -> None:
    """Write the DroneServices and the team mapping that reproduce existing Deployments: image by digest, port,
    environment (secrets as Key Vault references, never copied), resources, probes, replicas as an HPA."""
    if team is not None and team_of:
        raise typer.BadParameter("give --team or --team-of, not both", param_hint="--team")
    try:
        objects = _read(paths or [], kubeconfig, context, namespace)
        platform_document = yaml.safe_load(platform_file.read_text()) if platform_file is not None else None
    except (sources.SourceError, OSError, yaml.YAMLError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    images = [
        str(container.get("image", ""))
        for obj in objects
        if obj.get("kind") == "Deployment"
        for container in (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    ]
    digests = registry.lookup_digests(images, timeout=registry_timeout) if resolve_digests else None
    try:
        adoption = adopt(
            objects,
            team_of=team if team is not None else _team_mapping(team_of) or None,
            platform=platform_document,
            platform_name=platform,
            digests=digests,
        )
    except AdoptionError as error:
        for line in str(error).splitlines():
            typer.echo(f"error: {platform_file}: {line}", err=True)
        raise typer.Exit(1) from None
    name = str(platform_document["metadata"]["name"]) if platform_document else platform
    written = output.write(adoption, output_dir, platform=name)
    notes = sorted(adoption.notes, key=lambda note: note.workload.startswith(("team ", "platform ")))
    if notes:
        _console.print(notes_table(notes))
    for path in written:
        typer.echo(f"wrote {path}", err=True)
    teams = len(adoption.teams)
    typer.echo(
        f"{len(adoption.services)} DroneServices in {teams} team{'s' * (teams != 1)}, {len(notes)} notes: read them "
        f"before applying (each service's are also at the top of its file)",
        err=True,
    )
