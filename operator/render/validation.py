"""Semantic checks the apiserver cannot make because they span objects: each problem becomes a Degraded
condition (reason + message) and an Event, never an exception in the operator."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from fabrikam.operator.api import Component, DeliveryPlatform, DependencyKind, DroneService, Problem, parse_quantity
from fabrikam.operator.api.platform import bundled_field
from fabrikam.operator.render import databases, tenancy
from fabrikam.operator.render.graph import ServiceRef, callee
from fabrikam.operator.render.off_hours import UnknownTimeZone, time_zone
from fabrikam.operator.render.platform import bundled_services


@dataclass(frozen=True)
class SpecProblem:
    """Why a spec cannot be (fully) realised; `reason` is CamelCase for the condition, `field` the spec path."""

    reason: str
    field: str
    message: str
    # Fatal: nothing can be rendered (e.g. no team owns the namespace). Otherwise the rest is still applied.
    fatal: bool = False

    def __str__(self) -> str:
        return f"{self.field}: {self.message} ({self.reason})"

    @property
    def problem(self) -> Problem:
        """As the Degraded condition and its Event say it: the field to fix in the message."""
        return Problem(self.reason, str(self))


class InvalidSpec(ValueError):
    """Raised by the renderers when a fatal problem leaves nothing sensible to render."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def validate_drone_service(
    svc: DroneService, *, platform: DeliveryPlatform | None, peers: Iterable[DroneService] = ()
) -> list[SpecProblem]:
    """Problems of one DroneService in the context of its platform and the other services of that platform."""
    ref = svc.spec.platform_ref.name
    if platform is None:
        return [
            SpecProblem(
                "PlatformNotFound", "spec.platformRef.name", f"DeliveryPlatform {ref!r} does not exist", fatal=True
            )
        ]
    if platform.name != ref:
        return [
            SpecProblem(
                "PlatformMismatch",
                "spec.platformRef.name",
                f"references {ref!r} but was checked against platform {platform.name!r}",
                fatal=True,
            )
        ]
    if platform.spec.team_of_namespace(svc.namespace) is None:
        owned = ", ".join(t.namespace for t in platform.spec.teams)
        return [
            SpecProblem(
                "NamespaceNotInPlatform",
                "metadata.namespace",
                f"namespace {svc.namespace!r} belongs to no team of platform {platform.name!r} "
                f"(team namespaces: {owned})",
                fatal=True,
            )
        ]

    peers = list(peers)
    problems = tenancy_problems(svc, platform, peers)
    if any(p.fatal for p in problems):
        return problems
    known = {ServiceRef.of(peer) for peer in peers if peer.spec.platform_ref.name == ref}
    for i, call in enumerate(svc.spec.calls):
        target = callee(svc, call)
        if target not in known:
            problems.append(
                SpecProblem(
                    "UnknownDependency",
                    f"spec.calls[{i}]",
                    f"calls DroneService {target.namespace}/{target.name}, which does not exist in platform {ref!r}",
                )
            )
    if svc.spec.expose is not None and platform.spec.ingress.host is None:
        problems.append(
            SpecProblem(
                "IngressHostMissing", "spec.expose", "the platform has no spec.ingress.host to publish this service on"
            )
        )
    problems += missing_stores(svc, platform)
    azure = platform.spec.azure
    in_cluster = platform.spec.backing.in_cluster is not None
    if svc.spec.secrets and (azure is None or azure.key_vault_name is None) and not in_cluster:
        problems.append(
            SpecProblem(
                "KeyVaultNotConfigured",
                "spec.secrets",
                "the platform has no spec.azure.keyVaultName (nor spec.backing.inCluster for development), "
                "so these secrets cannot be mounted",
            )
        )
    if svc.spec.expose is not None:
        for peer in sorted(peers, key=ServiceRef.of):
            other = peer.spec.expose
            if (
                ServiceRef.of(peer) < ServiceRef.of(svc)
                and peer.spec.platform_ref.name == ref
                and other is not None
                and other.path == svc.spec.expose.path
            ):
                problems.append(
                    SpecProblem(
                        "IngressPathConflict",
                        "spec.expose.path",
                        f"path {other.path!r} is already exposed by {peer.namespace}/{peer.name}",
                    )
                )
    return problems


