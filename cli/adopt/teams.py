"""The team mapping of a DeliveryPlatform for adopted services: which team owns each, in which namespace, with a
quota that holds its services at their autoscalers' maxima; and the platform settings that let them in (their
registries, no bundled service of the same name in the same namespace)."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fabrikam.cli.adopt.notes import Note
from fabrikam.operator.api import (
    BUNDLED_COMPONENTS,
    GROUP,
    DeliveryPlatform,
    DependencyKind,
    DroneService,
    Team,
    parse_quantity,
)
from fabrikam.operator.api.platform import BundledServices, Quota, bundled_field

Obj = dict[str, Any]
TeamOf = str | Mapping[str, str] | Callable[[Obj], str | None]
NAMESPACE_PREFIX = "fabrikam-"
# Where a Deployment says which team it belongs to, most specific first.
TEAM_LABELS = (f"{GROUP}/team", "fabrikam.io/team", "team", "app.kubernetes.io/team")
# Where Helm (3 and 2) and charts following the recommended labels name the release.
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
HELM_RELEASE_LABELS = ("app.kubernetes.io/instance", "release")
COST_CENTER_KEYS = (f"{GROUP}/cost-center", "fabrikam.io/cost-center", "cost-center", "costCenter", "cost_center")
_MAX_LABEL = 63


@dataclass(frozen=True)
class TeamChoice:
    """A Deployment's team and where that was read, to tell the user how to choose otherwise."""

    name: str
    source: str


def dns_label(text: str, max_length: int = _MAX_LABEL) -> str:
    """`text` as a DNS label: lowercase letters, digits and dashes, starting with a letter."""
    label = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not label or not label[0].isalpha():
        label = f"x-{label}".rstrip("-")
    return label[:max_length].rstrip("-")


