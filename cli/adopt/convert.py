"""Deployments, with their autoscalers, Services, Ingresses, ConfigMaps and Secrets, to the DroneServices and the
team mapping of a DeliveryPlatform that reproduce what they run.

Pure: the objects and the registries' answers come in, manifests and notes go out. Every manifest went through the
API models before it is returned, so what `fabrikam adopt` writes is what the CRDs accept."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from fabrikam.cli.adopt import pod
from fabrikam.cli.adopt.environment import Peer, Scope, convert_environment
from fabrikam.cli.adopt.images import ImageName, InvalidImage, Resolution, parse_image
from fabrikam.cli.adopt.notes import Note
from fabrikam.cli.adopt.teams import (
    NAMESPACE_PREFIX,
    TeamChoice,
    TeamOf,
    build_teams,
    choose_team,
    dns_label,
    merge_platform,
    platform_patch,
    registry_prefix,
    team_entry,
)
from fabrikam.operator.api import GROUP, DeliveryPlatform, DroneService, DroneServiceSpec, Resources
from fabrikam.operator.api.platform import RESERVED_NAMESPACES
from fabrikam.operator.api.service import MAX_NAME_LENGTH
from fabrikam.operator.render.documents import validation_messages

Obj = dict[str, Any]
DEFAULT_PLATFORM = "fabrikam"
# Written when the registry did not tell the digest: valid for the CRD, never pullable, so nothing runs by accident.
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
ADOPTED_FROM = f"{GROUP}/adopted-from"
ADOPTED_IMAGE = f"{GROUP}/adopted-image"
KEY_VAULT_PLACEHOLDER = "<key-vault>"
NOT_ADOPTED_KINDS = ("StatefulSet", "DaemonSet", "CronJob", "Job", "ReplicaSet", "Pod")
_EXPOSE_PATH = re.compile(r"^/[A-Za-z0-9/_.-]*$")
_LEAN_KEPT = ("component", "port", "autoscaling", "resources")


class AdoptionError(ValueError):
    """The platform to merge into is not a valid DeliveryPlatform; the message names its fields."""


@dataclass(frozen=True)
class Adoption:
    """What adoption wrote: DroneService manifests, their teams (spec.teams entries), the DeliveryPlatform spec as
    a merge patch of a new platform, the given platform merged (when one was given), and the notes."""

    services: tuple[Obj, ...]
    teams: tuple[Obj, ...]
    platform_patch: Obj
    platform: Obj | None
    notes: tuple[Note, ...]

    def team_of(self, service: Obj) -> str:
        namespace = service["metadata"]["namespace"]
        return next(str(t["name"]) for t in self.teams if t["namespace"] == namespace)


def _key(obj: Obj) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or "default"), str(metadata.get("name", ""))


@dataclass(frozen=True)
class _Index:
    """The objects read, by kind; ConfigMaps and Secrets by (namespace, name)."""

    deployments: list[Obj]
    autoscalers: list[Obj]
    services: list[Obj]
    ingresses: list[Obj]
    config_maps: dict[tuple[str, str], Obj]
    secrets: dict[tuple[str, str], Obj]
    others: list[Obj]

    @classmethod
    def of(cls, objects: Iterable[Obj]) -> _Index:
        by_kind: dict[str, list[Obj]] = {}
        for obj in objects:
            by_kind.setdefault(str(obj.get("kind", "")), []).append(obj)
        return cls(
            deployments=sorted(by_kind.get("Deployment", []), key=_key),
            autoscalers=by_kind.get("HorizontalPodAutoscaler", []),
            services=by_kind.get("Service", []),
            ingresses=by_kind.get("Ingress", []),
            config_maps={_key(o): o for o in by_kind.get("ConfigMap", [])},
            secrets={_key(o): o for o in by_kind.get("Secret", [])},
            others=[o for kind in NOT_ADOPTED_KINDS for o in by_kind.get(kind, [])],
        )


@dataclass(frozen=True)
class _Plan:
    """Where one Deployment goes: its team, that team's namespace, and its DroneService name."""

    deployment: Obj
    workload: str
    source_namespace: str
    team: TeamChoice
    peer: Peer

    @property
    def template_labels(self) -> dict[str, str]:
        template = (self.deployment.get("spec") or {}).get("template") or {}
        return {str(k): str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()}


@dataclass
class _Draft:
    """A DroneService spec before the calls between drafts are wired and the models check it."""

    plan: _Plan
    spec: Obj
    annotations: dict[str, str]
    calls: set[Peer] = field(default_factory=set)
    callers: list[Obj] = field(default_factory=list)


