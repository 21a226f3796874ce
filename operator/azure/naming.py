"""Deterministic Azure names and resource ids, so every reconcile (and every retry) targets the same resource.

Service Bus and Redis names are global DNS names; a short hash of subscription, resource group and platform keeps
two environments (or two subscriptions) from colliding while staying stable across reconciles.
"""

from __future__ import annotations

import hashlib
import re
import uuid

ARM_ROLE_ASSIGNMENT_NAMESPACE = uuid.UUID("7f3c1d2e-4b5a-5c6d-8e9f-0a1b2c3d4e5f")


def short_hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("/".join(parts).lower().encode()).hexdigest()[:length]


def bounded(name: str, max_length: int, *, salt: str = "") -> str:
    """`name` if it fits, else a prefix plus a hash of the whole name, still unique and stable."""
    if len(name) <= max_length:
        return name
    suffix = short_hash(name, salt)
    return f"{name[: max_length - len(suffix) - 1].rstrip('-_')}-{suffix}"


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", value.lower()).strip("-")


def service_bus_namespace_name(subscription_id: str, resource_group: str, platform: str) -> str:
    """6-50 characters, starts with a letter, globally unique (it is a DNS name); never ends in -sb or -mgmt."""
    suffix = short_hash(subscription_id, resource_group, platform)
    return f"sb-{_slug(platform)[:38].rstrip('-')}-{suffix}"


def redis_name(subscription_id: str, resource_group: str, platform: str) -> str:
    """1-63 characters of letters, digits and hyphens, globally unique (it is a DNS name)."""
    suffix = short_hash(subscription_id, resource_group, platform)
    return f"redis-{_slug(platform)[:48].rstrip('-')}-{suffix}"


def service_bus_recovery_namespace_name(subscription_id: str, resource_group: str, platform: str) -> str:
    """The geo-recovery partner of the platform's namespace, in `spec.recovery.secondaryLocation`: a DNS name too."""
    suffix = short_hash(subscription_id, resource_group, platform, "recovery")
    return f"sb-{_slug(platform)[:35].rstrip('-')}-dr-{suffix}"


def service_bus_alias_name(subscription_id: str, resource_group: str, platform: str) -> str:
    """The geo-recovery alias: `<alias>.servicebus.windows.net` follows the active namespace of the pair, so it must
    differ from both namespaces' names (and from every other namespace's: it is a DNS name)."""
    suffix = short_hash(subscription_id, resource_group, platform, "alias")
    return f"sb-{_slug(platform)[:34].rstrip('-')}-geo-{suffix}"


def redis_recovery_name(subscription_id: str, resource_group: str, platform: str) -> str:
    """The cache the platform's cache geo-replicates to, in `spec.recovery.secondaryLocation`."""
    suffix = short_hash(subscription_id, resource_group, platform, "recovery")
    return f"redis-{_slug(platform)[:45].rstrip('-')}-dr-{suffix}"


def cosmos_account_name(subscription_id: str, resource_group: str, platform: str) -> str:
    """3-44 lowercase letters, digits and hyphens, globally unique (it is a DNS name)."""
    suffix = short_hash(subscription_id, resource_group, platform)
    return f"cosmos-{_slug(platform)[:28].rstrip('-')}-{suffix}"


def postgres_server_name(subscription_id: str, resource_group: str, platform: str) -> str:
    """3-63 lowercase letters, digits and hyphens, globally unique (it is a DNS name)."""
    suffix = short_hash(subscription_id, resource_group, platform)
    return f"psql-{_slug(platform)[:48].rstrip('-')}-{suffix}"


def application_insights_name(platform: str) -> str:
    """Unique within the resource group only (not a DNS name), at most 255 characters."""
    return bounded(f"appi-{_slug(platform)}", 255)


def private_endpoint_name(target: str) -> str:
    """The private endpoint of the resource named `target`: 2-64 letters, digits, '-', '_' and '.'."""
    return bounded(f"pe-{target}", 64)


def budget_name(platform: str) -> str:
    """Unique within the resource group; letters, digits, hyphens and underscores, at most 63."""
    return bounded(f"budget-{_slug(platform)}", 63)


def identity_name(platform: str, namespace: str, service: str) -> str:
    """One user-assigned identity per DroneService; unique within the platform's resource group."""
    return bounded(f"id-{_slug(platform)}-{namespace}-{service}", 128)


def on_call_reader_name(platform: str) -> str:
    """The identity reading the platform's on-call key, one per platform in its resource group."""
    return bounded(f"id-oncall-{_slug(platform)}", 128)


def federated_credential_name(namespace: str, service_account: str) -> str:
    return bounded(f"{namespace}-{service_account}", 120)


def redis_access_policy_name(namespace: str, service: str) -> str:
    """The service's own access policy on the platform's cache: 3-63 letters, digits and hyphens (Azure also allows
    spaces, which only its built-in policies use). The hash of namespace and name keeps `a-b/c` apart from `a/b-c`
    and a shortened long name unique."""
    suffix = short_hash(namespace, service)
    stem = f"svc-{_slug(namespace)}-{_slug(service)}"[: 63 - len(suffix) - 1].rstrip("-")
    return f"{stem}-{suffix}"


def assignment_name(scope: str, principal_id: str, role: str) -> str:
    """A GUID derived from what is granted to whom where: a retried PUT can never create a second assignment."""
    return str(uuid.uuid5(ARM_ROLE_ASSIGNMENT_NAMESPACE, f"{scope.lower()}|{principal_id.lower()}|{role.lower()}"))


def resource_group_id(subscription_id: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"


def resource_id(subscription_id: str, resource_group: str, resource_type: str, name: str) -> str:
    """The id of a resource of a resource group, e.g. `Microsoft.Cache/redis` named `name`."""
    return f"{resource_group_id(subscription_id, resource_group)}/providers/{resource_type}/{name}"


def role_definition_id(subscription_id: str, role_guid: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"
