"""Applies a set of rendered objects in dependency order, sending only those that changed or drifted."""

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fabrikam.operator.api import Problem
from fabrikam.operator.apply.client import FIELD_MANAGER, INITIAL_REPLICAS_MANAGER, ApiError, KubeApi
from fabrikam.operator.apply.comparison import HASH_ANNOTATION, desired_hash, needs_apply, with_hash
from fabrikam.operator.apply.resources import APPLY_ORDER, ChildKey, describe
from fabrikam.operator.metrics import APPLY_WRITES
from fabrikam.operator.render.labels import INITIAL_REPLICAS


@dataclass
class ApplyResult:
    """What one pass did: objects sent and objects left alone, named as people read them (`str(ChildKey)`, the
    words of the Events and logs that report them), and the live result of each, by its key."""

    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    live: dict[ChildKey, dict[str, Any]] = field(default_factory=dict)
    # Objects that existed before the operator first applied them (made by hand, by Helm, by kubectl): taken over
    # through server-side apply, with who else still manages some of their fields.
    adopted: dict[str, list[str]] = field(default_factory=dict)

    def live_of(self, key: ChildKey) -> dict[str, Any] | None:
        """The object as the API server answered its apply; None when it was not sent."""
        return self.live.get(key)


_OURS = frozenset({FIELD_MANAGER, INITIAL_REPLICAS_MANAGER})


def adoption_message(adopted: dict[str, list[str]]) -> str:
    """The Event of objects taken over: which, who else still manages fields of them, and what that means."""
    parts = [
        f"{name} (also managed by {', '.join(managers)})" if managers else name for name, managers in adopted.items()
    ]
    return (
        f"took over {len(adopted)} existing objects through server-side apply: {'; '.join(sorted(parts))}. The "
        "operator now owns every field it renders; fields it does not render stay as their managers left them"
    )[:1024]


def other_managers(live: dict[str, Any]) -> list[str]:
    """Who else manages fields of the object's spec or metadata (status writers and the scale subresource aside)."""
    entries = live.get("metadata", {}).get("managedFields") or []
    return sorted({e["manager"] for e in entries if e.get("manager") not in _OURS and not e.get("subresource")})


def _adopted(actual: dict[str, Any] | None, live: dict[str, Any] | None, *, assumed_new: bool) -> list[str] | None:
    """The other managers of an object the operator just took over, None when it was the operator's already: found
    without our hash annotation, or, when not looked up because its owner is new, holding others' fields."""
    if live is None:
        return None
    if actual is not None:
        return other_managers(live) if HASH_ANNOTATION not in actual["metadata"].get("annotations", {}) else None
    return (other_managers(live) or None) if assumed_new else None


class ApplyError(RuntimeError):
    """The API server refused an object; `reason` (for the Degraded condition) and the message say why."""

    def __init__(self, obj: dict[str, Any], error: ApiError) -> None:
        self.object = describe(obj)
        self.status = error.status
        if error.status == 404:
            # Applying creates on demand, so a 404 means the kind itself is not served: a missing CRD.
            self.reason = "KindNotServed"
            detail = (
                f"the API server does not serve {obj['apiVersion']} {obj['kind']}; "
                f"install what provides it ({_PROVIDERS.get(obj['kind'], 'its CustomResourceDefinition')})"
            )
        else:
            self.reason = _REASONS.get(error.status or 0, "ApplyFailed")
            detail = f"{error.status} {_api_message(error)}"
        super().__init__(f"{self.object}: {detail}")

    @property
    def problem(self) -> Problem:
        return Problem(self.reason, str(self))


_REASONS = {403: "Forbidden", 409: "Conflict", 422: "Invalid"}
_PROVIDERS = {
    "SecretProviderClass": "the Secrets Store CSI driver, e.g. the AKS add-on azure-keyvault-secrets-provider",
    "DroneService": "the operator's CRDs from crds/",
}


def _api_message(error: ApiError) -> str:
    try:
        return str(json.loads(error.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.reason)


async def apply_if_needed(
    api: KubeApi, obj: dict[str, Any], actual: dict[str, Any] | None, *, absent: bool
) -> tuple[dict[str, Any] | None, bool]:
    """Sends `obj` (hash-annotated) unless `actual` already matches; returns the live object and whether it was sent.

    `absent` says the object is known not to exist (a new Deployment then gets its initial replicas); `actual` None
    with `absent` False means "not looked up", which is always sent."""
    desired = with_hash(obj)
    if actual is not None and not needs_apply(desired, actual):
        APPLY_WRITES.labels(obj["kind"], "skipped").inc()
        return actual, False
    try:
        live = await api.apply(desired)
        initial = obj["metadata"].get("annotations", {}).get(INITIAL_REPLICAS)
        if absent and initial is not None:
            live = await api.apply(_replicas_only(obj, int(initial)), field_manager=INITIAL_REPLICAS_MANAGER)
    except ApiError as error:
        raise ApplyError(obj, error) from error
    APPLY_WRITES.labels(obj["kind"], "sent").inc()
    return live, True


def _replicas_only(obj: dict[str, Any], replicas: int) -> dict[str, Any]:
    meta = {key: obj["metadata"][key] for key in ("name", "namespace") if key in obj["metadata"]}
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": meta, "spec": {"replicas": replicas}}


async def apply_objects(
    api: KubeApi,
    objects: list[dict[str, Any]],
    *,
    concurrency: int = 8,
    known_hashes: Mapping[ChildKey, str] | None = None,
    assume_new: bool = False,
) -> ApplyResult:
    """Applies kinds in dependency order (objects of one kind concurrently); skips unchanged ones.

    `known_hashes` (object → desired-hash annotation seen on the watch stream) spares the GET of objects whose
    state is known; drift on them is caught by the watch itself. `assume_new` (a just-created owner) spares the
    GET of children that cannot exist yet."""
    result = ApplyResult()
    by_order: dict[int, list[dict[str, Any]]] = {}
    for obj in objects:
        by_order.setdefault(APPLY_ORDER.get(obj["kind"], len(APPLY_ORDER)), []).append(obj)
    limit = asyncio.Semaphore(concurrency)
    known = known_hashes or {}

    async def one(obj: dict[str, Any]) -> None:
        async with limit:
            key = ChildKey.of(obj)
            name = str(key)
            if key in known:
                if known[key] == desired_hash(obj):
                    APPLY_WRITES.labels(obj["kind"], "skipped").inc()
                    result.skipped.append(name)
                    return
                live, sent = await apply_if_needed(api, obj, None, absent=False)
                actual = None
            elif assume_new:
                actual = None
                live, sent = await apply_if_needed(api, obj, None, absent=True)
            else:
                actual = await api.get(obj)
                live, sent = await apply_if_needed(api, obj, actual, absent=actual is None)
            managers = _adopted(actual, live, assumed_new=assume_new and key not in known)
            if managers is not None:
                result.adopted[name] = managers
            (result.sent if sent else result.skipped).append(name)
            if live is not None:
                result.live[key] = live

    for _, batch in sorted(by_order.items()):
        await asyncio.gather(*(one(obj) for obj in batch))
    return result