def _team_namespace(team: str, prefix: str, existing: DeliveryPlatform | None) -> str:
    current = next((t for t in existing.spec.teams if t.name == team), None) if existing else None
    if current is not None:
        return current.namespace
    # A team already named like its namespace (the seed's one Helm release, `fabrikam`) is not prefixed twice.
    namespace = team if team.startswith(prefix) or f"{team}-" == prefix else dns_label(prefix + team)
    if namespace in RESERVED_NAMESPACES or namespace.startswith("kube-"):
        namespace = dns_label(NAMESPACE_PREFIX + namespace)
    return namespace


def _plans(
    index: _Index, team_of: TeamOf | None, existing: DeliveryPlatform | None, prefix: str, notes: list[Note]
) -> list[_Plan]:
    plans: list[_Plan] = []
    taken: set[Peer] = set()
    for deployment in index.deployments:
        namespace, name = _key(deployment)
        workload = f"{namespace}/{name}"
        team = choose_team(deployment, team_of)
        target = _team_namespace(team.name, prefix, existing)
        peer = Peer(target, dns_label(name, MAX_NAME_LENGTH))
        if peer in taken:
            peer = Peer(target, dns_label(f"{namespace}-{name}", MAX_NAME_LENGTH))
        if peer.name != name:
            notes.append(
                Note(
                    workload,
                    "metadata.name",
                    f"{peer.name}: a DroneService name is a DNS label of at most "
                    f"{MAX_NAME_LENGTH} characters, unique in its namespace",
                )
            )
        taken.add(peer)
        plans.append(_Plan(deployment, workload, namespace, team, peer))
    return plans


def _team_notes(plans: list[_Plan]) -> list[Note]:
    """How each team was chosen, once per team and source, unless the user chose it."""
    sources: dict[tuple[str, str], list[_Plan]] = {}
    for plan in plans:
        if plan.team.source not in ("--team", "--team-of"):
            sources.setdefault((plan.team.name, plan.team.source), []).append(plan)
    return [
        Note(
            f"team {team}",
            "name",
            f"from the {source} of {', '.join(p.workload for p in mine)} (namespace {mine[0].peer.namespace}); "
            "--team NAME or --team-of DEPLOYMENT=TEAM chooses otherwise",
        )
        for (team, source), mine in sorted(sources.items())
    ]


def _routes(index: _Index, plans: list[_Plan], notes: list[Note]) -> dict[tuple[str, str], Peer]:
    """The old Services in front of adopted Deployments, and where those run now."""
    routes: dict[tuple[str, str], Peer] = {}
    for service in index.services:
        selector = {str(k): str(v) for k, v in ((service.get("spec") or {}).get("selector") or {}).items()}
        namespace, name = _key(service)
        plan = next(
            (
                p
                for p in plans
                if selector and p.source_namespace == namespace and selector.items() <= p.template_labels.items()
            ),
            None,
        )
        if plan is None:
            continue
        routes[(namespace, name)] = plan.peer
        kind = (service.get("spec") or {}).get("type", "ClusterIP")
        if kind in ("LoadBalancer", "NodePort"):
            notes.append(
                Note(
                    plan.workload,
                    f"Service {name}",
                    f"was type {kind}, reached from outside the cluster directly: a DroneService is reached only "
                    "in the cluster or through the platform's ingress; if no Ingress led to it, set spec.expose.path "
                    "and move its clients to the platform's host before the old Service goes",
                )
            )
    return routes


def _autoscaler(index: _Index, namespace: str, name: str) -> Obj | None:
    for hpa in index.autoscalers:
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if _key(hpa)[0] == namespace and target.get("kind") == "Deployment" and target.get("name") == name:
            return hpa
    return None


def _cpu_target(spec: Obj, workload: str, notes: list[Note]) -> int | None:
    """The CPU utilization an HPA (autoscaling/v1, v2beta*, v2) aims for; other metrics are said to be dropped."""
    target = spec.get("targetCPUUtilizationPercentage")
    for metric in spec.get("metrics") or []:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            target = (resource.get("target") or {}).get("averageUtilization") or resource.get(
                "targetAverageUtilization"
            )
        else:
            described = resource.get("name") or metric.get("type")
            notes.append(
                Note(
                    workload, "HorizontalPodAutoscaler", f"scaled on {described} too: the operator's HPA scales on CPU"
                )
            )
    return int(target) if target is not None else None


