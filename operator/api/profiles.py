"""Environment profiles: what production, staging and development choose for the Azure stores a spec sizes only
partly (seed: the dev and QA clusters mirror production, at production's price).

A profile fills the fields the spec leaves out; a value written in the spec always wins. The fields have no default
in the CRD (the apiserver would write it into the object, and the operator could no longer tell it from a choice),
so the filling happens when the operator reads the spec (`fill`, run by DeliveryPlatformSpec's validation).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic.config import JsonDict


class Profile(StrEnum):
    PRODUCTION = "production"
    STAGING = "staging"
    DEVELOPMENT = "development"


# Per store (its path in the spec, camelCase) the fields each profile chooses.
STORE_DEFAULTS: dict[Profile, dict[tuple[str, str], dict[str, Any]]] = {
    Profile.PRODUCTION: {
        ("messaging", "serviceBus"): {"sku": "Premium", "zoneRedundant": True},
        ("cache", "redis"): {"sku": "Premium", "capacity": 1},
        ("databases", "cosmosDb"): {"maxThroughput": 4000, "zoneRedundant": True, "backupTier": "Continuous30Days"},
        ("databases", "postgres"): {
            "tier": "GeneralPurpose",
            "highAvailability": "ZoneRedundant",
            "backupRetentionDays": 14,
        },
    },
    Profile.STAGING: {
        ("messaging", "serviceBus"): {"sku": "Standard", "zoneRedundant": False},
        ("cache", "redis"): {"sku": "Standard", "capacity": 1},
        ("databases", "cosmosDb"): {"maxThroughput": 1000, "zoneRedundant": False, "backupTier": "Continuous7Days"},
        ("databases", "postgres"): {"tier": "GeneralPurpose", "highAvailability": "Disabled", "backupRetentionDays": 7},
    },
    Profile.DEVELOPMENT: {
        ("messaging", "serviceBus"): {"sku": "Standard", "zoneRedundant": False},
        ("cache", "redis"): {"sku": "Basic", "capacity": 0},
        ("databases", "cosmosDb"): {"maxThroughput": 1000, "zoneRedundant": False, "backupTier": "Continuous7Days"},
        ("databases", "postgres"): {"tier": "Burstable", "highAvailability": "Disabled", "backupRetentionDays": 7},
    },
}
# The compute size of each PostgreSQL tier when the spec names none, and the tier a named size belongs to.
POSTGRES_SKU_OF_TIER = {
    "Burstable": "Standard_B1ms",
    "GeneralPurpose": "Standard_D2ds_v5",
    "MemoryOptimized": "Standard_E2ds_v5",
}
_TIER_OF_SKU_PREFIX = {"Standard_B": "Burstable", "Standard_D": "GeneralPurpose", "Standard_E": "MemoryOptimized"}


def chosen_by_profile(schema: JsonDict) -> None:
    """`json_schema_extra` of a field the profile fills: no default in the CRD (see the module docstring)."""
    schema.pop("default", None)
    description = str(schema.get("description", ""))
    schema["description"] = f"{description} Absent: chosen by spec.profile.".strip()


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _get(data: Mapping[str, Any], name: str) -> Any:
    """A field by its camelCase or snake_case name (the models accept both)."""
    return data[name] if name in data else data.get(_snake(name))


def _has(data: dict[str, Any], name: str) -> bool:
    return _get(data, name) is not None


def _plain(value: Any) -> Any:
    """A deep copy as plain dicts and lists (kopf hands the spec over as read-only mapping views)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def fill(spec: Any) -> Any:
    """The spec (a mapping as read from the cluster) with each store's unset fields filled from its profile; what
    the spec sets stays. Anything else (a model, a malformed value) is returned as it is for validation to judge."""
    if not isinstance(spec, Mapping):
        return spec
    try:
        profile = Profile(_get(spec, "profile") or Profile.PRODUCTION)
    except ValueError:
        return spec  # validation names the field
    filled: dict[str, Any] = _plain(spec)
    for (section, store), defaults in STORE_DEFAULTS[profile].items():
        parent = _get(filled, section)
        target = _get(parent, store) if isinstance(parent, dict) else None
        if not isinstance(target, dict):
            continue
        if store == "postgres":
            _fill_postgres(target, defaults)
            continue
        for name, value in defaults.items():
            if not _has(target, name):
                target[name] = value
    return filled


def _fill_postgres(server: dict[str, Any], defaults: dict[str, Any]) -> None:
    """A named size decides the tier, a tier its default size; Burstable has no high availability to default to."""
    sku = _get(server, "skuName")
    if not _has(server, "tier"):
        inferred = next((t for prefix, t in _TIER_OF_SKU_PREFIX.items() if str(sku or "").startswith(prefix)), None)
        server["tier"] = inferred or defaults["tier"]
    tier = _get(server, "tier")
    if sku is None:
        server["skuName"] = POSTGRES_SKU_OF_TIER.get(str(tier), POSTGRES_SKU_OF_TIER["GeneralPurpose"])
    if not _has(server, "highAvailability"):
        server["highAvailability"] = "Disabled" if tier == "Burstable" else defaults["highAvailability"]
    if not _has(server, "backupRetentionDays"):
        server["backupRetentionDays"] = defaults["backupRetentionDays"]
