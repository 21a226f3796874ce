"""The Azure resources a DeliveryPlatform or a DroneService should have, as ARM request bodies: the platform's
stores and the identity reading its on-call key, a service's identity and grants.

Pure: spec (plus observed facts such as an identity's principal id) in, resource descriptions out. The bodies are
exactly what is PUT to Azure Resource Manager, so they are what tests compare and what the drift check compares
Azure's state against. Nothing here knows the SDKs' model types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from fabrikam.operator.api import Component, DeliveryPlatform, DependencyKind, DroneService, QueueAccess
from fabrikam.operator.api.platform import AzureSpec, Queue
from fabrikam.operator.azure import naming, private_link, recovery
from fabrikam.operator.azure.resource import MANAGED_BY as MANAGED_BY
from fabrikam.operator.azure.resource import SHARED_TEAM as SHARED_TEAM
from fabrikam.operator.azure.resource import DesiredResource as DesiredResource
from fabrikam.operator.azure.resource import Kind as Kind
from fabrikam.operator.azure.resource import group_resource_id as group_resource_id
from fabrikam.operator.azure.resource import tags as tags
from fabrikam.operator.render.catalog import MONGO_COLLECTIONS, bundled_uses, platform_queues
from fabrikam.operator.render.databases import mongo_secret_name, serves_mongo, serves_sql
from fabrikam.operator.render.oncall import KEYS
from fabrikam.operator.render.tenancy import TEAM_REDIS_COMMANDS, ungranted_queues

WORKLOAD_IDENTITY_AUDIENCE = "api://AzureADTokenExchange"

# Built-in role definition ids; the same GUIDs in every subscription and cloud.
SERVICE_BUS_DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
SERVICE_BUS_DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
# Redis data access is granted by the cache's own access policies, not by Azure RBAC. The built-in Data Contributor
# (`+@all -@dangerous ... allkeys`) reads and writes every key: the bundled services' grant only.
REDIS_DATA_CONTRIBUTOR = "Data Contributor"
# A team's service gets a custom access policy instead: tenancy.TEAM_REDIS_COMMANDS on its own key prefix.


_ROLE_OF_ACCESS = {QueueAccess.SEND: SERVICE_BUS_DATA_SENDER, QueueAccess.RECEIVE: SERVICE_BUS_DATA_RECEIVER}


def service_bus_namespace_id(azure: AzureSpec, platform: str) -> str:
    name = naming.service_bus_namespace_name(azure.subscription_id, azure.resource_group, platform)
    return group_resource_id(azure, "Microsoft.ServiceBus/namespaces", name)


def redis_id(azure: AzureSpec, platform: str) -> str:
    return group_resource_id(
        azure, "Microsoft.Cache/redis", naming.redis_name(azure.subscription_id, azure.resource_group, platform)
    )


def cosmos_account_id(azure: AzureSpec, platform: str) -> str:
    name = naming.cosmos_account_name(azure.subscription_id, azure.resource_group, platform)
    return group_resource_id(azure, "Microsoft.DocumentDB/databaseAccounts", name)


def postgres_server_id(azure: AzureSpec, platform: str) -> str:
    name = naming.postgres_server_name(azure.subscription_id, azure.resource_group, platform)
    return group_resource_id(azure, "Microsoft.DBforPostgreSQL/flexibleServers", name)


def key_vault_id(azure: AzureSpec) -> str | None:
    """The platform's Key Vault, in its resource group; None without one."""
    if azure.key_vault_name is None:
        return None
    return group_resource_id(azure, "Microsoft.KeyVault/vaults", azure.key_vault_name)


def identity_id(azure: AzureSpec, name: str) -> str:
    return group_resource_id(azure, "Microsoft.ManagedIdentity/userAssignedIdentities", name)


def _queue_body(queue: Queue, *, premium_partitions: int | None) -> dict[str, Any]:
    """`premium_partitions`: the Premium namespace's partitions (its queues all follow it), None on Standard."""
    properties: dict[str, Any] = {
        "lockDuration": queue.lock_duration,
        "maxDeliveryCount": queue.max_delivery_count,
        "defaultMessageTimeToLive": queue.default_message_time_to_live,
        "requiresDuplicateDetection": queue.duplicate_detection,
        "deadLetteringOnMessageExpiration": queue.dead_lettering_on_message_expiration,
        # Premium partitions at the namespace level: every queue or none (ARM refuses a mix).
        "enablePartitioning": queue.partitioned is not False if premium_partitions is None else premium_partitions > 1,
    }
    if queue.duplicate_detection:
        properties["duplicateDetectionHistoryTimeWindow"] = queue.duplicate_detection_window
    return {"properties": properties}