def _autoscaling(deployment: Obj, hpa: Obj | None, workload: str) -> tuple[Obj, list[Note]]:
    """HPA bounds: the existing HPA's, else the fixed replica count as minimum and maximum; at least 2 pods."""
    notes: list[Note] = []
    scaling: Obj = {}
    if hpa is not None:
        spec = hpa.get("spec") or {}
        minimum, maximum = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
        target = _cpu_target(spec, workload, notes)
        if target is not None:
            bounded = min(max(target, 10), 95)
            if bounded != target:
                notes.append(
                    Note(workload, "HorizontalPodAutoscaler", f"CPU target {target}% outside 10..95: {bounded}%")
                )
            scaling["targetCpuUtilizationPercentage"] = bounded
        window = ((spec.get("behavior") or {}).get("scaleDown") or {}).get("stabilizationWindowSeconds")
        if window is not None:
            scaling["scaleDownStabilizationSeconds"] = min(max(int(window), 0), 3600)
    else:
        replicas = (deployment.get("spec") or {}).get("replicas")
        minimum = maximum = int(replicas if replicas is not None else 1)
        if minimum >= 2:
            notes.append(
                Note(
                    workload,
                    "replicas",
                    f"fixed {minimum} replicas, no HPA: autoscaling minReplicas = maxReplicas = {minimum}; raise "
                    "maxReplicas to let it scale with load",
                )
            )
    if minimum < 2:
        notes.append(
            Note(workload, "replicas", f"{minimum}: minReplicas 2, so one pod can fail or be evicted without an outage")
        )
    minimum = min(max(minimum, 2), 100)
    maximum = min(max(maximum, minimum), 500)
    return {"minReplicas": minimum, "maxReplicas": maximum} | scaling, notes


def _expose(plan: _Plan, index: _Index, routes: Mapping[tuple[str, str], Peer]) -> tuple[Obj | None, list[Note]]:
    """The Ingress path that led to the Deployment, published through the platform's ingress instead."""
    mine = {
        name for (namespace, name), peer in routes.items() if peer == plan.peer and namespace == plan.source_namespace
    }
    paths: list[tuple[str, str, str, str, dict[str, str]]] = []
    for ingress in index.ingresses:
        if _key(ingress)[0] != plan.source_namespace:
            continue
        annotations = (ingress.get("metadata") or {}).get("annotations") or {}
        for rule in (ingress.get("spec") or {}).get("rules") or []:
            for entry in (rule.get("http") or {}).get("paths") or []:
                backend = entry.get("backend") or {}
                if ((backend.get("service") or {}).get("name") or backend.get("serviceName")) in mine:
                    paths.append(
                        (
                            str(rule.get("host", "*")),
                            str(entry.get("path") or "/"),
                            str(entry.get("pathType", "Prefix")),
                            _key(ingress)[1],
                            annotations,
                        )
                    )
    if not paths:
        return None, []
    host, path, path_type, ingress_name, annotations = paths[0]
    notes = [
        Note(
            plan.workload,
            f"Ingress {other[3]}",
            f"path {other[0]}{other[1]} dropped: a DroneService is published on one path",
        )
        for other in paths[1:]
    ]
    if not _EXPOSE_PATH.match(path):
        notes.append(
            Note(
                plan.workload,
                f"Ingress {ingress_name}",
                f"path {path!r} is a pattern, not a path: not published; set spec.expose.path by hand",
            )
        )
        return None, notes
    notes.append(
        Note(
            plan.workload,
            f"Ingress {ingress_name}",
            f"published at {path} on the platform's spec.ingress.host (it was {host}{path}); the traffic switch moves "
            "that host to the platform's ingress",
        )
    )
    if any(key.endswith("/rewrite-target") for key in annotations):
        notes.append(
            Note(
                plan.workload,
                f"Ingress {ingress_name}",
                f"rewrote the path: set spec.expose.stripPrefix if the service expects requests without {path}",
            )
        )
    return {"path": path, "pathType": "Exact" if path_type == "Exact" else "Prefix"}, notes


def _digest_command(name: ImageName) -> str:
    if name.registry.endswith(".azurecr.io"):
        registry = name.registry.split(".", 1)[0]
        return f"az acr repository show -n {registry} --image {name.path}:{name.reference} --query digest -o tsv"
    return f"crane digest {name}"


