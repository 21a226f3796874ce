"""Operator commands: generate the CRDs, and render manifests offline exactly as the operator would apply them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
import yaml

from fabrikam.operator.api.crd import generated_files
from fabrikam.operator.render.documents import DocumentError, render_documents
from fabrikam.operator.render.monitoring import MonitoringApis

# The chart installs its copy; config/crd/ is the kustomize base for GitOps repositories without Helm.
CRD_DIRS = (Path("crds"), Path("charts/operator/crds"), Path("config/crd"))


def crds(
    write: bool = typer.Option(
        False, "--write", help="Write crds/, charts/operator/crds/ and config/crd/ instead of printing."
    ),
    root: Path = typer.Option(Path("."), "--root", help="Repository root to write into."),
) -> None:
    """Print (or write) the CustomResourceDefinitions generated from the API models."""
    files = generated_files()
    if not write:
        typer.echo("".join(files.values()), nl=False)
        return
    for folder in CRD_DIRS:
        target = root / folder
        target.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (target / name).write_text(text)
            typer.echo(f"wrote {target / name}", err=True)


def _documents(filename: str) -> list[dict[str, Any]]:
    try:
        text = sys.stdin.read() if filename == "-" else Path(filename).read_text()
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except (OSError, yaml.YAMLError) as error:
        typer.echo(f"error: {filename}: {error}", err=True)
        raise typer.Exit(1) from None
    if not all(isinstance(d, dict) for d in documents):
        typer.echo(f"error: {filename}: every document must be a Kubernetes object (a mapping)", err=True)
        raise typer.Exit(1)
    return documents


def render(
    filenames: list[str] = typer.Option(
        ..., "-f", "--filename", help="Manifest file (multi-document YAML), repeatable; - for stdin."
    ),
    without_monitoring_crds: bool = typer.Option(
        False,
        "--without-monitoring-crds",
        help="As in a cluster without the Prometheus Operator's CRDs: no PodMonitor, PrometheusRule or "
        "AlertmanagerConfig (the dashboards stay).",
    ),
) -> None:
    """Print, as multi-document YAML, every object the operator would create for the objects in the files, their
    monitoring included (in a cluster with the Prometheus Operator's CRDs, unless told otherwise)."""
    documents = [d for filename in filenames for d in _documents(filename)]
    apis = MonitoringApis()
    if without_monitoring_crds:
        apis = MonitoringApis(prometheus_rule=False, pod_monitor=False, alertmanager_config=False)
    try:
        rendered = render_documents(documents, apis=apis)
    except DocumentError as error:
        for line in str(error).splitlines():
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(1) from None
    for what, problem in rendered.problems:
        level = "error" if problem.fatal else "warning"
        typer.echo(f"{level}: {what}: {problem}", err=True)
    typer.echo(yaml.safe_dump_all(rendered.objects, sort_keys=False, width=120), nl=False)
    if rendered.fatal:
        raise typer.Exit(1)
