"""One Azure resource as the operator wants it: kind, coordinates, the exact ARM body, and what deleting its owner
does to it. Pure; shared by the desired-state builders (desired.py, private_link.py) and the code that applies them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fabrikam.operator.api import OPERATOR_NAME, DeliveryPlatform
from fabrikam.operator.api.platform import AzureSpec, DeletionPolicy
from fabrikam.operator.azure import naming

MANAGED_BY = OPERATOR_NAME
SHARED_TEAM = "platform"


class Kind(StrEnum):
    SERVICE_BUS_NAMESPACE = "ServiceBusNamespace"
    SERVICE_BUS_QUEUE = "ServiceBusQueue"
    REDIS_CACHE = "RedisCache"
    IDENTITY = "UserAssignedIdentity"
    FEDERATED_CREDENTIAL = "FederatedIdentityCredential"
    ROLE_ASSIGNMENT = "RoleAssignment"
    REDIS_ACCESS_POLICY = "RedisAccessPolicy"
    REDIS_ACCESS_POLICY_ASSIGNMENT = "RedisAccessPolicyAssignment"
    COSMOS_ACCOUNT = "CosmosDbAccount"
    MONGO_DATABASE = "CosmosMongoDatabase"
    MONGO_COLLECTION = "CosmosMongoCollection"
    POSTGRES_SERVER = "PostgresFlexibleServer"
    POSTGRES_DATABASE = "PostgresDatabase"
    POSTGRES_ADMINISTRATOR = "PostgresEntraAdministrator"
    KEY_VAULT_SECRET = "KeyVaultSecret"
    # Disaster recovery (recovery.py): the partners in spec.recovery.secondaryLocation and the links to them.
    SERVICE_BUS_RECOVERY_NAMESPACE = "ServiceBusRecoveryNamespace"
    SERVICE_BUS_ALIAS = "ServiceBusGeoRecoveryAlias"
    REDIS_RECOVERY_CACHE = "RedisRecoveryCache"
    REDIS_LINKED_SERVER = "RedisLinkedServer"
    BUDGET = "Budget"
    # Where the services send traces and metrics (render.service.APPLICATION_INSIGHTS_KIND names it the same).
    APPLICATION_INSIGHTS = "ApplicationInsightsComponent"
    # Private endpoints (private_link.py).
    PRIVATE_DNS_ZONE = "PrivateDnsZone"
    PRIVATE_DNS_ZONE_LINK = "PrivateDnsZoneVirtualNetworkLink"
    PRIVATE_ENDPOINT = "PrivateEndpoint"
    PRIVATE_DNS_ZONE_GROUP = "PrivateDnsZoneGroup"


@dataclass(frozen=True)
class DesiredResource:
    """One Azure resource: where it lives, the body PUT to ARM, and what deleting its owner does to it."""

    kind: Kind
    name: str
    id: str
    resource_group: str
    body: Mapping[str, Any] = field(hash=False)
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE
    # Name of the parent resource (queue -> namespace, credential -> identity, access policy -> cache).
    parent: str | None = None
    # ARM scope a role assignment is created at.
    scope: str | None = None
    # Id of the resource a link joins its parent to (a geo-recovery alias' passive namespace, a geo-replicated cache's
    # secondary): created before the link, deleted after it.
    partner: str | None = None
    # Property paths (dotted) sent but not compared with what Azure holds: a secret's value (never read back), a
    # budget's start date (fixed at creation).
    write_only: frozenset[str] = field(default=frozenset(), hash=False)

    def compared_body(self) -> Mapping[str, Any]:
        """What the drift check compares with Azure's state: the body without its write-only parts."""
        return _without(self.body, self.write_only)


def _without(body: Mapping[str, Any], paths: frozenset[str]) -> dict[str, Any]:
    """`body` without the members at the dotted `paths`."""
    kept: dict[str, Any] = {}
    for key, value in body.items():
        if key in paths:
            continue
        inner = frozenset(p.split(".", 1)[1] for p in paths if p.startswith(f"{key}."))
        kept[key] = _without(value, inner) if inner and isinstance(value, Mapping) else value
    return kept


def group_resource_id(azure: AzureSpec, resource_type: str, name: str) -> str:
    """The id of a resource of the platform's resource group, e.g. `Microsoft.Cache/redis` named `name`."""
    return naming.resource_id(azure.subscription_id, azure.resource_group, resource_type, name)


def tags(
    platform: DeliveryPlatform, azure: AzureSpec, *, team: str, service: str, cost_center: str | None
) -> dict[str, str]:
    """Cost-allocation tags: the platform's own tags, then the operator's, which the spec cannot override."""
    return {
        **azure.tags,
        "platform": platform.name,
        # The profile (production, staging, development) unless the spec's tags name the environment.
        "environment": azure.tags.get("environment", platform.spec.profile.value),
        "team": team,
        "service": service,
        "cost-center": cost_center or azure.tags.get("cost-center", SHARED_TEAM),
        "managed-by": MANAGED_BY,
    }