def _image(
    container: Obj, digests: Mapping[str, Resolution] | None, workload: str
) -> tuple[Obj | None, dict[str, str], list[Note]]:
    """The image by digest: as written, else as the registry answered, else the placeholder with a note."""
    image = str(container.get("image", ""))
    try:
        name = parse_image(image)
    except InvalidImage as error:
        return None, {}, [Note(workload, "image", f"{error}: not adopted")]
    if name.digest is not None:
        return {"repository": name.repository, "digest": name.digest}, {}, []
    resolution = digests.get(image) if digests is not None else None
    if resolution is not None and resolution.digest is not None:
        return {"repository": name.repository, "digest": resolution.digest}, {}, []
    reason = "digest resolution was off (--no-resolve-digests)" if digests is None else "not looked up"
    if resolution is not None:
        reason = resolution.reason
    note = Note(
        workload,
        "image",
        f"{image}: {reason}; spec.image.digest is a placeholder of zeros that no node can pull: set the digest before "
        f"applying ({_digest_command(name)})",
    )
    return {"repository": name.repository, "digest": PLACEHOLDER_DIGEST}, {ADOPTED_IMAGE: image}, [note]


def _strings(values: Any, limit: int, workload: str, field: str, notes: list[Note]) -> list[str]:
    items = [str(v) for v in values or []]
    if len(items) > limit or any(len(item) > 1024 for item in items):
        notes.append(Note(workload, field, f"more than {limit} items or one over 1024 characters: dropped"))
        return []
    return items


def _draft(
    plan: _Plan,
    index: _Index,
    routes: Mapping[tuple[str, str], Peer],
    *,
    platform: str,
    defaults: Resources,
    digests: Mapping[str, Resolution] | None,
    key_vault: str,
    notes: list[Note],
) -> _Draft | None:
    workload = plan.workload
    container, found = pod.main_container(plan.deployment, workload)
    notes += found
    if container is None:
        return None
    image, annotations, found = _image(container, digests, workload)
    notes += found
    if image is None:
        return None
    scope = Scope(
        workload=workload,
        namespace=plan.source_namespace,
        deployment=_key(plan.deployment)[1],
        container=str(container.get("name", "")),
        service=plan.peer.name,
        key_vault=key_vault,
        config_maps=index.config_maps,
        secrets=index.secrets,
        services=frozenset(_key(s) for s in index.services),
        routes=routes,
    )
    env = convert_environment(container, scope)
    mounted = pod.volumes(container, plan.deployment, scope)
    port, port_notes = pod.http_port(container, workload)
    resources, resource_notes = pod.resources(container, defaults, workload)
    probes, probe_notes = pod.probes(container, workload)
    spot, placement_notes = pod.interruptible(plan.deployment, workload)
    autoscaling, scaling_notes = _autoscaling(
        plan.deployment, _autoscaler(index, plan.source_namespace, scope.deployment), workload
    )
    expose, expose_notes = _expose(plan, index, routes)
    notes += [
        *port_notes,
        *resource_notes,
        *probe_notes,
        *scaling_notes,
        *env.notes,
        *mounted.notes,
        *pod.hardening(plan.deployment, container, workload),
        *placement_notes,
        *expose_notes,
    ]
    secrets = sorted(set(env.secrets) | set(mounted.secrets))
    spec: Obj = {
        "platformRef": {"name": platform},
        "component": "custom",
        "image": image,
        "command": _strings(container.get("command"), 16, workload, "command", notes),
        "args": _strings(container.get("args"), 64, workload, "args", notes),
        "port": port,
        "autoscaling": autoscaling,
        "resources": resources,
        "uses": [{"kind": kind.value, "name": name} for kind, name in sorted(env.uses)],
        "secrets": [{"name": name} for name in secrets],
        "placement": {"interruptible": spot},
        "probes": probes,
        "config": [{"name": name, "value": value} for name, value in sorted(env.config.items())],
    }
    if expose is not None:
        spec["expose"] = expose
    annotations = {ADOPTED_FROM: f"Deployment {workload}"} | annotations
    return _Draft(plan, spec, annotations, calls={peer for peer in env.calls if peer != plan.peer})


def _wire_calls(drafts: list[_Draft]) -> None:
    """Each call in spec.calls, and the callee's consent in its allowedCallers when it is in another namespace."""
    by_peer = {draft.plan.peer: draft for draft in drafts}
    for draft in drafts:
        me = draft.plan.peer
        draft.spec["calls"] = [
            {"name": peer.name} | ({"namespace": peer.namespace} if peer.namespace != me.namespace else {})
            for peer in sorted(draft.calls)
        ]
        for peer in sorted(draft.calls):
            callee = by_peer.get(peer)
            if callee is not None and peer.namespace != me.namespace:
                callee.callers.append({"namespace": me.namespace, "name": me.name})
    for draft in drafts:
        draft.spec["allowedCallers"] = draft.callers