def _meta(deployment: Obj, field: str) -> dict[str, str]:
    """Labels or annotations of the Deployment and of its pod template (the template's win)."""
    outer = (deployment.get("metadata") or {}).get(field) or {}
    inner = (((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(field) or {}
    return {str(k): str(v) for k, v in (outer | inner).items()}


def choose_team(deployment: Obj, team_of: TeamOf | None) -> TeamChoice:
    """The team of a Deployment: as chosen by the caller, else its team label, else its Helm release (one team per
    release), else its namespace."""
    name = str((deployment.get("metadata") or {}).get("name", ""))
    if isinstance(team_of, str):
        return TeamChoice(dns_label(team_of), "--team")
    chosen = team_of.get(name) if isinstance(team_of, Mapping) else team_of(deployment) if team_of else None
    if chosen:
        return TeamChoice(dns_label(chosen), "--team-of")
    labels, annotations = _meta(deployment, "labels"), _meta(deployment, "annotations")
    for key in TEAM_LABELS:
        if value := labels.get(key) or annotations.get(key):
            return TeamChoice(dns_label(value), f"label {key}")
    release = annotations.get(HELM_RELEASE_ANNOTATION) or next(
        (labels[key] for key in HELM_RELEASE_LABELS if key in labels), None
    )
    if release:
        return TeamChoice(dns_label(release), f"Helm release {release}")
    namespace = str((deployment.get("metadata") or {}).get("namespace") or "default")
    return TeamChoice(dns_label(namespace), f"namespace {namespace} (no team label, no Helm release)")


def cost_center(deployments: Iterable[Obj]) -> str | None:
    for deployment in deployments:
        labels = _meta(deployment, "labels")
        for key in COST_CENTER_KEYS:
            if value := labels.get(key):
                return value
    return None


def _at_peak(services: list[DroneService], resource: str) -> Decimal:
    """Limits of the services at their HPA maxima, each in the middle of a rolling update (25% surge)."""
    return sum(
        (_peak_pods(svc) * parse_quantity(getattr(svc.spec.resources.limits, resource)) for svc in services),
        Decimal(0),
    )


def _peak_pods(svc: DroneService) -> int:
    maximum = svc.spec.autoscaling.max_replicas
    return maximum + math.ceil(maximum / 4)


def quota_for(services: list[DroneService], floor: Quota) -> Quota:
    """`floor`, raised where the services need more to reach their HPA maxima even during a rolling update (in whole
    cores and gibibytes)."""
    cpu = math.ceil(_at_peak(services, "cpu"))
    memory = math.ceil(_at_peak(services, "memory") / Decimal(1024**3))
    pods = sum(_peak_pods(svc) for svc in services)
    return Quota(
        cpu=floor.cpu if parse_quantity(floor.cpu) >= cpu else str(cpu),
        memory=floor.memory if parse_quantity(floor.memory) >= memory * Decimal(1024**3) else f"{memory}Gi",
        pods=max(pods, floor.pods),
    )


def _queue_grants(services: list[DroneService]) -> list[Obj]:
    queues = sorted({use.name for svc in services for use in svc.spec.uses if use.kind is DependencyKind.QUEUE})
    return [{"name": queue, "access": ["send", "receive"]} for queue in queues]


def build_teams(
    services: list[DroneService],
    deployments_of_team: Mapping[str, list[Obj]],
    namespaces: Mapping[str, str],
    existing: DeliveryPlatform | None,
) -> tuple[list[Team], list[Note]]:
    """One Team per team of the adopted services: its namespace, cost center, quota and queue grants (an existing
    team of the platform keeps its own settings and gains only what its new services need)."""
    teams: list[Team] = []
    notes: list[Note] = []
    for name in sorted(namespaces):
        namespace = namespaces[name]
        mine = [svc for svc in services if svc.namespace == namespace]
        current = next((t for t in existing.spec.teams if t.name == name), None) if existing else None
        floor = current.quota if current is not None else Quota()
        quota = quota_for(mine, floor)
        where = f"team {name}"
        if quota != floor:
            notes.append(
                Note(
                    where,
                    "quota",
                    f"cpu {quota.cpu}, memory {quota.memory}, pods {quota.pods}: what its services need at their HPA "
                    f"maxima during a rolling update (was cpu {floor.cpu}, memory {floor.memory}, pods {floor.pods})",
                )
            )
        data: Obj = current.model_dump(mode="json", by_alias=True, exclude_none=True) if current else {}
        if not data:
            found = cost_center(deployments_of_team.get(name, []))
            if found is None:
                found = f"cc-{name}"
                notes.append(
                    Note(
                        where,
                        "costCenter",
                        f"no cost-center label on its Deployments: {found} written; set the team's real cost center",
                    )
                )
            data = {"name": name, "namespace": namespace, "costCenter": found}
        grants = {g["name"]: g for g in _queue_grants(mine)} | {g["name"]: g for g in data.get("queues", [])}
        data |= {"quota": quota.model_dump(mode="json", by_alias=True)}
        if grants:
            data["queues"] = [grants[queue] for queue in sorted(grants)]
        teams.append(Team.model_validate(data))
    return teams, notes


def registry_prefix(repository: str) -> str:
    return repository.split("/", 1)[0] + "/"


def team_entry(team: Team) -> Obj:
    """A spec.teams entry: what differs from the defaults, plus name, namespace, cost center and quota."""
    return team.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True) | {
        "name": team.name,
        "namespace": team.namespace,
        "costCenter": team.cost_center,
        "quota": team.quota.model_dump(mode="json", by_alias=True),
    }


def platform_patch(teams: list[Team], registries: Iterable[str]) -> Obj:
    """The DeliveryPlatform spec that runs the adopted services, as a merge patch of a new platform: their teams,
    their registries, and the bundled services off (the adopted services are what runs; a bundled service is
    turned on once its team moves to it)."""
    return {
        "spec": {
            "allowedRegistries": sorted(set(registries)),
            "teams": [team_entry(team) for team in teams],
            "services": BundledServices.all_disabled(),
        }
    }


def merge_platform(
    document: Mapping[str, Any], teams: list[Team], registries: Iterable[str], services: list[DroneService]
) -> tuple[Obj, list[Note]]:
    """An existing platform's manifest with the adopted teams merged in (same name: replaced by the adopted version,
    which kept its settings), the adopted registries allowed, and each bundled service that would have an adopted
    service's name in the same namespace turned off."""
    merged: Obj = copy.deepcopy(dict(document))
    spec: Obj = merged.setdefault("spec", {})
    existing = DeliveryPlatform.model_validate(document)
    adopted = {team.name: team_entry(team) for team in teams}
    spec["teams"] = [adopted.pop(t["name"], t) for t in spec.get("teams", [])] + list(adopted.values())
    allowed = list(spec.get("allowedRegistries") or [registry_prefix(existing.spec.image.repository)])
    spec["allowedRegistries"] = sorted(set(allowed) | set(registries))
    notes = []
    taken = {(svc.namespace, svc.name) for svc in services}
    for component in BUNDLED_COMPONENTS:
        owner = next((t for t in teams if component in t.services), None) or next(
            (t for t in existing.spec.teams if component in t.services), None
        )
        field = bundled_field(component)
        if owner is None or (owner.namespace, component.value) not in taken:
            continue
        if not existing.spec.services.of(component).enabled:
            continue
        spec.setdefault("services", {}).setdefault(field, {})["enabled"] = False
        notes.append(
            Note(
                f"platform {existing.name}",
                f"spec.services.{field}.enabled",
                f"false: the adopted {owner.namespace}/{component.value} takes its name; turn the bundled one on once "
                "the adopted one is retired",
            )
        )
    DeliveryPlatform.model_validate(merged)
    return merged, notes
