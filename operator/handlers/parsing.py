"""Bodies to API models, memoised by resourceVersion: a reconcile sees every peer, parsing each once."""

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fabrikam.operator.api import DeliveryPlatform, DroneService

M = TypeVar("M", bound=BaseModel)
_CACHE: dict[tuple[str, str, str], Any] = {}
_CACHE_LIMIT = 20_000


def parse(model: type[M], body: dict[str, Any]) -> M:
    """The model of an object's spec (status and kopf's fields are the operator's own and not validated)."""
    meta = body.get("metadata", {})
    key = (model.__name__, str(meta.get("uid")), str(meta.get("resourceVersion")))
    cached = _CACHE.get(key)
    if cached is None:
        cached = model.model_validate(
            {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"), "metadata": meta, "spec": body["spec"]}
        )
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = cached
    result: M = cached
    return result


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


def first_error(error: ValidationError) -> tuple[str, str]:
    """(field path, message) of a validation error, for the Degraded condition."""
    details = error.errors()[0] if error.errors() else {"loc": (), "msg": str(error)}
    path = ".".join(str(part) for part in details["loc"])
    return path, str(details["msg"])