def _manifest(svc: DroneService) -> Obj:
    """The DroneService as written: what differs from the CRD defaults, plus what a reader looks for first."""
    full = svc.model_dump(mode="json", by_alias=True, exclude_none=True)
    lean = svc.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    spec = lean["spec"] | {key: full["spec"][key] for key in _LEAN_KEPT}
    return {
        "apiVersion": full["apiVersion"],
        "kind": full["kind"],
        "metadata": lean["metadata"],
        "spec": {key: spec[key] for key in full["spec"] if key in spec},
    }


def _validated(draft: _Draft, notes: list[Note]) -> DroneService | None:
    document = {
        "metadata": {
            "name": draft.plan.peer.name,
            "namespace": draft.plan.peer.namespace,
            "annotations": draft.annotations,
        },
        "spec": draft.spec,
    }
    try:
        return DroneService.model_validate(document)
    except ValidationError as error:
        for line in validation_messages(error, f"DroneService {draft.plan.peer.namespace}/{draft.plan.peer.name}"):
            notes.append(Note(draft.plan.workload, "DroneService", f"not adopted: {line}"))
        return None


def default_resources() -> Resources:
    """A DroneService's resources when its spec names none: the platform's defaults."""
    resources: Resources = DroneServiceSpec.model_fields["resources"].get_default(call_default_factory=True)
    return resources


def adopt(
    objects: Iterable[Obj],
    *,
    team_of: TeamOf | None = None,
    platform: Mapping[str, Any] | None = None,
    platform_name: str = DEFAULT_PLATFORM,
    resources: Resources | None = None,
    digests: Mapping[str, Resolution] | None = None,
    namespace_prefix: str = NAMESPACE_PREFIX,
) -> Adoption:
    """The DroneServices and team mapping reproducing the Deployments among `objects`.

    `team_of` is one team for all, a Deployment name -> team mapping, or a function of the Deployment (None or a
    missing name: its team label, else its Helm release, else its namespace). `platform` is an existing
    DeliveryPlatform manifest to reference and merge the teams into (else a new one named `platform_name`).
    `digests` are the registries' answers by image as written (None: resolution was off). `resources` replace the
    CRD's defaults for containers that set none."""
    existing = None
    if platform is not None:
        try:
            existing = DeliveryPlatform.model_validate(platform)
        except ValidationError as error:
            raise AdoptionError("\n".join(validation_messages(error, "DeliveryPlatform"))) from None
    name = existing.name if existing is not None else platform_name
    key_vault = (
        existing.spec.azure.key_vault_name if existing and existing.spec.azure else None
    ) or KEY_VAULT_PLACEHOLDER
    index = _Index.of(objects)
    notes = [
        Note(f"{_key(o)[0]}/{_key(o)[1]}", str(o.get("kind")), "not adopted: only Deployments become DroneServices")
        for o in index.others
    ]
    plans = _plans(index, team_of, existing, namespace_prefix, notes)
    notes += _team_notes(plans)
    routes = _routes(index, plans, notes)
    defaults = resources or default_resources()
    drafts = [
        draft
        for plan in plans
        if (
            draft := _draft(
                plan, index, routes, platform=name, defaults=defaults, digests=digests, key_vault=key_vault, notes=notes
            )
        )
        is not None
    ]
    _wire_calls(drafts)
    services = [svc for draft in drafts if (svc := _validated(draft, notes)) is not None]
    namespaces = {plan.team.name: plan.peer.namespace for plan in plans}
    deployments_of_team: dict[str, list[Obj]] = {}
    for plan in plans:
        deployments_of_team.setdefault(plan.team.name, []).append(plan.deployment)
    teams, team_notes = build_teams(services, deployments_of_team, namespaces, existing)
    notes += team_notes
    registries = {registry_prefix(svc.spec.image.repository) for svc in services}
    merged = None
    if platform is not None:
        merged, merge_notes = merge_platform(platform, teams, registries, services)
        notes += merge_notes
    return Adoption(
        services=tuple(_manifest(svc) for svc in services),
        teams=tuple(team_entry(t) for t in teams),
        platform_patch=platform_patch(teams, registries),
        platform=merged,
        notes=tuple(notes),
    )