def _service_bus(platform: DeliveryPlatform, azure: AzureSpec, pairing: recovery.Pairing) -> list[DesiredResource]:
    bus = platform.spec.messaging.service_bus
    if bus is None:
        return []
    premium = bus.sku == "Premium"
    name = naming.service_bus_namespace_name(azure.subscription_id, azure.resource_group, platform.name)
    namespace_id = service_bus_namespace_id(azure, platform.name)
    sku: dict[str, Any] = {"name": bus.sku, "tier": bus.sku}
    properties: dict[str, Any] = {
        "minimumTlsVersion": "1.2",
        # Entra ID only: no SAS keys exist that a service could leak.
        "disableLocalAuth": True,
        "zoneRedundant": bus.zone_redundant,
    }
    if premium:
        sku["capacity"] = bus.capacity or 1
        properties["premiumMessagingPartitions"] = bus.partitions
    namespace = DesiredResource(
        kind=Kind.SERVICE_BUS_NAMESPACE,
        name=name,
        id=namespace_id,
        resource_group=azure.resource_group,
        body={
            "location": azure.location,
            "tags": tags(platform, azure, team=SHARED_TEAM, service="servicebus", cost_center=None),
            "sku": sku,
            "properties": properties,
        },
        deletion_policy=azure.deletion_policy,
    )
    queues = [
        DesiredResource(
            kind=Kind.SERVICE_BUS_QUEUE,
            name=queue.name,
            id=f"{namespace_id}/queues/{queue.name}",
            resource_group=azure.resource_group,
            body=_queue_body(queue, premium_partitions=bus.partitions if premium else None),
            deletion_policy=azure.deletion_policy,
            parent=name,
        )
        for queue in platform_queues(platform)
    ]
    if recovery.pairs_service_bus(platform):
        return _geo_paired(platform, azure, namespace, queues, pairing)
    return [namespace, *queues]


def _geo_paired(
    platform: DeliveryPlatform,
    azure: AzureSpec,
    home: DesiredResource,
    queues: Sequence[DesiredResource],
    pairing: recovery.Pairing,
) -> list[DesiredResource]:
    """Geo-disaster recovery: the same namespace in the secondary location, and the alias pairing the active namespace
    (the platform's until a failover) with the passive one. Queues are written to the active namespace; the pairing
    replicates them to the passive one, which takes no entity writes of its own."""
    name, namespace_id = recovery.namespace(azure, platform.name, recovery.Side.RECOVERY)
    partner = replace(
        home,
        kind=Kind.SERVICE_BUS_RECOVERY_NAMESPACE,
        name=name,
        id=namespace_id,
        body=recovery.on_recovery_side(platform, home.body),
    )
    active = home if pairing.active is recovery.Side.HOME else partner
    placed = [replace(queue, id=f"{active.id}/queues/{queue.name}", parent=active.name) for queue in queues]
    alias = [] if pairing.held is not None else [geo_recovery_alias(platform, azure, pairing.active)]
    return [home, partner, *placed, *alias]


def geo_recovery_alias(platform: DeliveryPlatform, azure: AzureSpec, active: recovery.Side) -> DesiredResource:
    """The geo-recovery alias as the namespace on the `active` side holds it, naming the other one its partner."""
    active_name, active_id = recovery.namespace(azure, platform.name, active)
    _, passive_id = recovery.namespace(azure, platform.name, active.other)
    alias = recovery.alias_name(azure, platform.name)
    return DesiredResource(
        kind=Kind.SERVICE_BUS_ALIAS,
        name=alias,
        id=f"{active_id}/disasterRecoveryConfigs/{alias}",
        resource_group=azure.resource_group,
        body=recovery.alias_body(passive_id),
        deletion_policy=azure.deletion_policy,
        parent=active_name,
        partner=passive_id,
    )


def _redis(platform: DeliveryPlatform, azure: AzureSpec) -> list[DesiredResource]:
    spec = platform.spec.cache.redis
    if spec is None:
        return []
    premium = spec.sku == "Premium"
    properties: dict[str, Any] = {
        "sku": {"name": spec.sku, "family": "P" if premium else "C", "capacity": spec.capacity},
        "enableNonSslPort": False,
        "minimumTlsVersion": spec.minimum_tls_version,
        # Entra ID tokens only: access keys are shared secrets.
        "disableAccessKeyAuthentication": True,
        "redisConfiguration": {"aad-enabled": "true"},
    }
    if spec.shard_count is not None:
        properties["shardCount"] = spec.shard_count
    body: dict[str, Any] = {
        "location": azure.location,
        "tags": tags(platform, azure, team=SHARED_TEAM, service="redis", cost_center=None),
        "properties": properties,
    }
    geo_replicated = recovery.links_redis(platform)
    zones = sorted(spec.zones if spec.zones is not None else azure.zones)
    if premium and zones and not geo_replicated:
        # No zones is no `zones` at all: Azure answers none for a cache created without.
        body["zones"] = zones
    cache = DesiredResource(
        kind=Kind.REDIS_CACHE,
        name=naming.redis_name(azure.subscription_id, azure.resource_group, platform.name),
        id=redis_id(azure, platform.name),
        resource_group=azure.resource_group,
        body=body,
        deletion_policy=azure.deletion_policy,
    )
    if not geo_replicated:
        return [cache]
    name = naming.redis_recovery_name(azure.subscription_id, azure.resource_group, platform.name)
    partner = replace(
        cache,
        kind=Kind.REDIS_RECOVERY_CACHE,
        name=name,
        id=group_resource_id(azure, "Microsoft.Cache/redis", name),
        body=recovery.on_recovery_side(platform, body),
    )
    link = DesiredResource(
        kind=Kind.REDIS_LINKED_SERVER,
        name=name,
        id=f"{cache.id}/linkedServers/{name}",
        resource_group=azure.resource_group,
        body=recovery.link_body(platform, partner.id),
        deletion_policy=azure.deletion_policy,
        parent=cache.name,
        partner=partner.id,
        # A link is never updated in place, and a geo-failover swaps its roles: once it exists, Azure's state is right.
        write_only=frozenset({"properties"}),
    )
    return [cache, partner, link]