def tenancy_problems(svc: DroneService, platform: DeliveryPlatform, peers: list[DroneService]) -> list[SpecProblem]:
    """What a team's service declared that the owner of the other side did not allow (see tenancy.py)."""
    problems = []
    component = svc.spec.component
    if component is not Component.CUSTOM and not tenancy.is_platform_own(svc, platform):
        problems.append(
            SpecProblem(
                "ComponentReserved",
                "spec.component",
                f"{component.value!r} is a bundled component: the DeliveryPlatform {platform.name!r} deploys it "
                f"(as {component.value} in the namespace of the team listing it in spec.teams[].services); a team's "
                "own service is `custom`",
                fatal=True,
            )
        )
    if not tenancy.image_allowed(svc, platform):
        problems.append(
            SpecProblem(
                "ImageNotAllowed",
                "spec.image.repository",
                f"{svc.spec.image.repository!r} is not in a registry platform {platform.name!r} allows "
                f"({', '.join(tenancy.allowed_registries(platform))}; spec.allowedRegistries of the platform)",
                fatal=True,
            )
        )
    team = platform.spec.team_of_namespace(svc.namespace)
    for i, target in tenancy.unaccepted_calls(svc, peers, platform):
        where = f"{target.namespace}/{target.name}"
        bundled = _consent_field(target, peers, platform)
        problems.append(
            SpecProblem(
                "CallNotAccepted",
                f"spec.calls[{i}]",
                f"{where} does not accept calls from {svc.namespace}/{svc.name}: its owner must list this service, "
                f"its namespace or team {team.name if team else '?'!r} in {bundled} (the call stays closed)",
            )
        )
    for i, queue, lacking in tenancy.ungranted_queues(svc, platform):
        problems.append(
            SpecProblem(
                "QueueNotGranted",
                f"spec.uses[{i}].name",
                f"team {team.name if team else '?'!r} is not granted {'/'.join(a.value for a in lacking)} on queue "
                f"{queue!r}: the platform's spec.teams[].queues must grant it (no access is given meanwhile)",
            )
        )
    return problems


def _consent_field(target: ServiceRef, peers: list[DroneService], platform: DeliveryPlatform) -> str:
    """Where the callee's consent is written: its own spec, or the platform's for a bundled service."""
    callee = next((p for p in peers if ServiceRef.of(p) == target), None)
    if callee is not None and tenancy.is_platform_own(callee, platform):
        return f"the platform's spec.services.{bundled_field(callee.spec.component)}.allowedCallers"
    return "its spec.allowedCallers"


_STORE_NAMES = {
    DependencyKind.REDIS: "Redis",
    DependencyKind.QUEUE: "message broker",
    DependencyKind.MONGO: "MongoDB store",
    DependencyKind.SQL: "SQL database",
}
_IN_CLUSTER = "spec.backing.inCluster (development and test)"
_FIXES = {
    DependencyKind.REDIS: f"set spec.cache.redis with spec.azure, or {_IN_CLUSTER}",
    DependencyKind.QUEUE: f"set spec.messaging.serviceBus with spec.azure, or {_IN_CLUSTER}",
    DependencyKind.MONGO: f"set spec.databases.cosmosDb with spec.azure, or {_IN_CLUSTER}",
    DependencyKind.SQL: f"set spec.databases.postgres with spec.azure, or {_IN_CLUSTER}",
}
# The platform's Azure databases serve its own services only (render/databases.py says why).
_TEAM_FIXES = {
    DependencyKind.MONGO: "the platform's Cosmos DB serves its bundled services only (its connection string opens "
    f"every database of the account); a team's service needs a database of its own, or {_IN_CLUSTER}",
    DependencyKind.SQL: "the platform's PostgreSQL server serves its bundled services only (a signed-in identity "
    f"administers the whole server); a team's service needs a database of its own, or {_IN_CLUSTER}",
}


def _provides(platform: DeliveryPlatform, kind: DependencyKind, svc: DroneService) -> bool:
    """Whether the platform wires a store of this kind into the service (Azure first, else in-cluster)."""
    if platform.spec.backing.in_cluster is not None:
        return True
    azure = platform.spec.azure is not None
    if kind is DependencyKind.REDIS:
        return azure and platform.spec.cache.redis is not None
    if kind is DependencyKind.QUEUE:
        return azure and platform.spec.messaging.service_bus is not None
    if kind is DependencyKind.MONGO:
        return databases.serves_mongo(svc, platform)
    return databases.serves_sql(svc, platform)


