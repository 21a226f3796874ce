"""Watches the objects the operator owns: reverts drift within seconds and follows Deployment progress."""

from typing import Any

import kopf

from fabrikam.operator.apply.applier import ApplyError, apply_if_needed
from fabrikam.operator.apply.resources import WATCHED, ChildKey, describe
from fabrikam.operator.handlers import cloud, indexes, rollout
from fabrikam.operator.handlers.runtime import RUNTIME, OwnerKey
from fabrikam.operator.render.labels import MANAGED_BY

MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}


def _owner(body: dict[str, Any]) -> OwnerKey | None:
    for reference in body["metadata"].get("ownerReferences", []):
        if reference.get("controller") and reference["kind"] == "DroneService":
            return ("DroneService", body["metadata"].get("namespace") or "", reference["name"])
        if reference.get("controller") and reference["kind"] == "DeliveryPlatform":
            return ("DeliveryPlatform", "", reference["name"])
    return None


def _owner_alive(owner: OwnerKey, platforms: kopf.Index[str, Any], services: kopf.Index[Any, Any]) -> bool:
    found = _owner_body(owner, platforms, services)
    return found is not None and not found["metadata"].get("deletionTimestamp")


async def repair(*, type: str, body: kopf.Body, logger: kopf.Logger, **kwargs: Any) -> None:
    """Re-applies a child whose fields we set were changed or which was deleted; follows Deployments.

    `platforms` and `services` are kopf indexes (see indexes.py), passed by name."""
    runtime, platforms, services = RUNTIME, kwargs["platforms"], kwargs["services"]
    snapshot = indexes.snapshot(body)
    key = ChildKey.of(snapshot)
    runtime.observe(key, None if type == "DELETED" else snapshot)
    owner = _owner(snapshot)
    if owner is None or not _owner_alive(owner, platforms, services) or _skipped(owner, platforms, services):
        return
    desired = runtime.desired_child(owner, key)
    if desired is not None:
        actual = None if type == "DELETED" else snapshot
        try:
            live, sent = await apply_if_needed(runtime.kube(), desired, actual, absent=actual is None)
        except ApplyError as error:
            logger.warning("could not revert %s: %s", describe(desired), error)
            return
        if sent:
            owner_body = _owner_body(owner, platforms, services)
            message = f"reverted a change to {describe(desired)} made outside the operator"
            logger.info(message)
            if owner_body is not None:
                kopf.event(indexes.as_body(owner_body), type="Normal", reason="DriftReverted", message=message)
        if live is not None:
            runtime.observe(ChildKey.of(live), live)
            snapshot = live
    if snapshot["kind"] == "Deployment" and owner[0] == "DroneService":
        rollout.follow(runtime, owner, services)


def _skipped(owner: OwnerKey, platforms: kopf.Index[str, Any], services: kopf.Index[Any, Any]) -> bool:
    """`reconcile-policy: skip` on the owner (or its platform): its children are observed, never reverted."""
    body = _owner_body(owner, platforms, services)
    platform_name = ((body or {}).get("spec") or {}).get("platformRef", {}).get("name", "")
    return cloud.policy(body, indexes.one(platforms, platform_name) if platform_name else None) == cloud.SKIP


def _owner_body(owner: OwnerKey, platforms: kopf.Index[str, Any], services: kopf.Index[Any, Any]) -> Any:
    kind, namespace, name = owner
    return indexes.one(platforms, name) if kind == "DeliveryPlatform" else indexes.one(services, (namespace, name))


for _group, _version, _plural in WATCHED:
    kopf.on.event(_group, _version, _plural, labels=MANAGED, id=f"repair-{_plural}")(repair)