def _cosmos(platform: DeliveryPlatform, azure: AzureSpec) -> list[DesiredResource]:
    """The account, a database per bundled `mongo` dependency with autoscale throughput up to the spec's maximum
    (seed: 10,000 RU/s provisioned around the clock), and the collections the service expects, sharded up front."""
    spec = platform.spec.databases.cosmos_db
    if spec is None:
        return []
    name = naming.cosmos_account_name(azure.subscription_id, azure.resource_group, platform.name)
    account_id = cosmos_account_id(azure, platform.name)
    account = DesiredResource(
        kind=Kind.COSMOS_ACCOUNT,
        name=name,
        id=account_id,
        resource_group=azure.resource_group,
        body={
            "location": azure.location,
            "kind": "MongoDB",
            "tags": tags(platform, azure, team=SHARED_TEAM, service="cosmosdb", cost_center=None),
            "properties": {
                "databaseAccountOfferType": "Standard",
                "apiProperties": {"serverVersion": spec.server_version},
                **recovery.cosmos_regions(platform, azure.location, zone_redundant=spec.zone_redundant),
                "consistencyPolicy": {"defaultConsistencyLevel": "Session"},
                "backupPolicy": {"type": "Continuous", "continuousModeProperties": {"tier": spec.backup_tier}},
                "minimalTlsVersion": "Tls12",
                # Keys can read and write data only: no key can change the account, its databases or throughput.
                "disableKeyBasedMetadataWriteAccess": True,
            },
        },
        deletion_policy=azure.deletion_policy,
    )
    resources = [account]
    for _, use in bundled_uses(platform, DependencyKind.MONGO):
        database_id = f"{account_id}/mongodbDatabases/{use.name}"
        resources.append(
            DesiredResource(
                kind=Kind.MONGO_DATABASE,
                name=use.name,
                id=database_id,
                resource_group=azure.resource_group,
                body={
                    "properties": {
                        "resource": {"id": use.name},
                        "options": {"autoscaleSettings": {"maxThroughput": spec.max_throughput}},
                    }
                },
                deletion_policy=azure.deletion_policy,
                parent=name,
            )
        )
        for collection in MONGO_COLLECTIONS.get(use.name, ()):
            resource: dict[str, Any] = {
                "id": collection.name,
                "indexes": [{"key": {"keys": [field_name]}} for field_name in collection.indexes],
            }
            if collection.shard_key is not None:
                resource["shardKey"] = {collection.shard_key: "Hash"}
            resources.append(
                DesiredResource(
                    kind=Kind.MONGO_COLLECTION,
                    name=collection.name,
                    id=f"{database_id}/collections/{collection.name}",
                    resource_group=azure.resource_group,
                    body={"properties": {"resource": resource, "options": {}}},
                    deletion_policy=azure.deletion_policy,
                    parent=use.name,
                )
            )
    return resources


def _postgres(platform: DeliveryPlatform, azure: AzureSpec) -> list[DesiredResource]:
    """The platform's own server (seed: the account database shared with a legacy application) with Microsoft
    Entra authentication only, and a database per bundled `sql` dependency."""
    spec = platform.spec.databases.postgres
    if spec is None:
        return []
    name = naming.postgres_server_name(azure.subscription_id, azure.resource_group, platform.name)
    server_id = postgres_server_id(azure, platform.name)
    high_availability: dict[str, Any] = {"mode": spec.high_availability}
    forced = recovery.forces_geo_backup(platform, asked=spec.geo_redundant_backup)
    properties: dict[str, Any] = {
        "version": spec.version,
        "authConfig": {"activeDirectoryAuth": "Enabled", "passwordAuth": "Disabled", "tenantId": azure.tenant_id},
        "storage": {"storageSizeGB": spec.storage_gb, "autoGrow": "Enabled"},
        "backup": {
            "backupRetentionDays": spec.backup_retention_days,
            "geoRedundantBackup": "Enabled" if spec.geo_redundant_backup or forced else "Disabled",
        },
        "highAvailability": high_availability,
    }
    if spec.high_availability == "ZoneRedundant" and len(azure.zones) >= 2:
        # The primary in the first of the platform's zones, its standby in the second.
        properties["availabilityZone"] = sorted(azure.zones)[0]
        high_availability["standbyAvailabilityZone"] = sorted(azure.zones)[1]
    server = DesiredResource(
        kind=Kind.POSTGRES_SERVER,
        name=name,
        id=server_id,
        resource_group=azure.resource_group,
        body={
            "location": azure.location,
            "tags": tags(platform, azure, team=SHARED_TEAM, service="postgres", cost_center=None),
            "sku": {"name": spec.sku_name, "tier": spec.tier},
            "properties": properties,
        },
        deletion_policy=azure.deletion_policy,
        # Asked for by recovery alone: a server created without it keeps it off (Azure refuses the change), and
        # recovery.assess says so instead of the update failing.
        write_only=frozenset({"properties.backup.geoRedundantBackup"}) if forced else frozenset(),
    )
    databases = [
        DesiredResource(
            kind=Kind.POSTGRES_DATABASE,
            name=use.name,
            id=f"{server_id}/databases/{use.name}",
            resource_group=azure.resource_group,
            body={"properties": {"charset": "UTF8", "collation": "en_US.utf8"}},
            deletion_policy=azure.deletion_policy,
            parent=name,
        )
        for _, use in bundled_uses(platform, DependencyKind.SQL)
    ]
    return [server, *databases]


