"""Tenancy: what a team's service may reach is decided by the owner of the other side.

The operator acts with its own privileges on behalf of every team, so a declaration alone must never open a door:
a call across namespaces needs the callee's `allowedCallers`, a queue needs the platform's grant to the team, a
bundled component belongs to the platform, and images come from the platform's registries. Pure rules, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from fabrikam.operator.api import (
    Caller,
    Component,
    DeliveryPlatform,
    DependencyKind,
    DroneService,
    QueueAccess,
)
from fabrikam.operator.render.graph import ServiceRef, callee, callers_of

# What a team's own service may run in the shared Redis (the Azure custom access policy of azure/desired.py and the
# in-cluster Redis's ACL users of redis_acl.py), in Redis ACL syntax, applied left to right: reading and
# writing keys, transactions, its connection; no administrative or dangerous command (FLUSHALL, CONFIG, KEYS,
# MONITOR, ...); of CLIENT only what concerns its own connection; no SCAN, RANDOMKEY or DBSIZE, which list or count
# every service's keys; the cluster topology a client of a sharded cache needs, as Azure's built-in policies allow.
# The key pattern, appended per service, is its own prefix: no other key is readable or writable.
TEAM_REDIS_COMMANDS = (
    "+@read +@write +@transaction +@connection -@admin -@dangerous "
    "-client +client|getname +client|id +client|info +client|reply +client|setinfo +client|setname "
    "-scan -randomkey -dbsize +cluster|info +cluster|nodes +cluster|slots"
)


def _admits(entry: Caller, caller: ServiceRef, platform: DeliveryPlatform) -> bool:
    if entry.team is not None:
        team = platform.spec.team_of_namespace(caller.namespace)
        return team is not None and team.name == entry.team
    return entry.namespace == caller.namespace and entry.name in (None, caller.name)


def accepts(target: DroneService, caller: ServiceRef, platform: DeliveryPlatform) -> bool:
    """Whether `target` lets `caller` in: its own namespace always, another only through its allowedCallers."""
    if caller.namespace == target.namespace:
        return True
    return any(_admits(entry, caller, platform) for entry in target.spec.allowed_callers)


def accepted_callers(
    target: DroneService, peers: Iterable[DroneService], platform: DeliveryPlatform
) -> list[ServiceRef]:
    """The declared callers of `target` it accepts: the only ones its NetworkPolicy admits."""
    return [ref for ref in callers_of(target, peers) if accepts(target, ref, platform)]


def _called(
    svc: DroneService, peers: Iterable[DroneService], platform: DeliveryPlatform
) -> list[tuple[int, ServiceRef, bool]]:
    """Each call of `svc` to an existing service of its platform: (index in spec.calls, callee, accepted)."""
    found = {ServiceRef.of(peer): peer for peer in peers if peer.spec.platform_ref.name == svc.spec.platform_ref.name}
    me = ServiceRef.of(svc)
    return [
        (i, ref, accepts(found[ref], me, platform))
        for i, call in enumerate(svc.spec.calls)
        if (ref := callee(svc, call)) in found
    ]


def accepted_callees(svc: DroneService, peers: Iterable[DroneService], platform: DeliveryPlatform) -> list[ServiceRef]:
    """The services `svc` calls that exist and accept it: the only ones its egress opens."""
    return sorted({ref for _, ref, accepted in _called(svc, peers, platform) if accepted})


def unaccepted_calls(
    svc: DroneService, peers: Iterable[DroneService], platform: DeliveryPlatform
) -> list[tuple[int, ServiceRef]]:
    """Calls to existing services that do not accept `svc` (index in spec.calls, callee)."""
    return [(i, ref) for i, ref, accepted in _called(svc, peers, platform) if not accepted]


def is_platform_own(svc: DroneService, platform: DeliveryPlatform) -> bool:
    """A bundled component's DroneService as the platform itself renders it: its name and team namespace, and
    (once the platform exists in the cluster) owned by it. Only the operator creates those."""
    component = svc.spec.component
    if component is Component.CUSTOM or svc.name != component.value:
        return False
    if not any(component in team.services and team.namespace == svc.namespace for team in platform.spec.teams):
        return False
    uid = platform.metadata.uid
    return uid is None or any(
        ref.kind == "DeliveryPlatform" and ref.controller and ref.uid == uid for ref in svc.metadata.owner_references
    )


def allowed_registries(platform: DeliveryPlatform) -> list[str]:
    """The platform's registry prefixes; by default the registry host of its own image only."""
    if platform.spec.allowed_registries:
        return list(platform.spec.allowed_registries)
    return [platform.spec.image.repository.split("/", 1)[0] + "/"]


def image_allowed(svc: DroneService, platform: DeliveryPlatform) -> bool:
    repository = svc.spec.image.repository + "/"
    return any(repository.startswith(prefix) for prefix in allowed_registries(platform))


def ungranted_queues(svc: DroneService, platform: DeliveryPlatform) -> list[tuple[int, str, list[QueueAccess]]]:
    """Queue uses of a team's own service that the platform did not grant its team: (index, queue, missing access).
    The bundled services' queues come from the catalog and are theirs."""
    if is_platform_own(svc, platform):
        return []
    team = platform.spec.team_of_namespace(svc.namespace)
    granted = {grant.name: set(grant.access) for grant in (team.queues if team else [])}
    missing = []
    for i, use in enumerate(svc.spec.uses):
        if use.kind is not DependencyKind.QUEUE:
            continue
        lacking = sorted(use.queue_access() - granted.get(use.name, set()))
        if lacking:
            missing.append((i, use.name, lacking))
    return missing
