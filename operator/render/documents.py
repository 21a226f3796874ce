"""Renders a set of manifests offline, the way the operator would in a cluster: what `fabrikam render` prints.

A DeliveryPlatform expands into its teams and bundled services; every DroneService (bundled or a team's own)
is rendered against the platform it references, with all the file's services as its peers. What watches each of them
(dashboards, and the Prometheus Operator's kinds the cluster is said to serve) comes from the same functions the
handlers apply it with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from fabrikam.operator.api import API_VERSION, DeliveryPlatform, DroneService
from fabrikam.operator.api.platform import KIND as PLATFORM_KIND
from fabrikam.operator.api.service import KIND as SERVICE_KIND
from fabrikam.operator.render.labels import Obj
from fabrikam.operator.render.monitoring import MonitoringApis, render_platform_monitoring, render_service_monitoring
from fabrikam.operator.render.platform import bundled_services, expand_platform
from fabrikam.operator.render.service import render_drone_service
from fabrikam.operator.render.validation import SpecProblem, validate_drone_service, validate_platform


class DocumentError(ValueError):
    """A manifest the apiserver would reject; the message names the object and the field."""


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(object)"


def validation_messages(error: ValidationError, what: str) -> list[str]:
    """One line per pydantic error: `<kind/name>: <field path>: <reason>`."""
    lines = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{what}: {_path(tuple(item['loc']))}: {message}")
    return lines


def _identify(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    name = meta.get("name", "?") if isinstance(meta, Mapping) else "?"
    namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
    return f"{doc.get('kind', '?')} {namespace + '/' if namespace else ''}{name}"


def load(doc: Mapping[str, Any]) -> DeliveryPlatform | DroneService:
    """Parses one manifest into its model; raises DocumentError naming every invalid field."""
    what = _identify(doc)
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") not in (PLATFORM_KIND, SERVICE_KIND):
        raise DocumentError(
            f"{what}: apiVersion/kind: expected {API_VERSION} {PLATFORM_KIND} or {SERVICE_KIND}, "
            f"got {doc.get('apiVersion')} {doc.get('kind')}"
        )
    model = DeliveryPlatform if doc["kind"] == PLATFORM_KIND else DroneService
    try:
        obj = model.model_validate(doc)
    except ValidationError as error:
        raise DocumentError("\n".join(validation_messages(error, what))) from None
    if isinstance(obj, DroneService) and not obj.metadata.namespace:
        raise DocumentError(f"{what}: metadata.namespace: required (nothing goes to the default namespace)")
    return obj


@dataclass
class Rendered:
    """The objects the operator would apply, and what it would report as Degraded."""

    objects: list[Obj] = field(default_factory=list)
    problems: list[tuple[str, SpecProblem]] = field(default_factory=list)

    @property
    def fatal(self) -> list[tuple[str, SpecProblem]]:
        return [(what, p) for what, p in self.problems if p.fatal]


def render_documents(
    documents: Iterable[Mapping[str, Any] | None], *, apis: MonitoringApis = MonitoringApis()
) -> Rendered:
    """Everything the operator would create for these manifests, in a cluster serving the Prometheus Operator's kinds
    `apis` says (all of them unless told otherwise); raises DocumentError on invalid ones. A platform's on-call keys
    objects need the identity that reads the key: offline, only the one its spec names is known (the operator's own
    comes from Azure), so without it the routing alone, as the operator applies it until Azure answered."""
    loaded = [load(doc) for doc in documents if doc]
    platforms = {obj.name: obj for obj in loaded if isinstance(obj, DeliveryPlatform)}
    own = [obj for obj in loaded if isinstance(obj, DroneService)]
    services = [svc for platform in platforms.values() for svc in bundled_services(platform)] + own
    result = Rendered()
    for platform in platforms.values():
        result.objects += expand_platform(platform) + render_platform_monitoring(platform, apis=apis)
        result.problems += [(f"{PLATFORM_KIND} {platform.name}", p) for p in validate_platform(platform)]
    for svc in services:
        what = f"{SERVICE_KIND} {svc.namespace}/{svc.name}"
        parent = platforms.get(svc.spec.platform_ref.name)
        problems = validate_drone_service(svc, platform=parent, peers=services)
        result.problems += [(what, p) for p in problems]
        if parent is not None and not any(p.fatal for p in problems):
            result.objects += render_drone_service(svc, platform=parent, peers=services)
            result.objects += render_service_monitoring(svc, platform=parent, apis=apis)
    return result