def mongo_secret(platform: DeliveryPlatform, connection_string: str, *, fingerprint: str) -> DesiredResource:
    """The Key Vault secret holding the Cosmos DB connection string the package pods mount as a file. Its value is
    never read back (ARM does not return it): the `content-sha256` tag says which connection string it holds."""
    azure = platform.spec.azure
    assert azure is not None
    assert azure.key_vault_name is not None
    vault_id = key_vault_id(azure)
    name = mongo_secret_name(platform.name)
    return DesiredResource(
        kind=Kind.KEY_VAULT_SECRET,
        name=name,
        id=f"{vault_id}/secrets/{name}",
        resource_group=azure.resource_group,
        body={
            "tags": tags(platform, azure, team=SHARED_TEAM, service="cosmosdb", cost_center=None)
            | {"content-sha256": fingerprint},
            "properties": {"value": connection_string, "contentType": "application/x-mongodb-connection-string"},
        },
        # Kept with the account: the secret goes when the platform's spec.azure does, by deletionPolicy.
        deletion_policy=azure.deletion_policy,
        parent=azure.key_vault_name,
        write_only=frozenset({"properties"}),
    )


def budget(platform: DeliveryPlatform, *, today: date) -> DesiredResource | None:
    """The platform's monthly cost budget on its resource group, alerting the contacts at each threshold of actual
    spend and when the forecast passes the amount. The start date (this month's first day, `today` being the
    operator's clock) is Azure's once the budget exists: left out of the drift check, and kept on updates."""
    azure, spec = platform.spec.azure, platform.spec.cost.budget
    if azure is None or spec is None:
        return None
    emails = sorted(spec.contact_emails)
    notifications: dict[str, Any] = {
        f"actual-{threshold}": {
            "enabled": True,
            "operator": "GreaterThanOrEqualTo",
            "threshold": threshold,
            "thresholdType": "Actual",
            "contactEmails": emails,
        }
        for threshold in sorted(set(spec.thresholds))
    }
    notifications["forecast-100"] = {
        "enabled": True,
        "operator": "GreaterThan",
        "threshold": 100,
        "thresholdType": "Forecasted",
        "contactEmails": emails,
    }
    name = naming.budget_name(platform.name)
    scope = naming.resource_group_id(azure.subscription_id, azure.resource_group)
    return DesiredResource(
        kind=Kind.BUDGET,
        name=name,
        id=f"{scope}/providers/Microsoft.Consumption/budgets/{name}",
        resource_group=azure.resource_group,
        body={
            "properties": {
                "category": "Cost",
                "amount": spec.amount,
                "timeGrain": "Monthly",
                "timePeriod": {"startDate": f"{today:%Y-%m}-01T00:00:00Z"},
                "notifications": notifications,
            }
        },
        # Retained stores still cost money: the budget keeps watching them.
        deletion_policy=azure.deletion_policy,
        scope=scope,
        write_only=frozenset({"properties.timePeriod"}),
    )


def application_insights(platform: DeliveryPlatform) -> DesiredResource | None:
    """The platform's workspace-based Application Insights component (spec.observability.applicationInsights),
    sending what it ingests to the spec's Log Analytics workspace. Local authentication stays on: the services'
    exporter sends with the connection string alone, which Microsoft does not count as a secret."""
    azure, spec = platform.spec.azure, platform.spec.observability.application_insights
    if azure is None or spec is None:
        return None
    name = naming.application_insights_name(platform.name)
    return DesiredResource(
        kind=Kind.APPLICATION_INSIGHTS,
        name=name,
        id=group_resource_id(azure, "Microsoft.Insights/components", name),
        resource_group=azure.resource_group,
        body={
            "location": azure.location,
            "kind": "web",
            "tags": tags(platform, azure, team=SHARED_TEAM, service="applicationinsights", cost_center=None),
            "properties": {
                "Application_Type": "web",
                "WorkspaceResourceId": spec.workspace_resource_id,
                "IngestionMode": "LogAnalytics",
            },
        },
        deletion_policy=azure.deletion_policy,
    )


def undeclared_queues(
    platform: DeliveryPlatform, listed: Sequence[Mapping[str, Any]], pairing: recovery.Pairing = recovery.Pairing()
) -> list[DesiredResource]:
    """Queues of the platform's (active) namespace that the spec no longer lists, to delete or retain by
    deletionPolicy.

    The namespace is the operator's (deterministic name), so every queue in it is the spec's to decide."""
    azure = platform.spec.azure
    if azure is None or platform.spec.messaging.service_bus is None:
        return []
    declared = {q.name.casefold() for q in platform_queues(platform)}
    namespace, _ = recovery.namespace(azure, platform.name, pairing.active)
    return [
        DesiredResource(
            kind=Kind.SERVICE_BUS_QUEUE,
            name=str(item["name"]),
            id=str(item["id"]),
            resource_group=azure.resource_group,
            body={},
            deletion_policy=azure.deletion_policy,
            parent=namespace,
        )
        for item in listed
        if str(item["name"]).casefold() not in declared
    ]


