"""Bodies to API models: `parse` validates one; `ParsedModels` memoises them per object for the process."""

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fabrikam.operator.api import DeliveryPlatform, DroneService, Problem

M = TypeVar("M", bound=BaseModel)


def _fingerprint(meta: dict[str, Any]) -> tuple[Any, ...]:
    return (meta.get("generation"), tuple(sorted((meta.get("labels") or {}).items())), meta.get("deletionTimestamp"))


def parse(model: type[M], body: dict[str, Any]) -> M:
    """The model of an object's spec (status and kopf's fields are the operator's own and not validated)."""
    meta = body.get("metadata", {})
    return model.model_validate(
        {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"), "metadata": meta, "spec": body["spec"]}
    )


class ParsedModels:
    """Bodies to API models, memoised per object: a reconcile sees every peer and parses each once. One entry per
    object (its uid), replaced when its spec or labels change; status updates (a new resourceVersion every few
    seconds at scale) keep it. The process keeps one, on its Runtime."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[tuple[Any, ...], BaseModel]] = {}

    def parse(self, model: type[M], body: dict[str, Any]) -> M:
        meta = body.get("metadata", {})
        key, fingerprint = (model.__name__, str(meta.get("uid"))), _fingerprint(meta)
        cached = self._entries.get(key)
        if cached is not None and cached[0] == fingerprint and isinstance(cached[1], model):
            return cached[1]
        parsed = parse(model, body)
        self._entries[key] = (fingerprint, parsed)
        return parsed

    def platform(self, body: dict[str, Any]) -> DeliveryPlatform:
        return self.parse(DeliveryPlatform, body)

    def service(self, body: dict[str, Any]) -> DroneService:
        return self.parse(DroneService, body)

    def peers(self, bodies: list[dict[str, Any]]) -> list[DroneService]:
        """Parsable DroneServices among the bodies; one broken peer must not stop its neighbours' reconciles."""
        peers = []
        for body in bodies:
            try:
                peers.append(self.service(body))
            except ValidationError:
                continue
        return peers

    def forget(self, uid: str) -> None:
        """Drops a deleted object's entry."""
        for model in (DeliveryPlatform, DroneService):
            self._entries.pop((model.__name__, uid), None)


def invalid_spec(error: ValidationError) -> Problem:
    """A spec that does not parse, as the Degraded condition says it: the first error's field path and words."""
    details = error.errors()[0] if error.errors() else {"loc": (), "msg": str(error)}
    path = ".".join(str(part) for part in details["loc"])
    return Problem("InvalidSpec", f"{path}: {details['msg']}")