def _azure_has(platform: DeliveryPlatform, kind: DependencyKind) -> bool:
    if kind is DependencyKind.MONGO:
        return platform.spec.databases.cosmos_db is not None
    return kind is DependencyKind.SQL and platform.spec.databases.postgres is not None


def missing_stores(svc: DroneService, platform: DeliveryPlatform) -> list[SpecProblem]:
    """A store the service needs that the platform does not provide: the service would never become ready, so
    say which setting provides it instead of letting it fall back to anything."""
    problems = []
    needs = [(f"spec.uses[{i}]", use.kind, use.name) for i, use in enumerate(svc.spec.uses)]
    if svc.spec.component is not Component.CUSTOM:
        # Every bundled service keeps its state and idempotency keys in Redis.
        needs.insert(0, ("spec.component", DependencyKind.REDIS, "state"))
    for field, kind, name in needs:
        if kind in _STORE_NAMES and not _provides(platform, kind, svc):
            fixes = _FIXES
            if svc.spec.component is Component.CUSTOM and kind in _TEAM_FIXES and _azure_has(platform, kind):
                fixes = _TEAM_FIXES
            problems.append(
                SpecProblem(
                    "StoreNotProvided",
                    field,
                    f"needs a {_STORE_NAMES[kind]} ({kind.value} {name!r}) that platform {platform.name!r} "
                    f"does not provide: {fixes[kind]}",
                )
            )
    return problems


def _rolling(replicas: int) -> int:
    """Pods of a service during a rolling update: maxSurge 25% rounds up (workload.py), maxUnavailable 0."""
    return replicas + math.ceil(replicas / 4)


def _total(services: list[DroneService], resource: str) -> Decimal:
    """Limits of a team's services at their minimum, all rolling at once (a new platform image rolls them all)."""
    return sum(
        (
            _rolling(svc.spec.autoscaling.min_replicas) * parse_quantity(getattr(svc.spec.resources.limits, resource))
            for svc in services
        ),
        Decimal(0),
    )


def _at_maxima(services: list[DroneService], resource: str) -> Decimal:
    """Limits of a team's services with every HPA at its maximum."""
    return sum(
        (
            svc.spec.autoscaling.max_replicas * parse_quantity(getattr(svc.spec.resources.limits, resource))
            for svc in services
        ),
        Decimal(0),
    )


def validate_platform(platform: DeliveryPlatform) -> list[SpecProblem]:
    """Problems of the platform as a whole: a team quota too small to run its services at their minimum, or to let
    their autoscalers reach their maxima (at peak the HPA would ask for pods the quota refuses); an off-hours time
    zone the IANA database does not know (the apiserver checks its shape only)."""
    problems = _off_hours_problems(platform)
    services = bundled_services(platform)
    for i, team in enumerate(platform.spec.teams):
        mine = [svc for svc in services if svc.namespace == team.namespace]
        for resource in ("cpu", "memory"):
            needed, allowed = _total(mine, resource), parse_quantity(getattr(team.quota, resource))
            peak = _at_maxima(mine, resource)
            if needed <= allowed < peak:
                problems.append(
                    SpecProblem(
                        "QuotaBelowMaxima",
                        f"spec.teams[{i}].quota.{resource}",
                        f"team {team.name!r} needs {peak.normalize():f} {resource} for its bundled services at their "
                        f"HPA maxima (maxReplicas x limits) but its quota allows {allowed.normalize():f}: at peak the "
                        "autoscalers would ask for pods the quota refuses; raise the quota or lower maxReplicas",
                    )
                )
            if needed > allowed:
                problems.append(
                    SpecProblem(
                        "QuotaTooSmall",
                        f"spec.teams[{i}].quota.{resource}",
                        f"team {team.name!r} needs {needed.normalize():f} {resource} (limits x minReplicas of its "
                        f"bundled services, plus the rolling update's surge) but its quota allows "
                        f"{allowed.normalize():f}",
                    )
                )
    return problems


def _off_hours_problems(platform: DeliveryPlatform) -> list[SpecProblem]:
    off_hours = platform.spec.cost.off_hours
    if off_hours is None:
        return []
    try:
        time_zone(off_hours)
    except UnknownTimeZone as error:
        message = f"{error}; the services keep their own minimums until it is fixed"
        return [SpecProblem("UnknownTimeZone", "spec.cost.offHours.timeZone", message)]
    return []
