"""`fabrikam audit`: read manifests or a live cluster, run the checks, print a report, and exit non-zero for CI.

Exit codes: 0 audited (below `--fail-on`), 1 a finding at or above `--fail-on`, 2 the input could not be audited.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import typer
from rich.console import Console

from fabrikam.cli.audit import report
from fabrikam.cli.audit.checks import audit as run_checks
from fabrikam.cli.audit.findings import Severity
from fabrikam.cli.audit.ignore import unknown_rules
from fabrikam.cli.audit.sources import Read, SourceError, locations, read_cluster, read_manifests


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"


def _version() -> str:
    try:
        return version("fabrikam-drone-delivery")
    except PackageNotFoundError:
        return "0.0.0"


def _read(paths: list[str], kubeconfig: Path | None, context: str | None, namespace: str | None) -> Read:
    if paths and (kubeconfig is not None or context is not None):
        raise SourceError("give manifests or a cluster (--kubeconfig/--context), not both")
    if paths:
        return read_manifests(paths, stdin=sys.stdin, namespace=namespace)
    return read_cluster(kubeconfig, context, namespace)


def audit(
    paths: list[str] = typer.Argument(
        None,
        help="Manifest files or folders (*.yaml, *.yml, *.json, recursively); - reads stdin, e.g. "
        "`helm template ... | fabrikam audit -`. None: the live cluster of the kubeconfig.",
        show_default=False,
    ),
    kubeconfig: Path | None = typer.Option(
        None, "--kubeconfig", help="Kubeconfig of the cluster to audit (default $KUBECONFIG or ~/.kube/config)."
    ),
    context: str | None = typer.Option(None, "--context", help="Kubeconfig context (default: the current one)."),
    namespace: str | None = typer.Option(
        None,
        "--namespace",
        "-n",
        help="Cluster: audit this namespace only (default all but kube-*). Manifests: the namespace of objects "
        "that name none (default: default).",
    ),
    output: Output = typer.Option(Output.TABLE, "--output", "-o", help="table, json, or sarif (GitHub code scanning)."),
    fail_on: Severity | None = typer.Option(
        None, "--fail-on", help="Exit 1 when a finding is at or above this severity (low, medium, high, critical)."
    ),
) -> None:
    """Find the seed's problems on a cluster or in manifests, each with the DroneService or DeliveryPlatform field
    that fixes it."""
    err = Console(stderr=True)
    try:
        read = _read(paths or [], kubeconfig, context, namespace)
    except SourceError as error:
        err.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    for note in (*read.notes, *unknown_rules(read.objects)):
        err.print(f"[yellow]warning:[/] {note}", highlight=False, soft_wrap=True)
    findings = run_checks(read.objects)
    where = locations(read.documents)
    if output is Output.JSON:
        typer.echo(report.to_json(findings, where, len(read.documents)))
    elif output is Output.SARIF:
        typer.echo(json.dumps(report.to_sarif(findings, where, version=_version()), indent=2))
    else:
        Console().print(report.table(findings, len(read.documents)))
    if fail_on is not None and any(f.severity.at_least(fail_on) for f in report.to_fix(findings)):
        raise typer.Exit(1)