def platform_resources(
    platform: DeliveryPlatform, pairing: recovery.Pairing = recovery.Pairing()
) -> list[DesiredResource]:
    """The platform's shared data stores, parents before children; empty when `spec.azure` is absent. `pairing` is
    the Service Bus geo-recovery pairing as Azure has it (recovery.Pairing), as created when not known."""
    azure = platform.spec.azure
    if azure is None:
        return []
    stores = [
        *_service_bus(platform, azure, pairing),
        *_redis(platform, azure),
        *_cosmos(platform, azure),
        *_postgres(platform, azure),
    ]
    return private_link.secured(platform, azure, stores)


# A budget's start date matters only when it is created; deleting or comparing ids needs none.
_ANY_DAY = date(2026, 1, 1)


def owned_resources(
    platform: DeliveryPlatform, *, today: date, pairing: recovery.Pairing = recovery.Pairing()
) -> list[DesiredResource]:
    """Everything the platform itself holds in Azure: its data stores, its Application Insights component, then its
    budget (created with `today`'s month as its start)."""
    extra = [application_insights(platform), budget(platform, today=today)]
    return [*platform_resources(platform, pairing), *(r for r in extra if r is not None)]


def unnamed_stores(previous: DeliveryPlatform, current: DeliveryPlatform) -> list[DesiredResource]:
    """The data stores `previous` described that `current` no longer does, parents before children: the cache or
    the Service Bus namespace (with its queues) dropped from the spec, all of them when `spec.azure` went (or they
    live at other coordinates now). A queue dropped from a namespace that stays is `undeclared_queues`' to find.

    Each goes by the deletionPolicy in force: the current spec's, or the last one known once `spec.azure` is gone.
    """
    old_azure = previous.spec.azure
    if old_azure is None:
        return []
    policy = (current.spec.azure or old_azure).deletion_policy
    named = {r.id.casefold() for r in owned_resources(current, today=_ANY_DAY)}
    gone = [r for r in owned_resources(previous, today=_ANY_DAY) if r.id.casefold() not in named]
    parents = {r.name for r in gone}
    return [
        r if r.kind in private_link.SHARED_KINDS else replace(r, deletion_policy=policy)
        for r in gone
        if r.kind is not Kind.SERVICE_BUS_QUEUE or r.parent in parents
    ]


def service_account_subject(namespace: str, service_account: str) -> str:
    """The token subject the AKS OIDC issuer puts in the tokens of a ServiceAccount's pods."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def _federated_credential(
    identity: DesiredResource, issuer: str, *, namespace: str, service_account: str
) -> DesiredResource:
    """`identity` trusting the tokens of one ServiceAccount, as the cluster's OIDC issuer signs them."""
    name = naming.federated_credential_name(namespace, service_account)
    return DesiredResource(
        kind=Kind.FEDERATED_CREDENTIAL,
        name=name,
        id=f"{identity.id}/federatedIdentityCredentials/{name}",
        resource_group=identity.resource_group,
        body={
            "properties": {
                "issuer": issuer,
                "subject": service_account_subject(namespace, service_account),
                "audiences": [WORKLOAD_IDENTITY_AUDIENCE],
            }
        },
        parent=identity.name,
    )


def identity_resources(svc: DroneService, platform: DeliveryPlatform) -> list[DesiredResource]:
    """The service's user-assigned identity and its federated credential; empty without Azure or identity.

    Without `spec.azure.oidcIssuerUrl` only the identity is described: no token could be federated.
    """
    azure = platform.spec.azure
    if azure is None or not svc.spec.identity.azure:
        return []
    team = platform.spec.team_of_namespace(svc.namespace)
    name = naming.identity_name(platform.name, svc.namespace, svc.name)
    identity = DesiredResource(
        kind=Kind.IDENTITY,
        name=name,
        id=identity_id(azure, name),
        resource_group=azure.resource_group,
        body={
            "location": azure.location,
            "tags": tags(
                platform,
                azure,
                team=team.name if team else svc.namespace,
                service=svc.name,
                cost_center=team.cost_center if team else None,
            ),
        },
    )
    if azure.oidc_issuer_url is None:
        return [identity]
    return [
        identity,
        _federated_credential(identity, azure.oidc_issuer_url, namespace=svc.namespace, service_account=svc.name),
    ]


def _role_assignment(
    who: str, azure: AzureSpec, *, scope: str, role: str, principal_id: str, what: str
) -> DesiredResource:
    """`role` at `scope` for `principal_id`; `who` and `what` say in its description whose grant it is and why."""
    name = naming.assignment_name(scope, principal_id, role)
    return DesiredResource(
        kind=Kind.ROLE_ASSIGNMENT,
        name=name,
        id=f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
        resource_group=azure.resource_group,
        body={
            "properties": {
                "roleDefinitionId": naming.role_definition_id(azure.subscription_id, role),
                "principalId": principal_id,
                # Skips the Entra lookup that fails while a new identity is still replicating.
                "principalType": "ServicePrincipal",
                "description": f"{MANAGED_BY}: {who} {what}",
            }
        },
        scope=scope,
    )


def _declared_queues(platform: DeliveryPlatform) -> set[str]:
    return {q.name for q in platform_queues(platform)}


