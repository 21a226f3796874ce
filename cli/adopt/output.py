"""The files `fabrikam adopt` writes: one YAML per DroneService, in a folder per team (so a team moves with one
`kubectl apply -f`), its notes as comments on top; the team mapping; and the merged platform when one was given."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from fabrikam.cli.adopt.convert import ADOPTED_FROM, Adoption
from fabrikam.cli.adopt.notes import Note

PLATFORM_TEAMS = "platform-teams.yaml"
PLATFORM = "platform.yaml"


def _comments(lines: Iterable[str]) -> str:
    wrapped = [
        part for line in lines for part in textwrap.wrap(line, 116, subsequent_indent="    ", break_on_hyphens=False)
    ]
    return "".join(f"# {line}\n" for line in wrapped)


def _yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, width=120, explicit_start=True)


def service_text(service: dict[str, Any], notes: Iterable[Note]) -> str:
    origin = service["metadata"]["annotations"][ADOPTED_FROM]
    header = [f"{service['kind']} adopted from {origin} by `fabrikam adopt`."]
    header += [f"{note.field}: {note.message}" for note in notes]
    return _comments(header) + _yaml(service)


def platform_teams_text(adoption: Adoption, platform: str) -> str:
    header = [
        f"The spec of DeliveryPlatform {platform} that runs the adopted services: their teams (one namespace each, a "
        "quota that holds their services at their HPA maxima), their image registries, and the bundled services off.",
        f"A merge patch for a new platform: `kubectl patch deliveryplatform {platform} --type merge --patch-file "
        f"{PLATFORM_TEAMS}` replaces spec.teams, spec.allowedRegistries and turns the bundled services off. For an "
        "existing platform, run `fabrikam adopt --platform-file` with its manifest instead.",
    ]
    return _comments(header) + _yaml(adoption.platform_patch)


def write(adoption: Adoption, directory: Path, *, platform: str) -> list[Path]:
    """Writes every file of the adoption under `directory`; returns their paths."""
    written: list[Path] = []
    for service in adoption.services:
        metadata = service["metadata"]
        workload = metadata["annotations"][ADOPTED_FROM].removeprefix("Deployment ")
        path = directory / adoption.team_of(service) / f"{metadata['name']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(service_text(service, [n for n in adoption.notes if n.workload == workload]))
        written.append(path)
    directory.mkdir(parents=True, exist_ok=True)
    teams = directory / PLATFORM_TEAMS
    teams.write_text(platform_teams_text(adoption, platform))
    written.append(teams)
    if adoption.platform is not None:
        merged = directory / PLATFORM
        merged.write_text(
            _comments([f"DeliveryPlatform {platform} with the adopted teams merged in by `fabrikam adopt`."])
            + _yaml(adoption.platform)
        )
        written.append(merged)
    return written
