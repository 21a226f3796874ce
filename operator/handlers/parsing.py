"""Bodies to API models, memoised by resourceVersion: a reconcile sees every peer, parsing each once."""

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fabrikam.operator.api import DeliveryPlatform, DroneService, Problem

M = TypeVar("M", bound=BaseModel)
# uid → (fingerprint, model): one entry per object, replaced when its spec or labels change. Status updates
# (a new resourceVersion every few seconds at scale) keep the entry, so peers are not parsed again and again.
_CACHE: dict[tuple[str, str], tuple[tuple[Any, ...], Any]] = {}


def _fingerprint(meta: dict[str, Any]) -> tuple[Any, ...]:
    return (meta.get("generation"), tuple(sorted((meta.get("labels") or {}).items())), meta.get("deletionTimestamp"))


def parse(model: type[M], body: dict[str, Any]) -> M:
    """The model of an object's spec (status and kopf's fields are the operator's own and not validated)."""
    meta = body.get("metadata", {})
    key, fingerprint = (model.__name__, str(meta.get("uid"))), _fingerprint(meta)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == fingerprint:
        result: M = cached[1]
        return result
    parsed = model.model_validate(
        {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"), "metadata": meta, "spec": body["spec"]}
    )
    _CACHE[key] = (fingerprint, parsed)
    return parsed


def forget(uid: str) -> None:
    """Drops a deleted object's entry."""
    for model in (DeliveryPlatform, DroneService):
        _CACHE.pop((model.__name__, uid), None)


def parse_platform(body: dict[str, Any]) -> DeliveryPlatform:
    return parse(DeliveryPlatform, body)


def parse_service(body: dict[str, Any]) -> DroneService:
    return parse(DroneService, body)


def peers_of(bodies: list[dict[str, Any]]) -> list[DroneService]:
    """Parsable DroneServices among the bodies; one broken peer must not stop its neighbours' reconciles."""
    peers = []
    for body in bodies:
        try:
            peers.append(parse_service(body))
        except ValidationError:
            continue
    return peers


def invalid_spec(error: ValidationError) -> Problem:
    """A spec that does not parse, as the Degraded condition says it: the first error's field path and words."""
    details = error.errors()[0] if error.errors() else {"loc": (), "msg": str(error)}
    path = ".".join(str(part) for part in details["loc"])
    return Problem("InvalidSpec", f"{path}: {details['msg']}")