def _queue_grants(svc: DroneService, platform: DeliveryPlatform) -> dict[str, frozenset[QueueAccess]]:
    """Per declared queue the union of what the service's `uses` entries for it ask for and the platform granted
    its team (a team's service gets no role on a queue the platform did not grant it: tenancy.py)."""
    queues = _declared_queues(platform)
    refused: dict[str, set[QueueAccess]] = {}
    for _, name, lacking in ungranted_queues(svc, platform):
        refused.setdefault(name, set()).update(lacking)
    grants: dict[str, frozenset[QueueAccess]] = {}
    for use in svc.spec.uses:
        allowed = use.queue_access() - refused.get(use.name, set())
        if use.kind is DependencyKind.QUEUE and use.name in queues and allowed:
            grants[use.name] = grants.get(use.name, frozenset()) | allowed
    return grants


def access_resources(svc: DroneService, platform: DeliveryPlatform, *, principal_id: str) -> list[DesiredResource]:
    """Data-plane grants for exactly the queues and cache the service declares in `uses`, nothing else; for a team's
    service that uses Redis, its own access policy comes before the assignment that names it."""
    azure = platform.spec.azure
    if azure is None or not svc.spec.identity.azure:
        return []
    # A geo-recovery pairing replicates queues, not role assignments: the recovery namespace's queues get the same
    # grants, so the services keep their access once a failover moved the alias there.
    namespaces = [(service_bus_namespace_id(azure, platform.name), "")]
    if recovery.pairs_service_bus(platform):
        namespaces.append((recovery.namespace(azure, platform.name, recovery.Side.RECOVERY)[1], " (geo-recovery)"))
    grants: list[DesiredResource] = []
    for use, accesses in sorted(_queue_grants(svc, platform).items()):
        for access in sorted(accesses):
            grants += [
                _role_assignment(
                    f"{svc.namespace}/{svc.name}",
                    azure,
                    scope=f"{namespace_id}/queues/{use}",
                    role=_ROLE_OF_ACCESS[access],
                    principal_id=principal_id,
                    what=f"{access.value} on queue {use}{where}",
                )
                for namespace_id, where in namespaces
            ]
    if platform.spec.cache.redis is not None and any(u.kind is DependencyKind.REDIS for u in svc.spec.uses):
        grants += _redis_access(svc, platform, azure, principal_id=principal_id)
    vault = key_vault_id(azure)
    if vault is not None and reads_key_vault(svc, platform):
        grants.append(
            _role_assignment(
                f"{svc.namespace}/{svc.name}",
                azure,
                scope=vault,
                role=KEY_VAULT_SECRETS_USER,
                principal_id=principal_id,
                what="reads secrets of the platform's Key Vault",
            )
        )
    if serves_sql(svc, platform):
        grants.append(_postgres_administrator(svc, platform, azure, principal_id=principal_id))
    return grants


def reads_key_vault(svc: DroneService, platform: DeliveryPlatform) -> bool:
    """Whether the service's pods mount objects of the platform's Key Vault: its declared secrets, or the Cosmos DB
    connection string."""
    return bool(svc.spec.secrets) or serves_mongo(svc, platform)


def _postgres_administrator(
    svc: DroneService, platform: DeliveryPlatform, azure: AzureSpec, *, principal_id: str
) -> DesiredResource:
    """The service's identity as a Microsoft Entra administrator of the platform's server, created through ARM: the
    server holds only the bundled services' databases, and a narrower role would need SQL run by an administrator
    (`pgaadauth_create_principal`), which no ARM call does. It signs in as the identity's name."""
    server = naming.postgres_server_name(azure.subscription_id, azure.resource_group, platform.name)
    return DesiredResource(
        kind=Kind.POSTGRES_ADMINISTRATOR,
        name=principal_id,
        id=f"{postgres_server_id(azure, platform.name)}/administrators/{principal_id}",
        resource_group=azure.resource_group,
        body={
            "properties": {
                "principalType": "ServicePrincipal",
                "principalName": naming.identity_name(platform.name, svc.namespace, svc.name),
                "tenantId": azure.tenant_id,
            }
        },
        parent=server,
    )


def redis_permissions(svc: DroneService) -> str:
    """The custom access policy of a team's service: data commands on the keys under its own prefix only."""
    return f"{TEAM_REDIS_COMMANDS} ~{svc.redis_key_prefix}*"


def _redis_access(
    svc: DroneService, platform: DeliveryPlatform, azure: AzureSpec, *, principal_id: str
) -> list[DesiredResource]:
    """A bundled service: the built-in Data Contributor policy. A team's service: a policy of its own, then its
    assignment (Azure refuses an assignment naming a policy it does not hold)."""
    cache_id = redis_id(azure, platform.name)
    cache = naming.redis_name(azure.subscription_id, azure.resource_group, platform.name)
    policy: DesiredResource | None = None
    if svc.spec.component is Component.CUSTOM:
        name = naming.redis_access_policy_name(svc.namespace, svc.name)
        policy = DesiredResource(
            kind=Kind.REDIS_ACCESS_POLICY,
            name=name,
            id=f"{cache_id}/accessPolicies/{name}",
            resource_group=azure.resource_group,
            body={"properties": {"permissions": redis_permissions(svc)}},
            parent=cache,
        )
    policy_name = policy.name if policy is not None else REDIS_DATA_CONTRIBUTOR
    name = naming.assignment_name(cache_id, principal_id, policy_name)
    assignment = DesiredResource(
        kind=Kind.REDIS_ACCESS_POLICY_ASSIGNMENT,
        name=name,
        id=f"{cache_id}/accessPolicyAssignments/{name}",
        resource_group=azure.resource_group,
        body={
            "properties": {
                "accessPolicyName": policy_name,
                "objectId": principal_id,
                "objectIdAlias": naming.bounded(f"{svc.namespace}-{svc.name}", 63),
            }
        },
        parent=cache,
    )
    return [assignment] if policy is None else [policy, assignment]


