"""In-memory indexes kept current by kopf's watch streams, so a reconcile never lists the cluster."""

from typing import Any, cast

import kopf

from fabrikam.operator.api import GROUP, VERSION


def snapshot(body: kopf.Body) -> dict[str, Any]:
    """A plain dict of the object as seen in this event (kopf replaces, never mutates, the raw source)."""
    return {key: body[key] for key in body}


@kopf.index(GROUP, VERSION, "deliveryplatforms")
def platforms(*, body: kopf.Body, name: str, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: snapshot(body)}


@kopf.index(GROUP, VERSION, "droneservices")
def services_by_platform(*, body: kopf.Body, spec: kopf.Spec, **_: Any) -> dict[str, dict[str, Any]]:
    return {str(spec.get("platformRef", {}).get("name", "")): snapshot(body)}


@kopf.index(GROUP, VERSION, "droneservices")
def services(*, body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace or "", name): snapshot(body)}


def one(index: kopf.Index[Any, dict[str, Any]], key: Any) -> dict[str, Any] | None:
    for value in index.get(key, []):
        return value
    return None


def as_body(snapshot_: dict[str, Any]) -> kopf.Body:
    """A snapshot back as a kopf Body, e.g. to post an Event about it."""
    return kopf.Body(cast(kopf.RawBody, snapshot_))
