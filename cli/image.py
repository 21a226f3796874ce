"""`fabrikam image ...` and `fabrikam registry ...`: the project's images, built with buildah, in a local registry.

Progress goes to stderr; stdout carries only the image references, so scripts can read them.
"""

import dataclasses
import json
import time

import typer
from rich.console import Console
from rich.markup import escape

from fabrikam.devcluster import backing_images, images, registry, toolchain

app = typer.Typer(
    help="Build the project's images with buildah (no Docker) into the local registry.", no_args_is_help=True
)
registry_app = typer.Typer(help="The per-machine OCI registry on loopback that holds the images.", no_args_is_help=True)
_err = Console(stderr=True, soft_wrap=True)

_FAILURES = (images.ImageError, registry.RegistryError, toolchain.ToolchainError)


def _progress(message: str) -> None:
    _err.print(f"[bold cyan]image[/] {escape(message)}", highlight=False)


def _fail(error: Exception) -> typer.Exit:
    _err.print(f"[red]{type(error).__name__}:[/] {escape(str(error))}", highlight=False)
    return typer.Exit(1)


@app.command()
def build() -> None:
    """Build the Dockerfile's operator and workloads targets (only when their inputs changed); print both
    references by digest, the operator's first."""
    started = time.monotonic()
    try:
        built = images.build_images(_progress)
    except _FAILURES as error:
        raise _fail(error) from error
    _progress(f"done in {time.monotonic() - started:.1f}s")
    typer.echo(built.operator)
    typer.echo(built.workloads)


@app.command()
def base() -> None:
    """Build (once) the Python base image from Debian packages; print its reference by digest."""
    try:
        typer.echo(images.base_image(_progress))
    except _FAILURES as error:
        raise _fail(error) from error


@app.command()
def backing() -> None:
    """Build (once) the backing stores' images the operator runs in the cluster (Redis, PostgreSQL, FerretDB, an SMTP
    sink); print their references by digest as JSON (keys redis, postgres, mongo, mail)."""
    try:
        built = backing_images.build(_progress)
    except _FAILURES as error:
        raise _fail(error) from error
    typer.echo(json.dumps(dataclasses.asdict(built), indent=2))


@app.command()
def pause() -> None:
    """Build (once) the Kubernetes pause image from the pinned pause.c; print its reference by digest."""
    try:
        typer.echo(images.pause_image(_progress))
    except _FAILURES as error:
        raise _fail(error) from error


@registry_app.command()
def up() -> None:
    """Start the registry unless it runs; print its address (`127.0.0.1:PORT`, the same port every time)."""
    try:
        running = registry.up(_progress)
    except _FAILURES as error:
        raise _fail(error) from error
    typer.echo(running.address)


@registry_app.command()
def down() -> None:
    """Stop the registry; its images and port are kept for the next `up`."""
    if not registry.down(_progress):
        _progress("the registry was not running")


@registry_app.command()
def status() -> None:
    """Tell whether the registry runs, where, and where its storage is (exit 3 when it does not run)."""
    current = registry.status()
    typer.echo(f"{'registry':<10} {'running' if current.running else 'not running'}")
    typer.echo(f"{'address':<10} {current.address or '(no port chosen yet)'}")
    typer.echo(f"{'storage':<10} {current.directory / 'storage'}")
    typer.echo(f"{'log':<10} {current.log}")
    if not current.running:
        raise typer.Exit(3)