def assigned_policy(grant: DesiredResource) -> str | None:
    """The access policy a Redis access policy assignment names; None for any other grant."""
    policy = grant.body.get("properties", {}).get("accessPolicyName")
    return str(policy) if grant.kind is Kind.REDIS_ACCESS_POLICY_ASSIGNMENT and policy is not None else None


def _found(
    kind: Kind, item: Mapping[str, Any], azure: AzureSpec, *, scope: str | None = None, parent: str | None = None
) -> DesiredResource:
    """A listed resource to delete; its body is what Azure holds (which policy an assignment names), never sent."""
    return DesiredResource(
        kind=kind,
        name=str(item["name"]),
        id=str(item["id"]),
        resource_group=azure.resource_group,
        body={"properties": dict(item.get("properties", {}))},
        scope=scope,
        parent=parent,
    )


def stale_grants(
    svc: DroneService,
    platform: DeliveryPlatform,
    *,
    principal_id: str,
    role_assignments: Sequence[Mapping[str, Any]],
    redis_assignments: Sequence[Mapping[str, Any]],
    redis_policies: Sequence[Mapping[str, Any]],
) -> list[DesiredResource]:
    """Grants Azure holds for the service's identity that the operator made and its `uses` no longer need: a queue
    dropped from `uses` or from the platform, a `send` no longer asked for, Redis no longer used, or a Redis grant of
    the other kind (a team's service holding Data Contributor from before it got a policy of its own).

    Only the operator's own are candidates: Data Sender/Receiver assignments it described as its own inside the
    platform's Service Bus namespaces (its own and its geo-recovery partner), the cache's assignments of Data
    Contributor or of the service's own policy to this identity, and that policy. Anything else a person granted by
    hand is left alone. Assignments come before the policy they name, which is never removed while still assigned.
    """
    azure = platform.spec.azure
    if azure is None:
        return []
    wanted = access_resources(svc, platform, principal_id=principal_id)
    # Matched by what they grant, not by name: the same grant under another name (ARM answered
    # RoleAssignmentExists to our PUT) is the goal reached, not a stale one.
    wanted_roles = {
        ((g.scope or "").casefold(), str(g.body["properties"]["roleDefinitionId"]).casefold())
        for g in wanted
        if g.kind is Kind.ROLE_ASSIGNMENT
    }
    wanted_redis = {policy.casefold() for policy in map(assigned_policy, wanted) if policy is not None}
    own_policy = naming.redis_access_policy_name(svc.namespace, svc.name)
    wants_policy = any(g.kind is Kind.REDIS_ACCESS_POLICY for g in wanted)
    namespaces = tuple(
        f"{recovery.namespace(azure, platform.name, side)[1].casefold()}/queues/" for side in recovery.Side
    )
    roles = {naming.role_definition_id(azure.subscription_id, r).casefold() for r in _ROLE_OF_ACCESS.values()}
    vault_role = naming.role_definition_id(azure.subscription_id, KEY_VAULT_SECRETS_USER).casefold()
    vault = (key_vault_id(azure) or "").casefold()
    stale: list[DesiredResource] = []
    for item in role_assignments:
        properties = item.get("properties", {})
        scope = str(properties.get("scope", ""))
        role = str(properties.get("roleDefinitionId", "")).casefold()
        where = (role in roles and scope.casefold().startswith(namespaces)) or (
            role == vault_role and bool(vault) and scope.casefold() == vault
        )
        ours = (
            str(properties.get("principalId", "")) == principal_id
            and where
            and str(properties.get("description") or "").startswith(f"{MANAGED_BY}:")
        )
        if ours and (scope.casefold(), role) not in wanted_roles:
            stale.append(_found(Kind.ROLE_ASSIGNMENT, item, azure, scope=scope))
    cache = naming.redis_name(azure.subscription_id, azure.resource_group, platform.name)
    for item in redis_assignments:
        properties = item.get("properties", {})
        policy = str(properties.get("accessPolicyName", "")).casefold()
        ours = str(properties.get("objectId", "")) == principal_id and policy in {
            REDIS_DATA_CONTRIBUTOR.casefold(),
            own_policy.casefold(),
        }
        if ours and policy not in wanted_redis:
            stale.append(_found(Kind.REDIS_ACCESS_POLICY_ASSIGNMENT, item, azure, parent=cache))
    for item in redis_policies:
        if str(item["name"]).casefold() == own_policy.casefold() and not wants_policy:
            stale.append(_found(Kind.REDIS_ACCESS_POLICY, item, azure, parent=cache))
    return stale


# The identity reading a platform's on-call key (render/oncall.py) when the spec names none of its own: like a
# service's identity, user-assigned and federated with the ServiceAccount that mounts the key, here in every team
# namespace, and allowed to read that one secret of the platform's Key Vault.


