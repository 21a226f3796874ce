"""How each kind of resource is read, written and deleted through its azure-mgmt `.aio` client.

Bodies go out as the exact ARM JSON of `desired.py` and come back as ARM JSON (the SDKs' documented `cls` hook),
so one drift check and one set of tests cover every kind. Long-running operations are awaited on the event loop;
the reconciler bounds how long.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import IO, Any, Protocol, cast, runtime_checkable

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.redis.aio.operations import AccessPolicyAssignmentOperations, AccessPolicyOperations
from azure.mgmt.servicebus.models import FailoverPropertiesProperties, NamespaceFailoverProperties

from fabrikam.operator.azure.clients import AzureClients
from fabrikam.operator.azure.desired import DesiredResource, Kind
from fabrikam.operator.azure.recovery import keep_failover_order

Json = dict[str, Any]


def _raw(pipeline_response: Any, _deserialized: Any, _headers: Any) -> Json:
    # `text()` exists on both the legacy (msrest-era SDKs) and the new azure-core response types; `json()` does not.
    text = pipeline_response.http_response.text()
    return cast(Json, json.loads(text)) if text else {}


def _body(res: DesiredResource, keys: frozenset[str] | None = None) -> IO[bytes]:
    """The desired body as a request body; with `keys`, only those top-level fields and no write-only part (a PATCH:
    what Azure fixes at creation keeps what it was created with)."""
    body = res.body if keys is None else {key: value for key, value in res.compared_body().items() if key in keys}
    # Seekable, so azure-core's retry policy can rewind and resend it after a 429 or 5xx.
    return io.BytesIO(json.dumps(body).encode())


def _scope(res: DesiredResource) -> str:
    """Where a resource addressed by scope (a role assignment, a budget) lives."""
    if res.scope is None:
        raise ValueError(f"{res.kind} {res.name} needs a scope")
    return res.scope


def _parent(res: DesiredResource) -> str:
    if res.parent is None:
        raise ValueError(f"{res.kind} {res.name} needs a parent")
    return res.parent


class Adapter(Protocol):
    async def get(self, res: DesiredResource) -> Json:
        """The resource as Azure has it; raises ResourceNotFoundError when it does not exist."""

    async def put(self, res: DesiredResource) -> Json:
        """Create or update, waiting for a long-running operation to finish."""

    async def delete(self, res: DesiredResource) -> None:
        """Delete, waiting for a long-running operation to finish; deleting a missing resource succeeds."""

    def endpoint(self, actual: Json) -> str | None:
        """Where clients reach the resource, if it has such a thing."""

    def outputs(self, actual: Json) -> dict[str, str]:
        """Values other objects need from the resource (an identity's client id)."""


@runtime_checkable
class Patchable(Adapter, Protocol):
    """A kind whose PUT creates or *replaces* the resource as a whole, so an existing one changes by PATCH instead."""

    # Top-level fields the PATCH carries; a drift anywhere else cannot be repaired in place.
    patchable: frozenset[str]

    async def update(self, res: DesiredResource) -> Json:
        """PATCH the `patchable` fields of the desired body onto the existing resource, waiting for the operation."""


class _NoEndpoint:
    def endpoint(self, actual: Json) -> str | None:
        return None

    def outputs(self, actual: Json) -> dict[str, str]:
        return {}


class _LongRunning:
    """A resource of the resource group created by a long-running operation (`create` names the SDK's method) and
    deleted by one; `patchable`, when a subclass sets it, the top-level fields its update operation (a PATCH) takes."""

    ops: Any
    create = "begin_create_or_update"
    patchable: frozenset[str]

    async def get(self, res: DesiredResource) -> Json:
        return cast(Json, await self.ops.get(res.resource_group, res.name, cls=_raw))

    async def put(self, res: DesiredResource) -> Json:
        return await self._send(res, _body(res))

    async def _send(self, res: DesiredResource, body: IO[bytes]) -> Json:
        poller = await getattr(self.ops, self.create)(
            res.resource_group, res.name, body, content_type="application/json", cls=_raw
        )
        return cast(Json, await poller.result())

    async def update(self, res: DesiredResource) -> Json:
        poller = await self.ops.begin_update(
            res.resource_group, res.name, _body(res, self.patchable), content_type="application/json", cls=_raw
        )
        return cast(Json, await poller.result())

    async def delete(self, res: DesiredResource) -> None:
        await (await self.ops.begin_delete(res.resource_group, res.name)).result()

    def endpoint(self, actual: Json) -> str | None:
        return None

    def outputs(self, actual: Json) -> dict[str, str]:
        return {}


class _LongRunningChild(_NoEndpoint):
    """A child resource (group, parent, name) created by a long-running operation (`create`) and deleted by one."""

    ops: Any
    create = "begin_create_or_update"

    async def get(self, res: DesiredResource) -> Json:
        return cast(Json, await self.ops.get(res.resource_group, _parent(res), res.name, cls=_raw))

    async def put(self, res: DesiredResource) -> Json:
        poller = await getattr(self.ops, self.create)(
            res.resource_group, _parent(res), res.name, _body(res), content_type="application/json", cls=_raw
        )
        return cast(Json, await poller.result())

    async def delete(self, res: DesiredResource) -> None:
        await (await self.ops.begin_delete(res.resource_group, _parent(res), res.name)).result()


class ServiceBusNamespaces(_LongRunning):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.servicebus.namespaces

    def endpoint(self, actual: Json) -> str | None:
        return cast(str | None, actual.get("properties", {}).get("serviceBusEndpoint"))


class _SyncChild(_NoEndpoint):
    """A child resource written synchronously: get, create_or_update and delete by (group, parent, name)."""

    ops: Any

    async def get(self, res: DesiredResource) -> Json:
        return cast(Json, await self.ops.get(res.resource_group, _parent(res), res.name, cls=_raw))

    async def put(self, res: DesiredResource) -> Json:
        return cast(
            Json,
            await self.ops.create_or_update(
                res.resource_group, _parent(res), res.name, _body(res), content_type="application/json", cls=_raw
            ),
        )

    async def delete(self, res: DesiredResource) -> None:
        await self.ops.delete(res.resource_group, _parent(res), res.name)


class ServiceBusQueues(_SyncChild):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.servicebus.queues


class RedisCaches(_LongRunning):
    """Create is a PUT ("create or replace (overwrite/recreate, with potential downtime)", says the REST API); a
    change to an existing cache is the PATCH of its update operation, which takes tags and properties only."""

    patchable = frozenset({"tags", "properties"})
    create = "begin_create"

    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.redis.redis

    def endpoint(self, actual: Json) -> str | None:
        properties = actual.get("properties", {})
        host, port = properties.get("hostName"), properties.get("sslPort")
        return f"{host}:{port}" if host and port else host


class RedisDataAccess(_LongRunningChild):
    """A cache's access policies or their assignments: the same long-running create-update and delete."""

    create = "begin_create_update"

    def __init__(self, ops: AccessPolicyOperations | AccessPolicyAssignmentOperations) -> None:
        self.ops = ops


class _Sync(_NoEndpoint):
    """A resource of the resource group written synchronously: get, create_or_update and delete by (group, name)."""

    ops: Any

    async def get(self, res: DesiredResource) -> Json:
        return cast(Json, await self.ops.get(res.resource_group, res.name, cls=_raw))

    async def put(self, res: DesiredResource) -> Json:
        return cast(
            Json,
            await self.ops.create_or_update(
                res.resource_group, res.name, _body(res), content_type="application/json", cls=_raw
            ),
        )

    async def delete(self, res: DesiredResource) -> None:
        await self.ops.delete(res.resource_group, res.name)


class Identities(_Sync):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.msi.user_assigned_identities

    def outputs(self, actual: Json) -> dict[str, str]:
        properties = actual.get("properties", {})
        return {key: str(properties[key]) for key in ("clientId", "principalId", "tenantId") if properties.get(key)}


class FederatedCredentials(_SyncChild):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.msi.federated_identity_credentials


class RoleAssignments(_NoEndpoint):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.authorization.role_assignments

    async def get(self, res: DesiredResource) -> Json:
        return cast(Json, await self.ops.get(_scope(res), res.name, cls=_raw))

    async def put(self, res: DesiredResource) -> Json:
        return cast(
            Json,
            await self.ops.create(_scope(res), res.name, _body(res), content_type="application/json", cls=_raw),
        )

    async def delete(self, res: DesiredResource) -> None:
        await self.ops.delete(_scope(res), res.name)


class CosmosAccounts(_LongRunning):
    """PUT creates or updates the whole account; where clients reach it is its document endpoint. An update keeps
    the order of the regions Azure holds: after a failover the write region is another one (recovery.py)."""

    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.cosmosdb.database_accounts

    async def put(self, res: DesiredResource) -> Json:
        body = json.loads(json.dumps(res.body))
        try:
            held = await self.get(res)
        except ResourceNotFoundError:
            held = None
        if held is not None:
            properties = body["properties"]
            regions = held.get("properties", {}).get("locations") or []
            properties["locations"] = keep_failover_order(properties.get("locations", []), regions)
        return await self._send(res, io.BytesIO(json.dumps(body).encode()))

    def endpoint(self, actual: Json) -> str | None:
        return cast(str | None, actual.get("properties", {}).get("documentEndpoint"))


class MongoDatabases(_NoEndpoint):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.cosmosdb.mongo_db_resources

    async def get(self, res: DesiredResource) -> Json:
        return cast(Json, await self.ops.get_mongo_db_database(res.resource_group, _parent(res), res.name, cls=_raw))

    async def put(self, res: DesiredResource) -> Json:
        poller = await self.ops.begin_create_update_mongo_db_database(
            res.resource_group, _parent(res), res.name, _body(res), content_type="application/json", cls=_raw
        )
        return cast(Json, await poller.result())

    async def delete(self, res: DesiredResource) -> None:
        await (await self.ops.begin_delete_mongo_db_database(res.resource_group, _parent(res), res.name)).result()


def _account_of(res: DesiredResource) -> str:
    """A collection's account: the second-to-last segment pair of its id (`.../databaseAccounts/<a>/...`)."""
    parts = res.id.split("/")
    return parts[parts.index("databaseAccounts") + 1]


class MongoCollections(_NoEndpoint):
    """A collection's parent is its database; its account comes from its id."""

    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.cosmosdb.mongo_db_resources

    async def get(self, res: DesiredResource) -> Json:
        return cast(
            Json,
            await self.ops.get_mongo_db_collection(
                res.resource_group, _account_of(res), _parent(res), res.name, cls=_raw
            ),
        )

    async def put(self, res: DesiredResource) -> Json:
        poller = await self.ops.begin_create_update_mongo_db_collection(
            res.resource_group,
            _account_of(res),
            _parent(res),
            res.name,
            _body(res),
            content_type="application/json",
            cls=_raw,
        )
        return cast(Json, await poller.result())

    async def delete(self, res: DesiredResource) -> None:
        poller = await self.ops.begin_delete_mongo_db_collection(
            res.resource_group, _account_of(res), _parent(res), res.name
        )
        await poller.result()


class PostgresServers(_LongRunning):
    """Create is a PUT; a change to an existing server is the PATCH of its update operation (its PUT is documented
    as "creates a new server"), which takes tags, sku and properties."""

    patchable = frozenset({"tags", "sku", "properties"})

    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.postgres.servers

    def endpoint(self, actual: Json) -> str | None:
        return cast(str | None, actual.get("properties", {}).get("fullyQualifiedDomainName"))

    def outputs(self, actual: Json) -> dict[str, str]:
        """Whether the server can be geo-restored: set when it was created, for good (recovery.assess reads it)."""
        backup = actual.get("properties", {}).get("backup") or {}
        return {"geoRedundantBackup": str(backup["geoRedundantBackup"])} if backup.get("geoRedundantBackup") else {}


class PostgresDatabases(_LongRunningChild):
    create = "begin_create"

    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.postgres.databases


class PostgresAdministrators(_LongRunningChild):
    """A Microsoft Entra principal allowed to sign in to the server, named by its object id."""

    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.postgres.administrators_microsoft_entra


class KeyVaultSecrets:
    """Secrets written through Resource Manager (no data-plane access needed); ARM never returns a value. Where
    clients reach one is its versioned URI: it changes with every write, so pods holding the old value roll."""

    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.keyvault.secrets

    async def get(self, res: DesiredResource) -> Json:
        return cast(Json, await self.ops.get(res.resource_group, _parent(res), res.name, cls=_raw))

    async def put(self, res: DesiredResource) -> Json:
        return cast(
            Json,
            await self.ops.create_or_update(
                res.resource_group, _parent(res), res.name, _body(res), content_type="application/json", cls=_raw
            ),
        )

    async def delete(self, res: DesiredResource) -> None:
        raise NotImplementedError("the operator never deletes a Key Vault secret (see desired.mongo_secret)")

    def endpoint(self, actual: Json) -> str | None:
        return cast(str | None, actual.get("properties", {}).get("secretUriWithVersion"))

    def outputs(self, actual: Json) -> dict[str, str]:
        return {}


class Budgets(_NoEndpoint):
    """A cost budget at its scope (the resource group). Azure fixes its start date when it is created and checks
    updates against its eTag: an update keeps both from what Azure holds."""

    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.consumption.budgets

    async def get(self, res: DesiredResource) -> Json:
        return cast(Json, await self.ops.get(_scope(res), res.name, cls=_raw))

    async def put(self, res: DesiredResource) -> Json:
        body = json.loads(json.dumps(res.body))
        try:
            held = await self.get(res)
        except ResourceNotFoundError:
            held = None
        if held is not None:
            body["properties"]["timePeriod"] = held.get("properties", {}).get("timePeriod", {})
            if held.get("eTag"):
                body["eTag"] = held["eTag"]
        sent = io.BytesIO(json.dumps(body).encode())
        return cast(
            Json,
            await self.ops.create_or_update(_scope(res), res.name, sent, content_type="application/json", cls=_raw),
        )

    async def delete(self, res: DesiredResource) -> None:
        await self.ops.delete(_scope(res), res.name)


class ApplicationInsightsComponents(_Sync):
    """Written synchronously: PUT creates or replaces the whole component. What the services need from it is its
    connection string, which the status carries as its endpoint."""

    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.applicationinsights.components

    def endpoint(self, actual: Json) -> str | None:
        return cast(str | None, actual.get("properties", {}).get("ConnectionString"))


async def mongo_connection_string(clients: AzureClients, resource_group: str, account: str, key: str) -> str | None:
    """The account's MongoDB connection string with its primary or secondary key (`key`), None if Azure lists none."""
    listed = await clients.cosmosdb.database_accounts.list_connection_strings(resource_group, account, cls=_raw)
    wanted = f"{key} MongoDB Connection String".casefold()
    for entry in cast(Json, listed).get("connectionStrings", []):
        if str(entry.get("description", "")).casefold() == wanted:
            return str(entry["connectionString"])
    return None


def _listed(item: Any) -> Json:
    """ARM JSON of a listed model: msrest-era SDKs serialize, the newer (typespec) ones are mappings already."""
    if hasattr(item, "serialize"):
        return cast(Json, item.serialize(keep_readonly=True))
    return cast(Json, item.as_dict())


async def list_role_assignments(clients: AzureClients, scope: str, principal_id: str) -> list[Json]:
    """The principal's role assignments at, above and below `scope` (ARM's own filter), as ARM JSON."""
    pager = clients.authorization.role_assignments.list_for_scope(scope, filter=f"principalId eq '{principal_id}'")
    return [_listed(item) async for item in pager]


async def list_federated_credentials(clients: AzureClients, resource_group: str, identity: str) -> list[Json]:
    """Every federated credential of the user-assigned identity, as ARM JSON."""
    pager = clients.msi.federated_identity_credentials.list(resource_group, identity)
    return [_listed(item) async for item in pager]


async def list_queues(clients: AzureClients, resource_group: str, namespace: str) -> list[Json]:
    """Every queue of the Service Bus namespace, as ARM JSON."""
    pager = clients.servicebus.queues.list_by_namespace(resource_group, namespace)
    return [_listed(item) async for item in pager]


async def list_redis_access_assignments(clients: AzureClients, resource_group: str, cache: str) -> list[Json]:
    """Every data access policy assignment of the cache, as ARM JSON."""
    pager = clients.redis.access_policy_assignment.list(resource_group, cache)
    return [_listed(item) async for item in pager]


async def list_redis_access_policies(clients: AzureClients, resource_group: str, cache: str) -> list[Json]:
    """Every data access policy of the cache, built-in and custom, as ARM JSON."""
    pager = clients.redis.access_policy.list(resource_group, cache)
    return [_listed(item) async for item in pager]


class ServiceBusAliases(_SyncChild):
    """A geo-recovery alias (a disaster recovery configuration) on the active namespace of a pair, naming the passive
    one: a synchronous PUT, `Accepted` until the pairing is made. Azure deletes an alias only once its pairing is
    broken, which deleting does first."""

    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.servicebus.disaster_recovery_configs

    async def delete(self, res: DesiredResource) -> None:
        held = await self.get(res)
        if str(held.get("properties", {}).get("role", "")).casefold() == "primary":
            await self.ops.break_pairing(res.resource_group, _parent(res), res.name)
        await super().delete(res)

    def outputs(self, actual: Json) -> dict[str, str]:
        """Its role (Primary while it replicates) and the partner namespace: recovery.assess reads them."""
        properties = actual.get("properties", {})
        return {key: str(properties[key]) for key in ("role", "partnerNamespace") if properties.get(key)}


class RedisLinkedServers(_LongRunningChild):
    """Passive geo-replication: a linked server of the primary cache naming its secondary, created by a long-running
    PUT and never updated. Clients reach the geo-primary at its `geoReplicatedPrimaryHostName`, which follows a
    geo-failover."""

    create = "begin_create"

    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.redis.linked_server

    def endpoint(self, actual: Json) -> str | None:
        return cast(str | None, actual.get("properties", {}).get("geoReplicatedPrimaryHostName"))


class PrivateEndpoints(_LongRunning):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.network.private_endpoints

    def endpoint(self, actual: Json) -> str | None:
        """The endpoint's address in the subnet, as its DNS configuration lists it."""
        configs = actual.get("properties", {}).get("customDnsConfigs") or []
        return next((address for config in configs for address in config.get("ipAddresses", [])), None)

    def outputs(self, actual: Json) -> dict[str, str]:
        """Whether the store approved the connection: automatic when whoever creates the endpoint may write to the
        store, else Pending until its owner approves."""
        connections = actual.get("properties", {}).get("privateLinkServiceConnections") or [{}]
        state = connections[0].get("properties", {}).get("privateLinkServiceConnectionState") or {}
        return {
            "connectionStatus": str(state.get("status", "")),
            "connectionDescription": str(state.get("description", "")),
        }


class PrivateDnsZoneGroups(_LongRunningChild):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.network.private_dns_zone_groups


class PrivateDnsZones(_LongRunning):
    """A privatelink zone: created when missing and never replaced (a PUT with `If-None-Match: *`), so a zone another
    platform or a hub team already keeps is only read, never overwritten."""

    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.private_dns.private_zones

    async def put(self, res: DesiredResource) -> Json:
        poller = await self.ops.begin_create_or_update(
            res.resource_group,
            res.name,
            _body(res),
            match_condition=MatchConditions.IfMissing,
            content_type="application/json",
            cls=_raw,
        )
        return cast(Json, await poller.result())


class PrivateDnsZoneLinks(_LongRunningChild):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.private_dns.virtual_network_links


async def fail_over(
    clients: AzureClients, resource_group: str, namespace: str, alias: str, *, safe: bool = False
) -> None:
    """A Service Bus geo-disaster recovery failover, sent to the pairing's SECONDARY `namespace`: the alias moves to
    it and the pairing breaks, leaving the old primary a namespace of its own with whatever messages it held (Azure's
    one-way move; the operator pairs again once that namespace is emptied: docs/runbooks/disaster-recovery.md).
    `safe` waits for pending metadata replication first, which needs the primary to answer."""
    parameters = (
        NamespaceFailoverProperties(properties=FailoverPropertiesProperties(is_safe_failover=True)) if safe else None
    )
    await clients.servicebus.disaster_recovery_configs.fail_over(resource_group, namespace, alias, parameters)


_ADAPTERS: dict[Kind, Callable[[AzureClients], Adapter]] = {
    Kind.SERVICE_BUS_NAMESPACE: ServiceBusNamespaces,
    Kind.SERVICE_BUS_QUEUE: ServiceBusQueues,
    Kind.REDIS_CACHE: RedisCaches,
    Kind.REDIS_ACCESS_POLICY: lambda clients: RedisDataAccess(clients.redis.access_policy),
    Kind.REDIS_ACCESS_POLICY_ASSIGNMENT: lambda clients: RedisDataAccess(clients.redis.access_policy_assignment),
    Kind.IDENTITY: Identities,
    Kind.FEDERATED_CREDENTIAL: FederatedCredentials,
    Kind.ROLE_ASSIGNMENT: RoleAssignments,
    Kind.COSMOS_ACCOUNT: CosmosAccounts,
    Kind.MONGO_DATABASE: MongoDatabases,
    Kind.MONGO_COLLECTION: MongoCollections,
    Kind.POSTGRES_SERVER: PostgresServers,
    Kind.POSTGRES_DATABASE: PostgresDatabases,
    Kind.POSTGRES_ADMINISTRATOR: PostgresAdministrators,
    Kind.KEY_VAULT_SECRET: KeyVaultSecrets,
    Kind.BUDGET: Budgets,
    Kind.APPLICATION_INSIGHTS: ApplicationInsightsComponents,
    Kind.SERVICE_BUS_RECOVERY_NAMESPACE: ServiceBusNamespaces,
    Kind.SERVICE_BUS_ALIAS: ServiceBusAliases,
    Kind.REDIS_RECOVERY_CACHE: RedisCaches,
    Kind.REDIS_LINKED_SERVER: RedisLinkedServers,
    Kind.PRIVATE_DNS_ZONE: PrivateDnsZones,
    Kind.PRIVATE_DNS_ZONE_LINK: PrivateDnsZoneLinks,
    Kind.PRIVATE_ENDPOINT: PrivateEndpoints,
    Kind.PRIVATE_DNS_ZONE_GROUP: PrivateDnsZoneGroups,
}


def adapter(clients: AzureClients, kind: Kind) -> Adapter:
    return _ADAPTERS[kind](clients)
