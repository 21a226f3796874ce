"""Does Azure's state still match the desired body? Pure comparison of ARM JSON, tolerant of what ARM adds.

Azure returns more than was PUT (read-only properties, defaults, tags added by policy) and normalises some values
(`westus2` comes back as `West US 2`, booleans in Redis configuration as `True`, a queue's `PT60S` as `PT1M`). Only
what the operator asked for is compared, so a second reconcile of an unchanged spec sends no PUT, while a changed or
reverted property does. Strings compare case-insensitively, as ARM treats names, except where case carries meaning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import isodate

# Read back in a different shape than written; compared by `_same_scalar` instead of verbatim.
_LOCATION_KEYS = frozenset({"location", "locationName"})
# Compared verbatim: a Redis access policy's key patterns are case-sensitive (`~Orders:*` is not `~orders:*`).
_EXACT_KEYS = frozenset({"permissions"})
# A Cosmos DB account's regions, matched by name: which is the write region (failoverPriority 0) is Azure's once the
# account exists, since a service-managed failover (or a person's) reorders them. Undoing that is no repair.
_REGIONS = "locations"
_AZURES_ORDER = "failoverPriority"


def _norm(value: str, *, location: bool) -> str:
    folded = value.casefold()
    return folded.replace(" ", "") if location else folded


def _duration(value: str) -> Any:
    """The value of an ISO 8601 duration (Service Bus reads `PT60S` back as `PT1M`); None for any other string."""
    if value[:1].upper() != "P":
        return None
    try:
        return isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError):
        return None


def _same_scalar(desired: Any, actual: Any, *, location: bool) -> bool:
    if isinstance(desired, str) and isinstance(actual, str) and (duration := _duration(desired)) is not None:
        return bool(duration == _duration(actual))
    if isinstance(desired, str) and isinstance(actual, str | bool):
        return _norm(desired, location=location) == _norm(str(actual), location=location)
    if isinstance(desired, bool) or isinstance(actual, bool):
        return desired is actual
    return bool(desired == actual)


def differences(desired: Any, actual: Any, path: str = "") -> list[str]:
    """Paths where `actual` does not contain `desired`; empty when Azure holds what the operator wants."""
    if isinstance(desired, Mapping):
        if not isinstance(actual, Mapping):
            return [path or "."]
        lowered = {str(k).casefold(): v for k, v in actual.items()}
        found: list[str] = []
        for key, value in desired.items():
            child = f"{path}.{key}" if path else str(key)
            if str(key).casefold() not in lowered:
                found.append(child)
            else:
                found += differences(value, lowered[str(key).casefold()], child)
        return found
    if isinstance(desired, Sequence) and not isinstance(desired, str):
        if not isinstance(actual, Sequence) or isinstance(actual, str) or len(actual) != len(desired):
            return [path]
        if path.rsplit(".", 1)[-1] == _REGIONS and all(isinstance(v, Mapping) for v in desired):
            return _regions(desired, actual, path)
        if all(not isinstance(v, Mapping | Sequence) or isinstance(v, str) for v in desired):
            # Lists of scalars (zones, audiences) are sets to ARM; order is not meaningful.
            return [] if sorted(map(str, desired)) == sorted(map(str, actual)) else [path]
        return [
            p for i, (d, a) in enumerate(zip(desired, actual, strict=True)) for p in differences(d, a, f"{path}[{i}]")
        ]
    key = path.rsplit(".", 1)[-1]
    if key in _EXACT_KEYS:
        return [] if desired == actual else [path]
    return [] if _same_scalar(desired, actual, location=key in _LOCATION_KEYS) else [path]


def _regions(desired: Sequence[Mapping[str, Any]], actual: Sequence[Any], path: str) -> list[str]:
    """The spec's regions, each compared with Azure's of the same name, whatever their order."""
    held = {
        _norm(str(region.get("locationName", "")), location=True): region
        for region in actual
        if isinstance(region, Mapping)
    }
    found: list[str] = []
    for wanted in desired:
        name = _norm(str(wanted.get("locationName", "")), location=True)
        if name not in held:
            return [path]
        compared = {key: value for key, value in wanted.items() if key != _AZURES_ORDER}
        found += differences(compared, held[name], f"{path}[{name}]")
    return found