def wants_on_call_reader(platform: DeliveryPlatform) -> bool:
    """Whether the operator keeps the identity reading the on-call key: spec.observability.onCall without an
    identityClientId of the user's, whose identity then wins."""
    on_call = platform.spec.observability.on_call
    return platform.spec.azure is not None and on_call is not None and on_call.identity_client_id is None


def on_call_reader(platform: DeliveryPlatform) -> DesiredResource | None:
    """The reader's user-assigned identity, where it lives whether the spec wants it or not (to be deleted from
    there); None without spec.azure."""
    azure = platform.spec.azure
    if azure is None:
        return None
    name = naming.on_call_reader_name(platform.name)
    return DesiredResource(
        kind=Kind.IDENTITY,
        name=name,
        id=identity_id(azure, name),
        resource_group=azure.resource_group,
        body={
            "location": azure.location,
            "tags": tags(platform, azure, team=SHARED_TEAM, service="oncall", cost_center=None),
        },
    )


def moved_on_call_reader(previous: DeliveryPlatform, current: DeliveryPlatform) -> bool:
    """Whether the reader `previous` wanted lives where `current` no longer looks: spec.azure gone, or moved to
    another subscription or resource group. Only `previous` says where it is; at the same place, a pass of
    `current` finds it itself."""
    before, now = on_call_reader(previous), on_call_reader(current)
    if before is None or not wants_on_call_reader(previous):
        return False
    return now is None or now.id.casefold() != before.id.casefold()


def on_call_reader_resources(platform: DeliveryPlatform) -> list[DesiredResource]:
    """The reader's identity and its federated credential for the ServiceAccount of the keys pod in each team
    namespace; empty unless `wants_on_call_reader`. Without spec.azure.oidcIssuerUrl only the identity is described:
    no token could be federated."""
    identity = on_call_reader(platform)
    azure = platform.spec.azure
    if identity is None or azure is None or not wants_on_call_reader(platform):
        return []
    if azure.oidc_issuer_url is None:
        return [identity]
    return [
        identity,
        *(
            _federated_credential(identity, azure.oidc_issuer_url, namespace=team.namespace, service_account=KEYS)
            for team in platform.spec.teams
        ),
    ]


def on_call_grant(platform: DeliveryPlatform, *, principal_id: str) -> DesiredResource | None:
    """Key Vault Secrets User for the reader on the one secret holding the provider's key, not on the vault (which
    holds the services' secrets too); None unless `wants_on_call_reader`."""
    azure, on_call = platform.spec.azure, platform.spec.observability.on_call
    vault = key_vault_id(azure) if azure is not None else None
    if azure is None or on_call is None or vault is None or not wants_on_call_reader(platform):
        return None
    return _role_assignment(
        f"on-call of platform {platform.name}",
        azure,
        scope=f"{vault}/secrets/{on_call.key_secret}",
        role=KEY_VAULT_SECRETS_USER,
        principal_id=principal_id,
        what="reads the PagerDuty or Opsgenie key",
    )


def stale_on_call_credentials(platform: DeliveryPlatform, listed: Sequence[Mapping[str, Any]]) -> list[DesiredResource]:
    """Federated credentials the reader holds that the spec no longer wants: a team (or its namespace) gone, or all
    of them once the reader goes. The identity is the operator's (deterministic name), so every credential on it is
    the spec's to decide; without spec.azure.oidcIssuerUrl none is decided (the spec says nothing of the cluster)."""
    identity, azure = on_call_reader(platform), platform.spec.azure
    if identity is None or azure is None or (wants_on_call_reader(platform) and azure.oidc_issuer_url is None):
        return []
    wanted = {r.id.casefold() for r in on_call_reader_resources(platform) if r.kind is Kind.FEDERATED_CREDENTIAL}
    return [
        _found(Kind.FEDERATED_CREDENTIAL, item, azure, parent=identity.name)
        for item in listed
        if str(item["id"]).casefold() not in wanted
    ]


def stale_on_call_grants(
    platform: DeliveryPlatform, *, principal_id: str, role_assignments: Sequence[Mapping[str, Any]]
) -> list[DesiredResource]:
    """The operator's Key Vault Secrets User grants to the reader that the spec no longer wants: on a secret that no
    longer holds the key (another provider, a renamed secret), in another vault, or all of them once the reader
    goes. Matched by what they grant, as `stale_grants` does; a grant a person made by hand is left alone."""
    azure = platform.spec.azure
    if azure is None:
        return []
    wanted = on_call_grant(platform, principal_id=principal_id)
    wanted_scope = (wanted.scope or "").casefold() if wanted is not None else None
    role = naming.role_definition_id(azure.subscription_id, KEY_VAULT_SECRETS_USER).casefold()
    stale: list[DesiredResource] = []
    for item in role_assignments:
        properties = item.get("properties", {})
        scope = str(properties.get("scope", ""))
        ours = (
            str(properties.get("principalId", "")) == principal_id
            and str(properties.get("roleDefinitionId", "")).casefold() == role
            and str(properties.get("description") or "").startswith(f"{MANAGED_BY}:")
        )
        if ours and scope.casefold() != wanted_scope:
            stale.append(_found(Kind.ROLE_ASSIGNMENT, item, azure, scope=scope))
    return stale
