"""Expands a DeliveryPlatform into its team namespaces and the DroneService objects of the bundled services."""

from __future__ import annotations

from urllib.parse import urlparse

from fabrikam.operator.api import (
    API_VERSION,
    BUNDLED_COMPONENTS,
    Call,
    Caller,
    Component,
    DeliveryPlatform,
    DependencyKind,
    DroneService,
    ObjectMeta,
    Use,
)
from fabrikam.operator.api.service import KIND as SERVICE_KIND
from fabrikam.operator.render.backing import render_backing
from fabrikam.operator.render.catalog import CATALOG, ENTRYPOINT
from fabrikam.operator.render.labels import Obj, common, owner_reference
from fabrikam.operator.render.team import render_team


def owning_namespace(platform: DeliveryPlatform, component: Component) -> str | None:
    """Namespace of the team that owns a bundled service, None when no team does."""
    return next((t.namespace for t in platform.spec.teams if component in t.services), None)


def _provider_uses(platform: DeliveryPlatform, component: Component) -> list[Use]:
    """Third-party hosts a bundled service reaches because the platform configures them (egress follows)."""
    weather = platform.spec.third_party.weather
    if component is Component.DRONE_SCHEDULER and weather is not None:
        return [Use(kind=DependencyKind.EXTERNAL, name=urlparse(weather.url).hostname or weather.url)]
    return []


def _bundled_callers(platform: DeliveryPlatform, component: Component, namespace: str) -> list[Caller]:
    """The bundled services of other namespaces that call `component` in the catalog: accepted by construction,
    and written into its spec so `kubectl get droneservice -o yaml` shows who may call it."""
    callers = []
    for other in BUNDLED_COMPONENTS:
        there = owning_namespace(platform, other)
        if (
            component in CATALOG[other].calls
            and there not in (None, namespace)
            and platform.spec.services.of(other).enabled
        ):
            callers.append(Caller(namespace=there, name=other.value))
    return callers


def bundled_services(platform: DeliveryPlatform) -> list[DroneService]:
    """The enabled bundled services as DroneService objects: catalog defaults, then the platform's overrides."""
    services = []
    for component in BUNDLED_COMPONENTS:
        override = platform.spec.services.of(component)
        namespace = owning_namespace(platform, component)
        team = platform.spec.team_of_namespace(namespace) if namespace else None
        if not override.enabled or team is None or namespace is None:
            continue
        defaults = CATALOG[component]
        calls = [
            Call(name=target.value, namespace=owning_namespace(platform, target) or namespace)
            for target in defaults.calls
        ]
        meta = ObjectMeta(
            name=component.value,
            namespace=namespace,
            labels=common(name=component.value, component=component.value, team=team, platform=platform.name),
            owner_references=_platform_owner(platform),
        )
        spec = {
            "platformRef": {"name": platform.name},
            "component": component,
            "image": override.image or platform.spec.image,
            "command": [ENTRYPOINT],
            "args": [component.value],
            "autoscaling": override.autoscaling or defaults.autoscaling,
            "resources": override.resources or defaults.resources,
            "expose": defaults.expose,
            "calls": calls,
            "allowedCallers": [*_bundled_callers(platform, component, namespace), *override.allowed_callers],
            "uses": [*defaults.uses, *_provider_uses(platform, component)],
            "secrets": list(defaults.secrets),
            "placement": override.placement or {},
            "config": override.config,
        }
        services.append(DroneService.model_validate({"metadata": meta, "spec": spec}))
    return services


def _platform_owner(platform: DeliveryPlatform) -> list[Obj]:
    return owner_reference(
        api_version=API_VERSION, kind="DeliveryPlatform", name=platform.name, uid=platform.metadata.uid
    )


def drone_service_object(svc: DroneService, *, platform: DeliveryPlatform) -> Obj:
    """A DroneService as the platform applies it: spec only (the status belongs to its own reconciler)."""
    meta: Obj = {"name": svc.name, "namespace": svc.namespace, "labels": dict(svc.metadata.labels)}
    owners = _platform_owner(platform)
    if owners:
        meta["ownerReferences"] = owners
    return {
        "apiVersion": API_VERSION,
        "kind": SERVICE_KIND,
        "metadata": meta,
        "spec": svc.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def expand_platform(platform: DeliveryPlatform) -> list[Obj]:
    """Every object the platform's own reconciler applies: per team its namespace and guard rails, the in-cluster
    backing services, then the bundled DroneServices (which their own reconciler turns into workloads)."""
    objects = [obj for team in platform.spec.teams for obj in render_team(team, platform=platform)]
    objects += render_backing(platform)
    objects += [drone_service_object(svc, platform=platform) for svc in bundled_services(platform)]
    return objects
