"""Decides whether a rendered object must be sent: the desired hash changed, or someone drifted a field we set."""

import hashlib
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from fabrikam.operator.api.base import parse_quantity

HASH_ANNOTATION = "dronedelivery.fabrikam.io/desired-hash"


def desired_hash(obj: dict[str, Any]) -> str:
    """Stable hash of what we render (the annotation itself excluded), so a change of ours is always sent."""
    canonical = json.dumps(_without_hash(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def with_hash(obj: dict[str, Any]) -> dict[str, Any]:
    annotations = {**obj["metadata"].get("annotations", {}), HASH_ANNOTATION: desired_hash(obj)}
    return {**obj, "metadata": {**obj["metadata"], "annotations": annotations}}


def _without_hash(obj: dict[str, Any]) -> dict[str, Any]:
    annotations = {k: v for k, v in obj["metadata"].get("annotations", {}).items() if k != HASH_ANNOTATION}
    return {**obj, "metadata": {**obj["metadata"], "annotations": annotations}}


def needs_apply(desired: dict[str, Any], actual: dict[str, Any] | None) -> bool:
    """True when the object is missing, was rendered differently last time, or a field we set was changed."""
    if actual is None:
        return True
    # `desired` usually comes from with_hash: reuse its hash instead of serialising the object again.
    expected = desired["metadata"].get("annotations", {}).get(HASH_ANNOTATION) or desired_hash(desired)
    if actual["metadata"].get("annotations", {}).get(HASH_ANNOTATION) != expected:
        return True
    return not contains(actual, _without_hash(desired))


def contains(actual: Any, desired: Any) -> bool:
    """Every field we set is present with our value; fields added by defaulting or other managers are ignored."""
    if actual is None and desired in ([], {}):
        return True  # the API server does not store empty lists and maps: `ingress: []` comes back absent
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(contains(actual.get(key), value) for key, value in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(contains(a, d) for a, d in zip(actual, desired, strict=True))
        )
    if desired == actual:
        return True
    return isinstance(desired, str | int) and _quantity(desired) is not None and _quantity(desired) == _quantity(actual)


def _quantity(value: Any) -> Decimal | None:
    """Kubernetes canonicalises quantities ("1000m" is stored as "1"); compare their values (None: not one)."""
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str):
        return None
    try:
        return parse_quantity(value)
    except (ValueError, InvalidOperation):
        return None
