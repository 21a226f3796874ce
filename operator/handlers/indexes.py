"""In-memory indexes kept current by kopf's watch streams, so a reconcile never lists the cluster.

The indexing functions are coroutines: kopf runs a plain function in a thread pool, a hop per function per event
that cost more than the functions themselves at 1000 services."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, cast

import kopf

from fabrikam.operator.api import GROUP, VERSION


def snapshot(body: kopf.Body) -> dict[str, Any]:
    """A plain dict of the object as seen in this event (kopf replaces, never mutates, the raw source)."""
    return {key: body[key] for key in body}


@kopf.index(GROUP, VERSION, "deliveryplatforms")
async def platforms(*, body: kopf.Body, name: str, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: snapshot(body)}


@kopf.index(GROUP, VERSION, "droneservices")
async def services_by_platform(*, body: kopf.Body, spec: kopf.Spec, **_: Any) -> dict[str, dict[str, Any]]:
    return {str(spec.get("platformRef", {}).get("name", "")): snapshot(body)}


@kopf.index(GROUP, VERSION, "droneservices")
async def services(
    *, body: kopf.Body, namespace: str | None, name: str, **_: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace or "", name): snapshot(body)}


ServiceKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Indexes:
    """kopf's in-memory indexes of the operator's own objects (kopf passes them to handlers by name): typed, so a
    reconcile names what it reads instead of passing kopf's keyword arguments down."""

    platforms: kopf.Index[str, dict[str, Any]]
    services: kopf.Index[ServiceKey, dict[str, Any]]
    services_by_platform: kopf.Index[str, dict[str, Any]]
    callers: kopf.Index[tuple[str, str, str], ServiceKey]
    exposers: kopf.Index[tuple[str, str], ServiceKey]

    @classmethod
    def of(cls, handler_kwargs: Mapping[str, Any]) -> "Indexes":
        """The indexes among a kopf handler's keyword arguments."""
        return cls(**{f.name: handler_kwargs[f.name] for f in fields(cls)})

    def platform(self, name: str) -> dict[str, Any] | None:
        return one(self.platforms, name)

    def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        return one(self.services, (namespace, name))

    def services_of(self, platform: str) -> list[dict[str, Any]]:
        return list(self.services_by_platform.get(platform, []))


def _platform_of(spec: Mapping[str, Any]) -> str:
    return str((spec.get("platformRef") or {}).get("name", ""))


@kopf.index(GROUP, VERSION, "droneservices")
async def callers(
    *, spec: kopf.Spec, namespace: str | None, name: str, **_: Any
) -> dict[tuple[str, str, str], ServiceKey]:
    """(platform, callee namespace, callee name) → the caller: who calls a service, without scanning all."""
    caller = (namespace or "", name)
    return {(_platform_of(spec), *callee): caller for callee in callees_of(spec, caller[0])}


@kopf.index(GROUP, VERSION, "droneservices")
async def exposers(*, spec: kopf.Spec, namespace: str | None, name: str, **_: Any) -> dict[tuple[str, str], ServiceKey]:
    """(platform, ingress path) → the service exposing it: path conflicts without scanning all services."""
    expose = spec.get("expose")
    if not expose:
        return {}
    return {(_platform_of(spec), str(expose.get("path", ""))): (namespace or "", name)}


def neighbourhood(
    body: Mapping[str, Any],
    services: Mapping[ServiceKey, Iterable[dict[str, Any]]],
    callers: Mapping[tuple[str, str, str], Iterable[ServiceKey]],
    exposers: Mapping[tuple[str, str], Iterable[ServiceKey]],
) -> list[dict[str, Any]]:
    """The peers a service's validation and rendering can depend on: the services it calls, those calling it, and
    those exposing the same path. A reconcile then costs the same with 10 or 1000 services in the platform
    (going through every peer made converging N services O(N²))."""
    meta, spec = body["metadata"], body.get("spec") or {}
    me: ServiceKey = (meta.get("namespace") or "", meta["name"])
    platform = _platform_of(spec)
    keys = callees_of(spec, me[0]) | set(callers.get((platform, *me), ()))
    if spec.get("expose"):
        keys.update(exposers.get((platform, str(spec["expose"].get("path", ""))), ()))
    keys.discard(me)
    return [found for key in sorted(keys) if (found := one(services, key)) is not None]


def callees_of(spec: Mapping[str, Any], namespace: str) -> set[ServiceKey]:
    """The services a spec declares calls to (an omitted namespace is the caller's own)."""
    return {(c.get("namespace") or namespace, str(c.get("name", ""))) for c in spec.get("calls") or []}


def graph_neighbours(
    body: Mapping[str, Any], old_spec: Mapping[str, Any] | None, callers: Mapping[Any, Iterable[ServiceKey]]
) -> list[ServiceKey]:
    """Services whose rendering or validation a change of `body` affects: the services it calls or called (their
    ingress lists it) and the services calling it (their dependency on it appeared or disappeared)."""
    meta, spec = body["metadata"], body.get("spec") or {}
    me: ServiceKey = (meta.get("namespace") or "", meta["name"])
    keys = callees_of(spec, me[0]) | callees_of(old_spec or {}, me[0])
    keys.update(callers.get((_platform_of(spec), *me), ()))
    keys.discard(me)
    return sorted(keys)


def one(index: Mapping[Any, Iterable[dict[str, Any]]], key: Any) -> dict[str, Any] | None:
    for value in index.get(key, []):
        return value
    return None


def as_body(snapshot_: dict[str, Any]) -> kopf.Body:
    """A snapshot back as a kopf Body, e.g. to post an Event about it."""
    return kopf.Body(cast(kopf.RawBody, snapshot_))
