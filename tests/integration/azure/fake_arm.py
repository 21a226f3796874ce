"""A fake Azure Resource Manager: a real HTTPS server speaking the REST shapes the installed azure-mgmt SDKs use.

It keeps resources in memory, runs long-running operations on a clock (Azure-AsyncOperation, Location and
provisioningState polling, as the real resource providers do), validates what ARM would reject (missing parent,
duplicate role assignment, partitioned queue in an unpartitioned Premium namespace, a Redis access policy assignment
naming a policy the cache does not hold, ...), injects faults on demand, and records every request so tests assert
on exactly what Azure received.

Data stores: Cosmos DB accounts (MongoDB API databases and collections, connection strings and keys), PostgreSQL
flexible servers (databases, Microsoft Entra administrators) and Key Vault vaults with their secrets. What ARM takes
but never answers (account keys, secret values, administrator passwords) is kept aside, readable by tests through
helpers (`cosmos_keys`, `secret_value`, `server_password`).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import ipaddress
import math
import os
import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

TOKEN = "fake-arm-token"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
_DISPLAY_LOCATIONS = {
    "westus2": "West US 2",
    "westcentralus": "West Central US",
    "eastus": "East US",
    "westeurope": "West Europe",
}
# Every cache has these access policies from its creation (type BuiltIn); they can be assigned, never changed.
# Permissions as Azure documents them (articles/azure-cache-for-redis/cache-configure-role-based-access-control.md).
BUILT_IN_REDIS_POLICIES = {
    "Data Owner": "+@all allkeys",
    "Data Contributor": "+@all -@dangerous +cluster|info +cluster|nodes +cluster|slots allkeys",
    "Data Reader": "+@read +@connection -client +client|caching +client|getname +client|getredir +client|id "
    "+client|info +client|list +client|reply +client|setinfo +client|setname +client|tracking +client|trackinginfo "
    "+cluster|info +cluster|nodes +cluster|slots allkeys",
}
# Names of access policies (spaces allowed: the built-ins have them) and of their assignments, 3-63 characters.
_POLICY_NAME = re.compile(r"^(?=.{3,63}$)([a-zA-Z0-9][a-zA-Z0-9- ]*[a-zA-Z0-9]|[a-zA-Z0-9])$")
_ASSIGNMENT_NAME = re.compile(r"^(?=.{3,63}$)([a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]|[a-zA-Z0-9])$")

Json = dict[str, Any]


@dataclass
class Recorded:
    method: str
    path: str
    api_version: str | None
    body: Any
    at: float = field(default_factory=time.monotonic)  # when it arrived (rates under throttling)


@dataclass
class Fault:
    """Answer matching requests with `status` (or drop the connection) `times` times; None means forever."""

    method: str
    path_contains: str
    status: int
    code: str = ""
    message: str = ""
    times: int | None = 1
    retry_after: float | None = None
    disconnect: bool = False

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and self.path_contains.lower() in path.lower() and self.times != 0


@dataclass
class Stored:
    """A resource as ARM holds it, plus the clock of its running operation."""

    type: str
    json: Json
    busy_until: float = 0.0
    operation: str | None = None  # "Creating", "Updating" or "Deleting" while busy
    outcome: str = "Succeeded"  # the provisioningState the running operation ends in
    # What ARM keeps but never answers: account keys, secret values, administrator passwords.
    hidden: Json = field(default_factory=dict)
    # The resource before the running update: what a failed operation leaves for a type with no provisioningState.
    previous: Json | None = None


@dataclass
class Operation:
    path: str
    done_at: float
    kind: str  # "put" or "delete"
    error: Json | None = None  # ends Failed with this error instead of Succeeded


@dataclass
class Throttle:
    """ARM's throttling: per subscription a token bucket for writes and another for deletes, `burst` tokens refilled
    at `per_second`; a request finding its bucket empty is answered 429 with Retry-After, as ARM does."""

    burst: float
    per_second: float
    buckets: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)  # -> (tokens, when)
    accepted: list[float] = field(default_factory=list)  # when each write or delete was let through
    rejected: int = 0

    def answer(self, method: str, path: str) -> web.Response | None:
        operation = {"PUT": "write", "PATCH": "write", "POST": "write", "DELETE": "delete"}.get(method)
        subscription = re.match(r"^/subscriptions/([^/]+)/", path)
        if operation is None or subscription is None:
            return None
        key, now = (subscription[1].lower(), operation), time.monotonic()
        tokens, then = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.per_second)
        if tokens >= 1:
            self.buckets[key] = (tokens - 1, now)
            self.accepted.append(now)
            return None
        self.buckets[key] = (tokens, now)
        self.rejected += 1
        wait = max(1, math.ceil((1 - tokens) / self.per_second))
        message = (
            f"Number of {operation} requests for subscription '{subscription[1]}' exceeded the limit of "
            f"'{self.burst:g}' for time interval '00:00:01'. Please try again after '{wait}' seconds."
        )
        return _error(429, "SubscriptionRequestsThrottled", message, {"Retry-After": str(wait)})


@dataclass
class _Type:
    """How one resource type behaves: URL pattern, LRO style of PUT and DELETE, computed read-only properties."""

    name: str
    pattern: re.Pattern[str]
    put_lro: str | None = None  # "async-operation", "location", "both", "body" or None (synchronous)
    delete_lro: str | None = None  # "async-operation", "location", "both" or None
    parent: Callable[[re.Match[str]], str] | None = None
    # Service Bus answers a new queue with 200, not 201 (and its SDK accepts only 200).
    created_status: int = 201
    # provisioningState while a PUT of a new resource runs; Redis data access knows only "Updating".
    creating: str = "Creating"
    computed: Callable[[FakeArm, re.Match[str], Json, Json | None], Json] = field(default=lambda arm, m, body, old: {})
    # Top-level read-only members (a Cosmos DB account's default kind, a secret's location), beside `properties`.
    top: Callable[[FakeArm, re.Match[str], Json, Json | None], Json] = field(default=lambda arm, m, body, old: {})
    # Where the resource shows its running operation, None when its REST model has no such property (role
    # assignments, Cosmos DB Mongo databases, PostgreSQL flexible servers' children, Key Vault secrets); `states`
    # renames the generic Creating/Updating/Deleting/Succeeded/Failed for types with an enum of their own.
    state_property: str | None = "provisioningState"
    states: dict[str, str] = field(default_factory=dict)
    # A PUT answered 202 with an empty body and the operation's headers (PostgreSQL, Cosmos DB child resources).
    put_accepted: bool = False
    # PATCH: (status, LRO style, whether the answer carries the resource) and the members the update model has.
    patch: tuple[int, str, bool] | None = None
    patch_fields: frozenset[str] = frozenset()
    # Request properties stored but never answered (write-only in the REST model).
    write_only: tuple[str, ...] = ()


_RG = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers"
_NAMESPACES = "Microsoft.ServiceBus/namespaces"
_QUEUES = "Microsoft.ServiceBus/namespaces/queues"
_DR_CONFIGS = "Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs"
_CACHES = "Microsoft.Cache/redis"
_LINKED_SERVERS = "Microsoft.Cache/redis/linkedServers"


def _sb_namespace(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    return {
        "serviceBusEndpoint": f"https://{m['name']}.servicebus.windows.net:443/",
        "status": "Active",
        "metricId": f"{m['sub']}:{m['name']}",
    }


def _redis(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    config = {
        "maxclients": "7500",
        "maxmemory-reserved": "200",
        **body.get("properties", {}).get("redisConfiguration", {}),
    }
    if "aad-enabled" in config:
        # ARM reads booleans back capitalised; the drift check must not mistake that for a change.
        config["aad-enabled"] = str(config["aad-enabled"]).capitalize()
    return {
        "hostName": f"{m['name']}.redis.cache.windows.net",
        "port": 6379,
        "sslPort": 6380,
        "redisVersion": "6.0",
        "redisConfiguration": config,
    }


def _identity(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    previous = (old or {}).get("properties", {})
    return {
        "tenantId": TENANT_ID,
        "principalId": previous.get("principalId", str(uuid.uuid4())),
        "clientId": previous.get("clientId", str(uuid.uuid4())),
    }


def _region(name: str) -> str:
    """ARM's short region name ("westus2") from either form a client sends ("West US 2" or "westus2")."""
    return name.replace(" ", "").lower()


def _display(name: str) -> str:
    return _DISPLAY_LOCATIONS.get(_region(name), name)


def _cosmos_account(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    """Read-only members of DatabaseAccountGetResults: endpoints, each region's entry, write and read regions."""
    properties, name = body.get("properties", {}), m["name"]
    locations = []
    for entry in sorted(properties.get("locations") or [], key=lambda e: e.get("failoverPriority", 0)):
        region = _region(entry.get("locationName", ""))
        locations.append(
            {
                "id": f"{name}-{region}",
                "locationName": _display(region),
                "documentEndpoint": f"https://{name}-{region}.documents.azure.com:443/",
                "provisioningState": "Succeeded",
                "failoverPriority": entry.get("failoverPriority", 0),
                "isZoneRedundant": bool(entry.get("isZoneRedundant", False)),
            }
        )
    multiple_writes = bool(properties.get("enableMultipleWriteLocations", False))
    return {
        "documentEndpoint": f"https://{name}.documents.azure.com:443/",
        "databaseAccountOfferType": "Standard",
        "consistencyPolicy": properties.get("consistencyPolicy")
        or {"defaultConsistencyLevel": "Session", "maxIntervalInSeconds": 5, "maxStalenessPrefix": 100},
        "enableMultipleWriteLocations": multiple_writes,
        "locations": locations,
        "writeLocations": [e for e in locations if multiple_writes or e["failoverPriority"] == 0],
        "readLocations": locations,
        "failoverPolicies": [
            {"id": e["id"], "locationName": e["locationName"], "failoverPriority": e["failoverPriority"]}
            for e in locations
        ],
        "instanceId": (old or {}).get("properties", {}).get("instanceId", str(uuid.uuid4())),
    }


def _cosmos_resource(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    """A Mongo database's or collection's `resource` as Cosmos DB answers it: as sent, plus the system properties
    `_rid` (kept for the resource's life), `_ts` and `_etag` (new on each write)."""
    previous = (old or {}).get("properties", {}).get("resource", {})
    resource = copy.deepcopy(body.get("properties", {}).get("resource") or {})
    resource.update(
        _rid=previous.get("_rid", base64.b64encode(os.urandom(6)).decode()),
        _ts=int(time.time()),
        _etag=f'"{uuid.uuid4()}"',
    )
    return {"resource": resource, "options": copy.deepcopy(body.get("properties", {}).get("options") or {})}


def _postgres_server(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    """Read-only members of ServerProperties and the defaults Azure fills in (no provisioningState: the model has
    `state` instead, see `states`)."""
    properties, previous = body.get("properties", {}), (old or {}).get("properties", {})
    high_availability = {"mode": "Disabled", **(properties.get("highAvailability") or {})}
    high_availability["state"] = "NotEnabled" if high_availability["mode"] == "Disabled" else "Healthy"
    auth = {"activeDirectoryAuth": "Disabled", "passwordAuth": "Enabled", **(properties.get("authConfig") or {})}
    if auth["activeDirectoryAuth"] == "Enabled":
        auth.setdefault("tenantId", TENANT_ID)
    computed: Json = {
        "fullyQualifiedDomainName": f"{m['name']}.postgres.database.azure.com",
        "highAvailability": high_availability,
        "authConfig": auth,
        "backup": {"backupRetentionDays": 7, "geoRedundantBackup": "Disabled", **(properties.get("backup") or {})},
        "replicationRole": properties.get("replicationRole", "Primary"),
        "network": {"publicNetworkAccess": "Enabled", **(properties.get("network") or {})},
    }
    if "administratorLogin" not in properties and "administratorLogin" in previous:
        computed["administratorLogin"] = previous["administratorLogin"]  # set at creation, never changed
    return computed


def _postgres_database(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    properties = body.get("properties", {})
    return {"charset": properties.get("charset") or "UTF8", "collation": properties.get("collation") or "en_US.utf8"}


def _postgres_administrator(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    return {"objectId": m["name"], "tenantId": body.get("properties", {}).get("tenantId") or TENANT_ID}


def _vault(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    return {"vaultUri": f"https://{m['name']}.vault.azure.net/"}


def _secret(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    """A new version on each PUT: secretUriWithVersion changes, attributes carry its creation time."""
    secret_uri = f"https://{m['parent']}.vault.azure.net/secrets/{m['name']}"
    now = int(time.time())
    attributes = {"enabled": True, **(body.get("properties", {}).get("attributes") or {}), "created": now}
    attributes["updated"] = now
    return {
        "secretUri": secret_uri,
        "secretUriWithVersion": f"{secret_uri}/{uuid.uuid4().hex}",
        "attributes": attributes,
    }


def _secret_top(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    vault = arm.resources.get(m.string[: m.string.lower().rindex("/secrets/")].lower())
    return {"location": vault.json.get("location") if vault else None, "tags": body.get("tags") or {}}


_ACCOUNT = _RG + r"/Microsoft\.DocumentDB/databaseAccounts/"
_FLEXIBLE = _RG + r"/Microsoft\.DBforPostgreSQL/flexibleServers/"
_VAULT = _RG + r"/Microsoft\.KeyVault/vaults/"


def _cosmos_account_path(path: str) -> str:
    """The account a Cosmos DB path is under (lowercase): control-plane writes lock the whole account."""
    found = re.search(r"^.*?/providers/microsoft\.documentdb/databaseaccounts/[^/]+", path.lower())
    assert found is not None
    return found[0]


def _dr_config(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    """A geo-disaster recovery alias as its (primary) namespace answers it; the partner gets its own (FakeArm._pair)."""
    return {"role": "Primary", "pendingReplicationOperationsCount": 0}


def _linked_server(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    """The host names of a geo-replicated pair: the geo-primary one never changes, whichever cache is primary."""
    return {
        "geoReplicatedPrimaryHostName": f"{m['parent']}.geo.redis.cache.windows.net",
        "primaryHostName": f"{m['parent']}.redis.cache.windows.net",
    }


def _parent_at(segment: str) -> Callable[[re.Match[str]], str]:
    """The parent of a nested resource: its path up to the last `/{segment}/`."""
    return lambda m: m.string[: m.string.lower().rindex(f"/{segment.lower()}/")]


TYPES = [
    _Type(
        "Microsoft.ServiceBus/namespaces/queues",
        re.compile(_RG + r"/Microsoft\.ServiceBus/namespaces/(?P<parent>[^/]+)/queues/(?P<name>[^/]+)$", re.I),
        parent=lambda m: m.string[: m.string.lower().rindex("/queues/")],
        created_status=200,
    ),
    _Type(
        "Microsoft.ServiceBus/namespaces",
        re.compile(_RG + r"/Microsoft\.ServiceBus/namespaces/(?P<name>[^/]+)$", re.I),
        put_lro="async-operation",
        delete_lro="location",
        computed=_sb_namespace,
    ),
    # Geo-disaster recovery (azure-mgmt-servicebus 10.0.0, api-version 2026-01-01): an alias is created by a synchronous
    # PUT (200/201) on the primary namespace, `Accepted` until the pairing is made; deleted with 200/204. Rules and the
    # failover and breakPairing actions: FakeArm's geo-recovery section.
    _Type(
        _DR_CONFIGS,
        re.compile(
            _RG + r"/Microsoft\.ServiceBus/namespaces/(?P<parent>[^/]+)/disasterRecoveryConfigs/(?P<name>[^/]+)$", re.I
        ),
        put_lro="body",
        parent=_parent_at("disasterRecoveryConfigs"),
        computed=_dr_config,
        states={"Creating": "Accepted", "Updating": "Accepted"},
    ),
    _Type(
        "Microsoft.Cache/redis/accessPolicyAssignments",
        re.compile(_RG + r"/Microsoft\.Cache/redis/(?P<parent>[^/]+)/accessPolicyAssignments/(?P<name>[^/]+)$", re.I),
        put_lro="async-operation",
        delete_lro="location",
        parent=lambda m: m.string[: m.string.lower().rindex("/accesspolicyassignments/")],
        creating="Updating",
    ),
    # The REST spec (2024-11-01): PUT answers 200/201 with a Location header, DELETE 200/202 (Location)/204.
    _Type(
        "Microsoft.Cache/redis/accessPolicies",
        re.compile(_RG + r"/Microsoft\.Cache/redis/(?P<parent>[^/]+)/accessPolicies/(?P<name>[^/]+)$", re.I),
        put_lro="location",
        delete_lro="location",
        parent=lambda m: m.string[: m.string.lower().rindex("/accesspolicies/")],
        creating="Updating",
        computed=lambda arm, m, body, old: {"type": "Custom"},
    ),
    _Type(
        "Microsoft.Cache/redis",
        re.compile(_RG + r"/Microsoft\.Cache/redis/(?P<name>[^/]+)$", re.I),
        put_lro="body",
        delete_lro="async-operation",
        computed=_redis,
        # The update operation (REST spec 2024-11-01, Redis_Update): 202 and a Location to poll.
        patch=(202, "location", True),
        patch_fields=frozenset({"tags", "properties", "identity"}),
    ),
    # Passive geo-replication (azure-mgmt-redis 14.5.0, api-version 2024-11-01): a linked server is created by a PUT
    # (200/201) polled through its provisioningState and deleted with 202 and a Location; each cache of the pair lists
    # the other (FakeArm's geo-recovery section).
    _Type(
        _LINKED_SERVERS,
        re.compile(_RG + r"/Microsoft\.Cache/redis/(?P<parent>[^/]+)/linkedServers/(?P<name>[^/]+)$", re.I),
        put_lro="body",
        delete_lro="location",
        parent=_parent_at("linkedServers"),
        computed=_linked_server,
    ),
    _Type(
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
        re.compile(
            _RG + r"/Microsoft\.ManagedIdentity/userAssignedIdentities/(?P<parent>[^/]+)"
            r"/federatedIdentityCredentials/(?P<name>[^/]+)$",
            re.I,
        ),
        parent=lambda m: m.string[: m.string.lower().rindex("/federatedidentitycredentials/")],
    ),
    _Type(
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        re.compile(_RG + r"/Microsoft\.ManagedIdentity/userAssignedIdentities/(?P<name>[^/]+)$", re.I),
        computed=_identity,
    ),
    _Type(
        "Microsoft.Authorization/roleAssignments",
        re.compile(r"^(?P<scope>/.+)/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[^/]+)$", re.I),
        parent=lambda m: m["scope"],
        state_property=None,
    ),
    # Cosmos DB (azure-mgmt-cosmosdb 9.9.0, api-version 2025-10-15). The SDK takes only 200 for an account's PUT and
    # PATCH (polled through Azure-AsyncOperation), 200/202 for a database's or collection's PUT, 202/204 for
    # deletes. MongoDBDatabaseGetResults and MongoDBCollectionGetResults have no provisioningState.
    _Type(
        "Microsoft.DocumentDB/databaseAccounts/mongodbDatabases/collections",
        re.compile(_ACCOUNT + r"[^/]+/mongodbDatabases/(?P<parent>[^/]+)/collections/(?P<name>[^/]+)$", re.I),
        put_lro="both",
        delete_lro="both",
        parent=_parent_at("collections"),
        computed=_cosmos_resource,
        state_property=None,
        put_accepted=True,
    ),
    _Type(
        "Microsoft.DocumentDB/databaseAccounts/mongodbDatabases",
        re.compile(_ACCOUNT + r"(?P<parent>[^/]+)/mongodbDatabases/(?P<name>[^/]+)$", re.I),
        put_lro="both",
        delete_lro="both",
        parent=_parent_at("mongodbDatabases"),
        computed=_cosmos_resource,
        state_property=None,
        put_accepted=True,
    ),
    _Type(
        "Microsoft.DocumentDB/databaseAccounts",
        re.compile(_ACCOUNT + r"(?P<name>[^/]+)$", re.I),
        put_lro="async-operation",
        delete_lro="both",
        created_status=200,
        computed=_cosmos_account,
        top=lambda arm, m, body, old: {"kind": body.get("kind") or "GlobalDocumentDB"},
        patch=(200, "async-operation", True),
        patch_fields=frozenset({"tags", "location", "identity", "properties"}),
    ),
    # PostgreSQL flexible servers (azure-mgmt-postgresqlflexibleservers 3.0.0, api-version 2026-10-01): every PUT,
    # PATCH and DELETE is answered 202 (deletes also 204) and polled through Azure-AsyncOperation. Server,
    # Database and AdministratorMicrosoftEntra have no provisioningState; a server reports `state` (ServerState).
    _Type(
        "Microsoft.DBforPostgreSQL/flexibleServers/databases",
        re.compile(_FLEXIBLE + r"(?P<parent>[^/]+)/databases/(?P<name>[^/]+)$", re.I),
        put_lro="both",
        delete_lro="both",
        parent=_parent_at("databases"),
        computed=_postgres_database,
        state_property=None,
        put_accepted=True,
    ),
    _Type(
        "Microsoft.DBforPostgreSQL/flexibleServers/administrators",
        re.compile(_FLEXIBLE + r"(?P<parent>[^/]+)/administrators/(?P<name>[^/]+)$", re.I),
        put_lro="both",
        delete_lro="both",
        parent=_parent_at("administrators"),
        computed=_postgres_administrator,
        state_property=None,
        put_accepted=True,
    ),
    _Type(
        "Microsoft.DBforPostgreSQL/flexibleServers",
        re.compile(_FLEXIBLE + r"(?P<name>[^/]+)$", re.I),
        put_lro="both",
        delete_lro="both",
        computed=_postgres_server,
        state_property="state",
        states={"Creating": "Provisioning", "Updating": "Updating", "Deleting": "Dropping", "Succeeded": "Ready"},
        put_accepted=True,
        patch=(202, "both", False),
        patch_fields=frozenset({"sku", "identity", "properties", "tags"}),
        write_only=("administratorLoginPassword",),
    ),
    # Key Vault through ARM (azure-mgmt-keyvault 14.1.0, api-version 2026-05-15): a vault's PUT is polled by its
    # provisioningState (VaultProvisioningState knows only RegisteringDns and Succeeded), its DELETE is synchronous;
    # secrets are written synchronously (200/201), answered without their value.
    _Type(
        "Microsoft.KeyVault/vaults/secrets",
        re.compile(_VAULT + r"(?P<parent>[^/]+)/secrets/(?P<name>[^/]+)$", re.I),
        parent=_parent_at("secrets"),
        computed=_secret,
        top=_secret_top,
        state_property=None,
        write_only=("value",),
    ),
    _Type(
        "Microsoft.KeyVault/vaults",
        re.compile(_VAULT + r"(?P<name>[^/]+)$", re.I),
        put_lro="body",
        computed=_vault,
        states={"Creating": "RegisteringDns", "Updating": "RegisteringDns"},
    ),
]
# Cost budgets (azure-mgmt-consumption 11.0.0, api-version 2024-08-01) at a resource group's scope: written
# synchronously, with an eTag that changes on every write and must match when an update sends one.
TYPES.append(
    _Type(
        "Microsoft.Consumption/budgets",
        re.compile(_RG + r"/Microsoft\.Consumption/budgets/(?P<name>[^/]+)$", re.I),
        computed=lambda arm, m, body, old: {"currentSpend": {"amount": 0.0, "unit": "USD"}},
        top=lambda arm, m, body, old: {"eTag": f'"{uuid.uuid4()}"'},
        state_property=None,
    )
)


# Application Insights components (azure-mgmt-applicationinsights 4.1.0, api-version 2020-02-02): PUT, GET and
# DELETE are synchronous and the SDK takes only 200 for a PUT, created or updated (DELETE 200 or 204). Property
# names are ARM's own PascalCase. Only workspace-based components can be created (classic ones are retired), in an
# existing Log Analytics workspace (`add_workspace`); Azure answers the connection string the services send with.
def _component(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    previous = (old or {}).get("properties", {})
    key = previous.get("InstrumentationKey", str(uuid.uuid4()))
    app = previous.get("AppId", str(uuid.uuid4()))
    region = _region(str(body.get("location", "")))
    return {
        "ApplicationId": m["name"],
        "AppId": app,
        "InstrumentationKey": key,
        "ConnectionString": f"InstrumentationKey={key};IngestionEndpoint=https://{region}-0.in.applicationinsights"
        f".azure.com/;LiveEndpoint=https://{region}.livediagnostics.monitor.azure.com/;ApplicationId={app}",
        "CreationDate": previous.get("CreationDate", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        "TenantId": m["sub"],
        "Flow_Type": body.get("properties", {}).get("Flow_Type", "Bluefield"),
        "Request_Source": body.get("properties", {}).get("Request_Source", "rest"),
        "publicNetworkAccessForIngestion": "Enabled",
        "publicNetworkAccessForQuery": "Enabled",
    }


TYPES.append(
    _Type(
        "Microsoft.Insights/components",
        re.compile(_RG + r"/Microsoft\.Insights/components/(?P<name>[^/]+)$", re.I),
        created_status=200,
        computed=_component,
    )
)
# Private endpoints (azure-mgmt-network 33.1.0, api-version 2026-03-01): PUT answered 201/200 with the resource
# ("Updating") and polled through Azure-AsyncOperation; DELETE 202 with both headers. An endpoint gets an address of
# its subnet (which must exist: `add_subnet`) and, the store being the same tenant's, an auto-approved connection.
# Private DNS zones and their virtual network links (azure-mgmt-privatedns 2.0.0, api-version 2024-06-01): PUT and
# DELETE answered 202 with both headers; a zone is global, and `If-None-Match: *` refuses to overwrite one.
_NETWORK = _RG + r"/Microsoft\.Network/"
_PRIVATE_LINK_GROUPS = {
    "microsoft.servicebus/namespaces": "namespace",
    "microsoft.cache/redis": "redisCache",
    "microsoft.documentdb/databaseaccounts": "MongoDB",
    "microsoft.dbforpostgresql/flexibleservers": "postgresqlServer",
    "microsoft.keyvault/vaults": "vault",
}
_PUBLIC_SUFFIXES = {
    "namespace": "servicebus.windows.net",
    "redisCache": "redis.cache.windows.net",
    "MongoDB": "mongo.cosmos.azure.com",
    "postgresqlServer": "postgres.database.azure.com",
    "vault": "vault.azure.net",
}


def _private_endpoint(arm: FakeArm, m: re.Match[str], body: Json, old: Json | None) -> Json:
    properties = body.get("properties", {})
    connections = copy.deepcopy(properties.get("privateLinkServiceConnections") or [])
    for connection in connections:
        connection.setdefault("properties", {})["privateLinkServiceConnectionState"] = {
            "status": "Approved",
            "description": "Auto-Approved",
            "actionsRequired": "None",
        }
    address = (old or {}).get("properties", {}).get("customDnsConfigs", [{}])[0].get("ipAddresses", [None])[0]
    address = address or arm.allocate_address(properties["subnet"]["id"])
    target = connections[0]["properties"] if connections else {}
    group = (target.get("groupIds") or [""])[0]
    fqdn = f"{str(target.get('privateLinkServiceId', '')).rsplit('/', 1)[-1]}.{_PUBLIC_SUFFIXES.get(group, '')}"
    nic = f"/subscriptions/{m['sub']}/resourceGroups/{m['rg']}/providers/Microsoft.Network/networkInterfaces/"
    return {
        "privateLinkServiceConnections": connections,
        "customDnsConfigs": [{"fqdn": fqdn, "ipAddresses": [address]}],
        "networkInterfaces": [{"id": f"{nic}{m['name']}.nic.{uuid.uuid4()}"}],
    }


TYPES += [
    _Type(
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
        re.compile(_NETWORK + r"privateEndpoints/(?P<parent>[^/]+)/privateDnsZoneGroups/(?P<name>[^/]+)$", re.I),
        put_lro="async-operation",
        delete_lro="both",
        parent=_parent_at("privateDnsZoneGroups"),
        creating="Updating",
    ),
    _Type(
        "Microsoft.Network/privateEndpoints",
        re.compile(_NETWORK + r"privateEndpoints/(?P<name>[^/]+)$", re.I),
        put_lro="async-operation",
        delete_lro="both",
        computed=_private_endpoint,
        creating="Updating",
    ),
    _Type(
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        re.compile(_NETWORK + r"privateDnsZones/(?P<parent>[^/]+)/virtualNetworkLinks/(?P<name>[^/]+)$", re.I),
        put_lro="both",
        delete_lro="both",
        parent=_parent_at("virtualNetworkLinks"),
        computed=lambda arm, m, body, old: {"virtualNetworkLinkState": "Completed"},
        put_accepted=True,
    ),
    _Type(
        "Microsoft.Network/privateDnsZones",
        re.compile(_NETWORK + r"privateDnsZones/(?P<name>[^/]+)$", re.I),
        put_lro="both",
        delete_lro="both",
        computed=lambda arm, m, body, old: {"numberOfRecordSets": 1, "maxNumberOfRecordSets": 25000},
        put_accepted=True,
    ),
]
_KINDS = {kind.name: kind for kind in TYPES}
# Service Bus geo-disaster recovery actions (POST .../disasterRecoveryConfigs/{alias}/{failover|breakPairing}).
_DR_ACTION = re.compile(
    _RG + r"/Microsoft\.ServiceBus/namespaces/[^/]+/disasterRecoveryConfigs/(?P<alias>[^/]+)"
    r"/(?P<action>failover|breakPairing)$",
    re.I,
)
# Cosmos DB account actions (POST .../databaseAccounts/{name}/{action}).
_COSMOS_ACTION = re.compile(_ACCOUNT + r"(?P<name>[^/]+)/(?P<action>[^/]+)$", re.I)
# The four keys of an account, by the keyKind regenerateKey takes, and how listKeys names them.
_KEY_KINDS = {
    "primary": "primaryMasterKey",
    "secondary": "secondaryMasterKey",
    "primaryReadonly": "primaryReadonlyMasterKey",
    "secondaryReadonly": "secondaryReadonlyMasterKey",
}
_CONNECTION_STRINGS = [
    ("primary", "Primary", "Primary"),
    ("secondary", "Secondary", "Secondary"),
    ("primaryReadonly", "PrimaryReadonly", "Primary Read-Only"),
    ("secondaryReadonly", "SecondaryReadonly", "Secondary Read-Only"),
]
_SECRET_NAME = re.compile(r"^[a-zA-Z0-9-]{1,127}$")
_VAULT_NAME = re.compile(r"^(?!.*--)[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _new_key() -> str:
    """A Cosmos DB account key: 64 random bytes, base64 (88 characters), as the portal shows them."""
    return base64.b64encode(os.urandom(64)).decode()


def _show_state(kind: _Type, document: Json, state: str) -> None:
    """Writes the generic state (Creating, Updating, Deleting, Succeeded, Failed) where the type reports it."""
    if kind.state_property is not None:
        document.setdefault("properties", {})[kind.state_property] = kind.states.get(state, state)


def _merge_patch(target: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386), how ARM applies a PATCH: objects merge member by member, null removes, anything
    else (lists included) replaces."""
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(target)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = _merge_patch(merged.get(name), value)
    return merged


class FakeArm:
    """The server. `lro_seconds` is how long each long-running operation takes; tests raise it for slow LROs."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self.ssl_context = ssl_context
        self.resources: dict[str, Stored] = {}
        self.operations: dict[str, Operation] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.failing_operations: list[Fault] = []
        self.throttling: Throttle | None = None
        self.lro_seconds = 0.2
        self.base_url = ""
        # Subnets that exist (the platform's network is not the operator's): id -> the addresses still free.
        self.subnets: dict[str, list[str]] = {}
        # Log Analytics workspaces that exist (lower-cased ids): someone else's, as the platform's network is.
        self.workspaces: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()

    # ---- lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock, ssl_context=self.ssl_context)
        await site.start()
        self.base_url = f"https://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- test helpers

    def inject(self, method: str, path_contains: str, status: int = 0, **options: Any) -> Fault:
        fault = Fault(method, path_contains, status, **options)
        self.faults.append(fault)
        return fault

    def fail_operations(self, path_contains: str, code: str, message: str = "", times: int | None = 1) -> Fault:
        """The next long-running PUTs of matching resources end Failed with this error (the PUT itself is accepted)."""
        failure = Fault("PUT", path_contains, 0, code=code, message=message or f"{code} (injected)", times=times)
        self.failing_operations.append(failure)
        return failure

    def throttle(self, *, burst: float, per_second: float) -> Throttle:
        """From now on writes and deletes beyond ARM-style token buckets are answered 429 with Retry-After."""
        self.throttling = Throttle(burst, per_second)
        return self.throttling

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Waits for requests to arrive until `predicate` holds, e.g. an LRO was started (the caller bounds it)."""
        async with self._arrived:
            await self._arrived.wait_for(predicate)

    def calls(self, method: str, path_contains: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and path_contains.lower() in r.path.lower()]

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in ("PUT", "PATCH", "DELETE")]

    def get(self, path: str) -> Json | None:
        stored = self._settled(path.lower())
        return copy.deepcopy(stored.json) if stored else None

    def paths(self, type_name: str) -> list[str]:
        return sorted(s.json["id"] for s in self.resources.values() if s.type.lower() == type_name.lower())

    def tamper(self, path: str, change: Callable[[Json], None]) -> None:
        """Drift: someone changed the resource behind the operator's back (portal, CLI, policy)."""
        change(self.resources[path.lower()].json)

    def add_subnet(self, subnet_id: str, cidr: str) -> None:
        """A subnet of a virtual network someone else keeps, for private endpoints to take addresses from (Azure
        reserves the first four and the last)."""
        hosts = [str(address) for address in ipaddress.ip_network(cidr).hosts()]
        self.subnets[subnet_id.lower()] = hosts[3:]

    def add_workspace(self, workspace_id: str) -> None:
        """A Log Analytics workspace someone else keeps, for Application Insights components to send to."""
        self.workspaces.add(workspace_id.lower())

    def allocate_address(self, subnet_id: str) -> str:
        return self.subnets[subnet_id.lower()].pop(0)

    def add_vault(
        self, subscription: str, resource_group: str, name: str, location: str = "westus2", tenant_id: str = TENANT_ID
    ) -> str:
        """A ready Key Vault, as one made outside the operator (the operator only writes secrets into it); returns
        its id. Vault names are global DNS names: a second vault of the same name is refused."""
        if self._named("Microsoft.KeyVault/vaults", name) is not None:
            raise ValueError(f"a vault named {name} exists")
        group = f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
        path = f"{group}/providers/Microsoft.KeyVault/vaults/{name}"
        document: Json = {
            "id": path,
            "name": name,
            "type": "Microsoft.KeyVault/vaults",
            "location": _display(location),
            "tags": {},
            "properties": {
                "tenantId": tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "accessPolicies": [],
                "enableRbacAuthorization": True,
                "vaultUri": f"https://{name}.vault.azure.net/",
                "provisioningState": "Succeeded",
            },
        }
        self.resources[path.lower()] = Stored("Microsoft.KeyVault/vaults", document)
        return path

    def secret_value(self, vault: str, name: str) -> str | None:
        """The current value of secret `name` in `vault` (its name or id): ARM never answers it, tests read it here."""
        found = self._named("Microsoft.KeyVault/vaults", vault)
        stored = self._settled(f"{found.json['id']}/secrets/{name}".lower()) if found is not None else None
        return stored.hidden.get("value") if stored is not None else None

    def cosmos_keys(self, account: str) -> dict[str, str]:
        """An account's four keys (by regenerateKey's keyKind), to compare with what listConnectionStrings answers."""
        found = self._named("Microsoft.DocumentDB/databaseAccounts", account)
        return dict(found.hidden.get("keys", {})) if found is not None else {}

    def server_password(self, server: str) -> str | None:
        """A flexible server's administrator password: write-only in the REST model, never in a GET."""
        found = self._named("Microsoft.DBforPostgreSQL/flexibleServers", server)
        return found.hidden.get("administratorLoginPassword") if found is not None else None

    def _named(self, type_name: str, name_or_id: str) -> Stored | None:
        """A resource of a globally named type (vaults, Cosmos DB accounts, flexible servers) by name or id."""
        if "/" in name_or_id:
            return self._settled(name_or_id.lower())
        for key in [k for k, v in self.resources.items() if v.type == type_name]:
            stored = self._settled(key)
            if stored is not None and stored.json["name"].lower() == name_or_id.lower():
                return stored
        return None

    # ---- state

    def _settled(self, key: str) -> Stored | None:
        stored = self.resources.get(key)
        if stored is None or stored.operation is None or time.monotonic() < stored.busy_until:
            return stored
        if stored.operation == "Deleting":
            del self.resources[key]
            return None
        kind = _KINDS[stored.type]
        if stored.outcome == "Failed" and kind.state_property != "provisioningState":
            # Assumed: with no provisioningState to report Failed in, a failed creation leaves nothing and a failed
            # update leaves the resource as it was; the operation's status says why.
            if stored.previous is None:
                del self.resources[key]
                return None
            stored.json = stored.previous
        stored.operation = None
        _show_state(kind, stored.json, stored.outcome)
        return stored

    def _exists(self, path: str) -> bool:
        stored = self._settled(path.lower())
        return stored is not None and stored.operation != "Deleting"

    def _operation(
        self, request: web.Request, path: str, kind: str, done_at: float, style: str, error: Json | None = None
    ) -> dict[str, str]:
        op = uuid.uuid4().hex
        self.operations[op] = Operation(path=path.lower(), done_at=done_at, kind=kind, error=error)
        base = f"https://{request.host}"
        async_operation = {"Azure-AsyncOperation": f"{base}/fake/operations/{op}?api-version=2024-01-01"}
        location = {"Location": f"{base}/fake/locations/{op}?api-version=2024-01-01"}
        if style == "async-operation":
            return async_operation
        if style == "both":
            return async_operation | location
        return location

    # ---- HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            body = await request.json() if raw else None
        self.requests.append(Recorded(request.method, path, request.query.get("api-version"), body))
        async with self._arrived:
            self._arrived.notify_all()
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(401, "AuthenticationFailed", "Authentication failed: missing or invalid bearer token.")
        for fault in self.faults:
            if fault.matches(request.method, path):
                if fault.times is not None:
                    fault.times -= 1
                if fault.disconnect:
                    assert request.transport is not None
                    request.transport.abort()
                    await asyncio.sleep(0)
                    raise ConnectionResetError("fault injected: connection dropped")
                headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
                return _error(fault.status, fault.code or str(fault.status), fault.message or "injected", headers)
        throttled = self.throttling.answer(request.method, path) if self.throttling is not None else None
        if throttled is not None:
            return throttled
        if not request.query.get("api-version"):
            return _error(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
        if path.startswith("/fake/operations/"):
            return self._async_operation(path.rsplit("/", 1)[-1])
        if path.startswith("/fake/locations/"):
            return self._location(request, path.rsplit("/", 1)[-1])
        listing = self._list(request.method, path, request.query.get("$filter", ""))
        if listing is not None:
            return listing
        action = self._action(request, path, body) or self._geo_recovery_action(request, path)
        if action is not None:
            return action
        for kind in TYPES:
            match = kind.pattern.search(path)
            if match is not None:
                handler = {"GET": self._get, "PUT": self._put, "PATCH": self._patch, "DELETE": self._delete}.get(
                    request.method
                )
                if handler is None:
                    return _error(405, "MethodNotAllowed", f"{request.method} is not supported")
                refused = self._geo_recovery_refusal(request.method, kind, match, body)
                if refused is not None:
                    return refused
                answer = await handler(request, kind, match, body)
                if answer.status < 300:
                    self._geo_recovery_follows(request.method, kind, match)
                return answer
        return _error(404, "InvalidResourceType", f"no resource type matches {path}")

    def _list(self, method: str, path: str, query_filter: str) -> web.Response | None:
        """The collection GETs the operator uses: role assignments for a scope (at, above and below it, filtered by
        principal as ARM does), a cache's access policies (built-in ones too) and their assignments, a
        namespace's queues, an identity's federated credentials, and the children of Cosmos DB accounts, flexible
        servers and vaults (secrets without their values). None when `path` is no such collection."""
        if method != "GET":
            return None
        key = path.lower()
        found: list[Json] = []
        if key.endswith("/providers/microsoft.authorization/roleassignments"):
            scope = key[: -len("/providers/microsoft.authorization/roleassignments")]
            principal = re.search(r"principalId eq '([^']+)'", query_filter)
            for stored in self.resources.values():
                if stored.type != "Microsoft.Authorization/roleAssignments":
                    continue
                at = stored.json["properties"]["scope"].lower()
                related = at == scope or at.startswith(scope + "/") or scope.startswith(at + "/")
                if related and (principal is None or stored.json["properties"]["principalId"] == principal[1]):
                    found.append(stored.json)
        elif re.search(
            r"/providers/microsoft\."
            r"(cache/redis/[^/]+/accesspolic(ies|yassignments)|servicebus/namespaces/[^/]+/queues"
            r"|documentdb/databaseaccounts/[^/]+/mongodbdatabases(/[^/]+/collections)?"
            r"|dbforpostgresql/flexibleservers/[^/]+/(databases|administrators)|keyvault/vaults/[^/]+/secrets"
            r"|managedidentity/userassignedidentities/[^/]+/federatedidentitycredentials)$",
            key,
        ):
            parent = key.rsplit("/", 1)[0]
            if self._settled(parent) is None:
                return _error(404, "ResourceNotFound", f"The Resource '{path}' was not found.")
            found = [
                stored.json
                for path_, stored in self.resources.items()
                if path_.startswith(key + "/") and path_.count("/") == key.count("/") + 1
            ]
        else:
            return None
        return web.json_response({"value": copy.deepcopy(found)})

    def _async_operation(self, op: str) -> web.Response:
        operation = self.operations.get(op)
        if operation is None:
            return _error(404, "OperationNotFound", op)
        self._settled(operation.path)
        if time.monotonic() < operation.done_at:
            return web.json_response({"id": op, "name": op, "status": "InProgress"})
        if operation.error is not None:
            return web.json_response({"id": op, "name": op, "status": "Failed", "error": operation.error})
        return web.json_response({"id": op, "name": op, "status": "Succeeded"})

    def _location(self, request: web.Request, op: str) -> web.Response:
        operation = self.operations.get(op)
        if operation is None:
            return _error(404, "OperationNotFound", op)
        self._settled(operation.path)
        if time.monotonic() < operation.done_at:
            location = f"https://{request.host}/fake/locations/{op}?api-version=2024-01-01"
            return web.Response(status=202, headers={"Location": location})
        if operation.kind in ("delete", "action"):
            return web.Response(status=204)
        stored = self.resources.get(operation.path)
        return web.json_response(stored.json if stored else {})

    async def _get(self, request: web.Request, kind: _Type, match: re.Match[str], body: Any) -> web.Response:
        stored = self._settled(request.path.lower())
        if stored is None:
            return _error(404, "ResourceNotFound", f"The Resource '{kind.name}/{match['name']}' was not found.")
        return web.json_response(stored.json)

    def _reject(self, kind: _Type, match: re.Match[str], body: Json) -> web.Response | None:
        """What real ARM would refuse for this PUT."""
        if kind.parent is not None and not self._exists(kind.parent(match)):
            if kind.name == "Microsoft.Authorization/roleAssignments":
                # A role assignment's scope is no parent to ARM but a resource to look up: a queue still being
                # created is answered as any missing resource is.
                return _error(404, "ResourceNotFound", f"The Resource '{kind.parent(match)}' was not found.")
            return _error(404, "ParentResourceNotFound", f"Parent resource {kind.parent(match)} not found.")
        properties = body.get("properties", {})
        if kind.name == "Microsoft.ServiceBus/namespaces/queues":
            namespace = self.resources[kind.parent(match).lower()].json  # type: ignore[misc]
            partitioned_namespace = namespace["properties"].get("premiumMessagingPartitions", 1) > 1
            if namespace["sku"]["name"] == "Premium" and bool(properties.get("enablePartitioning")) != (
                partitioned_namespace
            ):
                # A Premium namespace partitions all of its entities or none ("We do not allow creating
                # non-partitioned entities in a partitioned namespace": learn.microsoft.com, enable-partitions-premium).
                message = (
                    "Non-partitioned entities are not allowed in a partitioned namespace."
                    if partitioned_namespace
                    else "Partitioned entities are not supported in this Premium namespace."
                )
                return _error(400, "BadRequest", message)
        credential = kind.name == "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"
        if credential and (
            not str(properties.get("issuer", "")).startswith("https://") or not properties.get("audiences")
        ):
            return _error(400, "BadRequest", "issuer must be an https URL and audiences must not be empty.")
        if kind.name == "Microsoft.Authorization/roleAssignments":
            return self._reject_role_assignment(match, properties)
        if kind.name == "Microsoft.Cache/redis/accessPolicies":
            return self._reject_access_policy(match, properties)
        if kind.name == "Microsoft.Cache/redis/accessPolicyAssignments":
            return self._reject_access_policy_assignment(match, properties)
        if kind.name == "Microsoft.DocumentDB/databaseAccounts":
            return self._reject_cosmos_account(body)
        if kind.name == "Microsoft.Consumption/budgets":
            return self._reject_budget(body, self._settled(match.string.lower()))
        if kind.name == "Microsoft.Insights/components":
            return self._reject_component(body)
        if kind.name.startswith("Microsoft.DocumentDB/databaseAccounts/mongodbDatabases"):
            return self._reject_mongo(kind, match, properties)
        if kind.name == "Microsoft.DBforPostgreSQL/flexibleServers":
            return self._reject_flexible_server(match, body, self._settled(match.string.lower()))
        if kind.name == "Microsoft.DBforPostgreSQL/flexibleServers/administrators":
            return self._reject_entra_administrator(kind, match, properties)
        if kind.name == "Microsoft.KeyVault/vaults":
            return self._reject_vault(match, body)
        if kind.name == "Microsoft.KeyVault/vaults/secrets":
            return self._reject_secret(match, properties)
        if kind.name == "Microsoft.Network/privateEndpoints":
            return self._reject_private_endpoint(match, body)
        if kind.name == "Microsoft.Network/privateEndpoints/privateDnsZoneGroups":
            return self._reject_zone_group(properties)
        if kind.name == "Microsoft.Network/privateDnsZones/virtualNetworkLinks":
            return self._reject_network_link(properties)
        return None

    def _reject_private_endpoint(self, match: re.Match[str], body: Json) -> web.Response | None:
        """An endpoint needs a location, an existing subnet and one connection to an existing resource, with the
        group (sub-resource) that resource's type offers."""
        properties = body.get("properties", {})
        subnet = str((properties.get("subnet") or {}).get("id", ""))
        connections = properties.get("privateLinkServiceConnections") or []
        if "location" not in body or len(connections) != 1:
            return _error(400, "InvalidRequestFormat", "location and one privateLinkServiceConnection are required")
        if subnet.lower() not in self.subnets:
            message = f"Resource {subnet} referenced by resource {match.string} was not found."
            return _error(400, "InvalidResourceReference", message)
        target = connections[0].get("properties", {})
        target_id = str(target.get("privateLinkServiceId", ""))
        if not self._exists(target_id):
            message = f"Resource {target_id} referenced by resource {match.string} was not found."
            return _error(400, "InvalidResourceReference", message)
        type_name = "/".join(target_id.split("/providers/", 1)[1].split("/")[:2]).lower()
        if target.get("groupIds") != [_PRIVATE_LINK_GROUPS.get(type_name)]:
            message = f"Group id {target.get('groupIds')} is not a private link group of {type_name}."
            return _error(400, "PrivateEndpointBadRequest", message)
        return None

    def _reject_zone_group(self, properties: Json) -> web.Response | None:
        for config in properties.get("privateDnsZoneConfigs") or []:
            zone = str(config.get("properties", {}).get("privateDnsZoneId", ""))
            if not self._exists(zone):
                return _error(400, "InvalidResourceReference", f"Resource {zone} was not found.")
        return None

    def _reject_network_link(self, properties: Json) -> web.Response | None:
        network = str((properties.get("virtualNetwork") or {}).get("id", "")).lower()
        if not any(subnet.startswith(network + "/subnets/") for subnet in self.subnets):
            return _error(400, "InvalidResourceReference", f"Virtual network {network} was not found.")
        return None

    @staticmethod
    def _reject_cosmos_account(body: Json) -> web.Response | None:
        """`location` and `properties.locations` are required (DatabaseAccountCreateUpdateParameters)."""
        if not body.get("location"):
            return _error(400, "LocationRequired", "The location property is required for this definition.")
        locations = body.get("properties", {}).get("locations")
        if not isinstance(locations, list) or not locations:
            return _error(400, "BadRequest", "properties.locations is required and must name at least one region.")
        if sorted(entry.get("failoverPriority", 0) for entry in locations) != list(range(len(locations))):
            return _error(400, "BadRequest", "properties.locations failoverPriority values must be 0, 1, 2, ...")
        return None

    def _reject_mongo(self, kind: _Type, match: re.Match[str], properties: Json) -> web.Response | None:
        """A Mongo database or collection: a MongoDB account, `resource.id` equal to the name in the path, throughput
        in the steps Cosmos DB allows (autoscale: 1000 to 1000000 RU/s in steps of 1000; manual: at least 400 in
        steps of 100; not both), a single hashed shard key."""
        account = self._settled(_cosmos_account_path(match.string))
        if account is not None and account.json.get("kind") != "MongoDB":
            return _error(400, "BadRequest", "Requests for API mongodb are not supported for this account.")
        resource = properties.get("resource")
        if not isinstance(resource, dict) or resource.get("id") != match["name"]:
            given = resource.get("id") if isinstance(resource, dict) else None
            message = f"properties.resource.id '{given}' must equal the name in the request URI '{match['name']}'."
            return _error(400, "BadRequest", message)
        options = properties.get("options") or {}
        autoscale, throughput = options.get("autoscaleSettings"), options.get("throughput")
        if autoscale is not None and throughput is not None:
            return _error(400, "BadRequest", "options.throughput and options.autoscaleSettings cannot both be set.")
        if autoscale is not None:
            maximum = autoscale.get("maxThroughput") if isinstance(autoscale, dict) else None
            if not isinstance(maximum, int) or not 1000 <= maximum <= 1000000 or maximum % 1000:
                message = (
                    f"options.autoscaleSettings.maxThroughput {maximum} is invalid: it must be a multiple of 1000 "
                    "between 1000 and 1000000."
                )
                return _error(400, "BadRequest", message)
        if throughput is not None and (not isinstance(throughput, int) or throughput < 400 or throughput % 100):
            message = f"options.throughput {throughput} is invalid: it must be a multiple of 100, at least 400."
            return _error(400, "BadRequest", message)
        if kind.name.endswith("/collections"):
            shard_key = resource.get("shardKey") or {}
            if len(shard_key) > 1 or any(str(value) != "Hash" for value in shard_key.values()):
                message = f"resource.shardKey {shard_key} is invalid: one path, of kind Hash, is supported."
                return _error(400, "BadRequest", message)
            for index in resource.get("indexes") or []:
                if not (index.get("key") or {}).get("keys"):
                    return _error(400, "BadRequest", "resource.indexes: each index needs key.keys.")
        return None

    def _reject_flexible_server(self, match: re.Match[str], body: Json, old: Stored | None) -> web.Response | None:
        """What a flexible server refuses, as documented on learn.microsoft.com (codes and messages assumed):
        high availability on the Burstable tier (concepts-high-availability: "not supported in the Burstable
        tier"), backup retention outside 7 to 35 days (concepts-backup-restore), password authentication without
        an administrator login and password on creation, and geo-redundant backup changed after creation
        ("can only be configured at server create time")."""
        properties = body.get("properties", {})
        sku = body.get("sku") or {}
        if old is None and not (sku.get("name") and sku.get("tier")):
            return _error(400, "InvalidParameterValue", "sku.name and sku.tier are required.")
        mode = (properties.get("highAvailability") or {}).get("mode", "Disabled")
        if sku.get("tier") == "Burstable" and mode in ("ZoneRedundant", "SameZone"):
            message = (
                f"properties.highAvailability.mode '{mode}' is not supported for servers in the Burstable tier: "
                "choose the GeneralPurpose or MemoryOptimized tier."
            )
            return _error(400, "HANotSupportedForBurstableSkuTier", message)
        backup = properties.get("backup") or {}
        days = backup.get("backupRetentionDays")
        if days is not None and (not isinstance(days, int) or not 7 <= days <= 35):
            message = f"Invalid value given for parameter backup.backupRetentionDays ({days}): it must be 7 to 35."
            return _error(400, "InvalidParameterValue", message)
        password_auth = (properties.get("authConfig") or {}).get("passwordAuth", "Enabled")
        credentials = properties.get("administratorLogin") and properties.get("administratorLoginPassword")
        if old is None and password_auth == "Enabled" and not credentials:
            message = (
                "administratorLogin and administratorLoginPassword are required when authConfig.passwordAuth is "
                "Enabled."
            )
            return _error(400, "InvalidParameterValue", message)
        if old is not None and "geoRedundantBackup" in backup:
            before = old.json["properties"].get("backup", {}).get("geoRedundantBackup", "Disabled")
            if backup["geoRedundantBackup"] != before:
                message = "backup.geoRedundantBackup can only be configured when the server is created."
                return _error(400, "InvalidParameterValue", message)
        return None

    def _reject_entra_administrator(self, kind: _Type, match: re.Match[str], properties: Json) -> web.Response | None:
        """A Microsoft Entra administrator needs Microsoft Entra authentication enabled on its server, an object id
        (GUID) in the path, a principal type and name. (ARM's exact code for a disabled server is assumed.)"""
        server = self._settled(kind.parent(match).lower())  # type: ignore[misc]
        assert server is not None  # the parent check came first
        if (server.json["properties"].get("authConfig") or {}).get("activeDirectoryAuth") != "Enabled":
            message = (
                f"Microsoft Entra authentication is not enabled on server '{match['parent']}': set "
                "authConfig.activeDirectoryAuth to Enabled before adding administrators."
            )
            return _error(400, "BadRequest", message)
        if not _GUID.match(match["name"]):
            return _error(400, "InvalidParameterValue", f"objectId '{match['name']}' is not a GUID.")
        if properties.get("principalType") not in ("User", "Group", "ServicePrincipal"):
            message = f"principalType '{properties.get('principalType')}' is invalid: User, Group or ServicePrincipal."
            return _error(400, "InvalidParameterValue", message)
        if not properties.get("principalName"):
            return _error(400, "InvalidParameterValue", "principalName is required.")
        return None

    @staticmethod
    def _reject_budget(body: Json, old: Stored | None) -> web.Response | None:
        """The Budgets API's rules: a start date on the first of a month, not before the current month when the
        budget is created (a monthly budget's past start must lie within its time grain) nor more than twelve
        months ahead; at most five notifications, each with contacts and a threshold in (0, 1000]; an eTag, when
        sent, that matches what Azure holds."""
        properties = body.get("properties", {})
        if old is not None and body.get("eTag") is not None and body["eTag"] != old.json.get("eTag"):
            return _error(412, "PreconditionFailed", "The budget was changed since it was read (eTag mismatch).")
        if not isinstance(properties.get("amount"), int | float) or properties["amount"] <= 0:
            return _error(400, "InvalidAmount", "Budget amount must be greater than zero.")
        start = str(properties.get("timePeriod", {}).get("startDate", ""))
        match = re.fullmatch(r"(\d{4})-(\d{2})-01T00:00:00(\.0+)?Z?", start)
        if match is None:
            return _error(400, "InvalidStartDate", "The start date must be the first of a month.")
        today = time.gmtime()
        months = (int(match[1]) - today.tm_year) * 12 + int(match[2]) - today.tm_mon
        if old is None and months < 0:
            return _error(400, "InvalidStartDate", "The start date cannot be before the current month.")
        if months > 12:
            return _error(400, "InvalidStartDate", "The start date cannot be more than twelve months ahead.")
        notifications = properties.get("notifications", {})
        if len(notifications) > 5:
            return _error(400, "InvalidNotifications", "A budget takes at most five notifications.")
        for key, notification in notifications.items():
            threshold = notification.get("threshold", 0)
            if not 0 < threshold <= 1000:
                return _error(400, "InvalidThreshold", f"Notification {key}: threshold must be in (0, 1000].")
            if not notification.get("contactEmails") and not notification.get("contactGroups"):
                return _error(400, "InvalidContacts", f"Notification {key}: contactEmails or contactGroups required.")
            if notification.get("thresholdType", "Actual") not in ("Actual", "Forecasted"):
                return _error(400, "InvalidThresholdType", f"Notification {key}: thresholdType is invalid.")
        return None

    def _reject_component(self, body: Json) -> web.Response | None:
        """A component: a kind, an Application_Type, and a workspace that exists (classic components are retired)."""
        properties = body.get("properties", {})
        if not body.get("kind") or not properties.get("Application_Type"):
            return _error(400, "BadRequest", "kind and properties.Application_Type are required.")
        workspace = str(properties.get("WorkspaceResourceId") or "")
        if not workspace:
            return _error(
                400,
                "BadRequest",
                "Classic Application Insights components are retired: properties.WorkspaceResourceId is required.",
            )
        if workspace.lower() not in self.workspaces:
            return _error(400, "BadRequest", f"Workspace {workspace} was not found.")
        return None

    def _reject_vault(self, match: re.Match[str], body: Json) -> web.Response | None:
        """A vault: a valid, globally unique name, a tenant and a sku."""
        if not _VAULT_NAME.match(match["name"]):
            message = (
                f"The vault name '{match['name']}' is invalid. A vault's name must be between 3-24 alphanumeric "
                "characters. The name must begin with a letter, end with a letter or digit, and not contain "
                "consecutive hyphens."
            )
            return _error(400, "VaultNameNotValid", message)
        other = self._named("Microsoft.KeyVault/vaults", match["name"])
        if other is not None and other.json["id"].lower() != match.string.lower():
            message = (
                f"The vault name '{match['name']}' is already in use. Vault names are globally unique so it is "
                "possible that the name is already taken."
            )
            return _error(409, "VaultAlreadyExists", message)
        properties = body.get("properties", {})
        if not body.get("location") or not properties.get("tenantId") or not properties.get("sku"):
            return _error(400, "BadRequest", "location, properties.tenantId and properties.sku are required.")
        return None

    @staticmethod
    def _reject_secret(match: re.Match[str], properties: Json) -> web.Response | None:
        if not _SECRET_NAME.match(match["name"]):
            message = f"Secret name '{match['name']}' is invalid: 1-127 letters, digits and hyphens."
            return _error(400, "BadRequest", message)
        if not isinstance(properties.get("value"), str):
            return _error(400, "BadRequest", "properties.value is required.")
        return None

    def _reject_access_policy(self, match: re.Match[str], properties: Json) -> web.Response | None:
        if not _POLICY_NAME.match(match["name"]):
            return _error(400, "InvalidResourceName", f"Access policy name '{match['name']}' is invalid.")
        if not str(properties.get("permissions") or "").strip():
            return _error(400, "BadRequest", "properties.permissions is required.")
        existing = self._settled(match.string.lower())
        if existing is not None and existing.json["properties"].get("type") == "BuiltIn":
            return _error(400, "BadRequest", f"Built-in access policy '{match['name']}' cannot be modified.")
        return None

    def _reject_access_policy_assignment(self, match: re.Match[str], properties: Json) -> web.Response | None:
        """The named policy must be one the cache holds, done being created: assigning a policy before creating it
        fails. (ARM's exact answer to that is not documented; 400 BadRequest is assumed.)"""
        if not _ASSIGNMENT_NAME.match(match["name"]):
            return _error(400, "InvalidResourceName", f"Access policy assignment name '{match['name']}' is invalid.")
        policy = str(properties.get("accessPolicyName") or "")
        cache = match.string[: match.string.lower().rindex("/accesspolicyassignments/")]
        named = self._settled(f"{cache}/accessPolicies/{policy}".lower()) if policy else None
        if named is None or named.operation == "Deleting":
            return _error(400, "BadRequest", f"Access policy '{policy}' does not exist on cache '{match['parent']}'.")
        # The cache takes one change of its data access at a time (hashicorp/terraform-provider-azurerm#26085).
        if named.operation is not None:
            return _error(409, "Conflict", f"Access policy '{policy}' is being updated; retry when it is done.")
        # One assignment per identity and cache: a second one is refused (Azure/AzureCacheForRedis#14).
        prefix = cache.lower() + "/accesspolicyassignments/"
        for path in [p for p in self.resources if p.startswith(prefix) and p != match.string.lower()]:
            other = self._settled(path)
            if other is not None and other.json["properties"].get("objectId") == properties.get("objectId"):
                return _error(
                    400,
                    "BadRequest",
                    "An invalid access policy assignment was detected due to duplicate entries. Please review and "
                    "ensure that each assignment has a unique combination of assignmentName, policyName and ObjectId "
                    "to avoid such duplicates",
                )
        return None

    def _assignments_of(self, policy_path: str) -> list[str]:
        """Assignments of the cache that name the policy at `policy_path`, including ones still being deleted."""
        cache, name = policy_path.lower().rsplit("/accesspolicies/", 1)
        named = [
            path
            for path, stored in self.resources.items()
            if stored.type == "Microsoft.Cache/redis/accessPolicyAssignments"
            and path.startswith(cache + "/accesspolicyassignments/")
            and str(stored.json["properties"].get("accessPolicyName", "")).lower() == name
        ]
        return [path for path in named if self._settled(path) is not None]

    def _seed_built_in_policies(self, cache_path: str) -> None:
        for name, permissions in BUILT_IN_REDIS_POLICIES.items():
            path = f"{cache_path}/accessPolicies/{name}"
            properties = {"permissions": permissions, "type": "BuiltIn", "provisioningState": "Succeeded"}
            document = {"id": path, "name": name, "type": "Microsoft.Cache/redis/accessPolicies"}
            self.resources[path.lower()] = Stored(
                "Microsoft.Cache/redis/accessPolicies", document | {"properties": properties}
            )

    def _reject_role_assignment(self, match: re.Match[str], properties: Json) -> web.Response | None:
        key = (properties.get("principalId"), properties.get("roleDefinitionId", "").lower(), match["scope"].lower())
        for path, stored in self.resources.items():
            if stored.type != "Microsoft.Authorization/roleAssignments":
                continue
            props = stored.json["properties"]
            same = (props["principalId"], props["roleDefinitionId"].lower(), props["scope"].lower()) == key
            if path == match.string.lower():
                if not same:
                    return _error(409, "RoleAssignmentUpdateNotPermitted", "Role assignments cannot be updated.")
            elif same:
                return _error(409, "RoleAssignmentExists", "The role assignment already exists.")
        return None

    async def _put(self, request: web.Request, kind: _Type, match: re.Match[str], body: Any) -> web.Response:
        if not isinstance(body, dict):
            return _error(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        key = request.path.lower()
        old = self._settled(key)
        if request.headers.get("If-None-Match") == "*" and key in self.resources:
            return _error(412, "PreconditionFailed", f"The resource {match['name']} already exists (If-None-Match).")
        busy = self._busy(kind, request.path, old)
        if busy is not None:
            return busy
        rejection = self._reject(kind, match, body)
        if rejection is not None:
            return rejection
        document: Json = copy.deepcopy(body)
        document.update(id=request.path, name=match["name"], type=kind.name)
        if "location" in document:
            document["location"] = _DISPLAY_LOCATIONS.get(document["location"], document["location"])
        properties = document.setdefault("properties", {})
        properties.update(kind.computed(self, match, body, old.json if old else None))
        document.update(kind.top(self, match, body, old.json if old else None))
        if kind.name == "Microsoft.Authorization/roleAssignments":
            properties["scope"] = match["scope"]
        hidden = self._hide(kind, properties, old.hidden if old else {})
        if kind.name == "Microsoft.DocumentDB/databaseAccounts" and old is None:
            hidden["keys"] = {kind_: _new_key() for kind_ in _KEY_KINDS}
        status = 200 if old is not None else kind.created_status
        if kind.put_lro is None:
            _show_state(kind, document, "Succeeded")
            self.resources[key] = Stored(kind.name, document, hidden=hidden)
            return web.json_response(document, status=status)
        operation = "Updating" if old is not None else kind.creating
        _show_state(kind, document, operation)
        done_at = time.monotonic() + self.lro_seconds
        error = self._operation_error(request.path)
        outcome = "Failed" if error is not None else "Succeeded"
        self.resources[key] = Stored(
            kind.name,
            document,
            busy_until=done_at,
            operation=operation,
            outcome=outcome,
            hidden=hidden,
            previous=copy.deepcopy(old.json) if old else None,
        )
        if kind.name == "Microsoft.Cache/redis" and old is None:
            self._seed_built_in_policies(request.path)
        headers = self._operation(request, key, "put", done_at, kind.put_lro, error) if kind.put_lro != "body" else {}
        if kind.put_accepted:
            return web.Response(status=202, headers=headers)
        return web.json_response(document, status=status, headers=headers)

    @staticmethod
    def _hide(kind: _Type, properties: Json, hidden: Json) -> Json:
        """Moves the write-only properties out of the resource (ARM keeps them but never answers them)."""
        kept = copy.deepcopy(hidden)
        for name in kind.write_only:
            if name in properties:
                kept[name] = properties.pop(name)
        return kept

    def _busy(self, kind: _Type, path: str, stored: Stored | None) -> web.Response | None:
        """A write that meets a running operation: Cosmos DB takes an exclusive lock on the whole account for each
        control-plane operation and answers 412 (hashicorp/terraform-provider-azurerm#15842); the others refuse a
        second operation on the same resource with 409."""
        if kind.name.startswith("Microsoft.DocumentDB/"):
            account, now = _cosmos_account_path(path), time.monotonic()
            running = [
                op for op in self.operations.values() if (op.path + "/").startswith(account + "/") and now < op.done_at
            ]
            if running:
                name = account.rsplit("/", 1)[-1]
                message = (
                    f"There is another user operation in progress which requires an exclusive lock on [{name}]. "
                    "Please retry after sometime."
                )
                return _error(412, "PreconditionFailed", message)
            return None
        if stored is not None and stored.operation is not None:
            return _error(409, "AnotherOperationInProgress", f"An operation ({stored.operation}) is in progress.")
        return None

    async def _patch(self, request: web.Request, kind: _Type, match: re.Match[str], body: Any) -> web.Response:
        """The update operation of the types that have one (Redis, Cosmos DB accounts, flexible servers): the update
        model merged into the resource, answered as each SDK expects (`kind.patch`). A cache merges
        redisConfiguration key by key and replaces other properties (REST spec 2024-11-01, Redis_Update); the others
        merge as JSON merge patch."""
        if kind.patch is None:
            return _error(405, "MethodNotAllowed", f"PATCH is not supported for {kind.name}")
        if not isinstance(body, dict):
            return _error(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        key = request.path.lower()
        stored = self._settled(key)
        if stored is None:
            return _error(404, "ResourceNotFound", f"The Resource '{kind.name}/{match['name']}' was not found.")
        busy = self._busy(kind, request.path, stored)
        if busy is not None:
            return busy
        # Assumed, not documented: what the update operation has no field for (zones, location) is refused, not
        # silently ignored, so a test sees the operator send it.
        unknown = sorted(set(body) - kind.patch_fields)
        if unknown:
            return _error(400, "BadRequest", f"The update operation does not take {', '.join(unknown)}.")
        if kind.name == "Microsoft.Cache/redis":
            document = copy.deepcopy(stored.json)
            document.update({name: copy.deepcopy(body[name]) for name in ("tags", "identity") if name in body})
            properties = document.setdefault("properties", {})
            for name, value in body.get("properties", {}).items():
                merged = {**properties.get(name, {}), **value} if name == "redisConfiguration" else value
                properties[name] = copy.deepcopy(merged)
        else:
            document = _merge_patch(stored.json, body)
            if kind.name == "Microsoft.DBforPostgreSQL/flexibleServers":
                rejection = self._reject_flexible_server(match, document, stored)
                if rejection is not None:
                    return rejection
        properties = document.setdefault("properties", {})
        properties.update(kind.computed(self, match, document, stored.json))
        hidden = self._hide(kind, properties, stored.hidden)
        _show_state(kind, document, "Updating")
        done_at = time.monotonic() + self.lro_seconds
        self.resources[key] = Stored(
            kind.name,
            document,
            busy_until=done_at,
            operation="Updating",
            hidden=hidden,
            previous=copy.deepcopy(stored.json),
        )
        status, style, with_body = kind.patch
        headers = self._operation(request, key, "put", done_at, style)
        if not with_body:
            return web.Response(status=status, headers=headers)
        return web.json_response(document, status=status, headers=headers)

    def _operation_error(self, path: str) -> Json | None:
        """The error an injected failure makes this PUT's long-running operation end with, if any."""
        for failure in self.failing_operations:
            if failure.matches("PUT", path):
                if failure.times is not None:
                    failure.times -= 1
                return {"code": failure.code, "message": failure.message}
        return None

    async def _delete(self, request: web.Request, kind: _Type, match: re.Match[str], body: Any) -> web.Response:
        key = request.path.lower()
        stored = self._settled(key)
        if stored is None:
            return web.Response(status=204)
        if kind.name.startswith("Microsoft.DocumentDB/"):
            busy = self._busy(kind, request.path, stored)
            if busy is not None:
                return busy
        if kind.name == "Microsoft.Cache/redis/accessPolicies":
            if stored.json["properties"].get("type") == "BuiltIn":
                return _error(400, "BadRequest", f"Built-in access policy '{match['name']}' cannot be deleted.")
            # Assumed, not documented: a policy still assigned is not removed from under its users.
            if self._assignments_of(key):
                return _error(409, "Conflict", f"Access policy '{match['name']}' is still assigned.")
        children = [p for p in self.resources if p.startswith(key + "/")]
        if kind.delete_lro is None:
            for path in [key, *children]:
                del self.resources[path]
            return web.json_response(stored.json, status=200)
        done_at = time.monotonic() + self.lro_seconds
        for path in [key, *children]:
            self.resources[path].operation = "Deleting"
            self.resources[path].busy_until = done_at
            _show_state(_KINDS[self.resources[path].type], self.resources[path].json, "Deleting")
        return web.Response(status=202, headers=self._operation(request, key, "delete", done_at, kind.delete_lro))

    # ---- Cosmos DB account actions

    def _action(self, request: web.Request, path: str, body: Any) -> web.Response | None:
        """POST .../databaseAccounts/{name}/listConnectionStrings, listKeys, readonlykeys and regenerateKey; None
        when `path` is no such action."""
        match = _COSMOS_ACTION.search(path)
        if request.method != "POST" or match is None:
            return None
        action = match["action"].lower()
        if action not in ("listconnectionstrings", "listkeys", "readonlykeys", "regeneratekey"):
            return None
        account_path = path[: path.lower().rindex("/")]
        stored = self._settled(account_path.lower())
        if stored is None or stored.operation == "Deleting":
            message = f"The Resource 'Microsoft.DocumentDB/databaseAccounts/{match['name']}' was not found."
            return _error(404, "ResourceNotFound", message)
        keys: dict[str, str] = stored.hidden.setdefault("keys", {kind: _new_key() for kind in _KEY_KINDS})
        if action == "listkeys":
            return web.json_response({_KEY_KINDS[kind]: key for kind, key in keys.items()})
        if action == "readonlykeys":
            return web.json_response(
                {_KEY_KINDS[kind]: keys[kind] for kind in ("primaryReadonly", "secondaryReadonly")}
            )
        if action == "listconnectionstrings":
            return web.json_response({"connectionStrings": self._connection_strings(stored)})
        return self._regenerate_key(request, account_path, stored, body)

    @staticmethod
    def _connection_strings(stored: Stored) -> list[Json]:
        """What listConnectionStrings answers: for a MongoDB account the four Mongo URIs, otherwise the SQL ones."""
        name, keys = stored.json["name"], stored.hidden["keys"]
        mongo = stored.json.get("kind") == "MongoDB"
        answer = []
        for kind, key_kind, label in _CONNECTION_STRINGS:
            if mongo:
                # The key percent-encoded, as the portal shows it (base64 holds "/", "+" and "=").
                password = quote(keys[kind], safe="")
                connection_string = (
                    f"mongodb://{name}:{password}@{name}.mongo.cosmos.azure.com:10255/?ssl=true&replicaSet=globaldb"
                    f"&retrywrites=false&maxIdleTimeMS=120000&appName=@{name}@"
                )
            else:
                connection_string = f"AccountEndpoint=https://{name}.documents.azure.com:443/;AccountKey={keys[kind]};"
            api = "MongoDB" if mongo else "SQL"
            answer.append(
                {
                    "connectionString": connection_string,
                    "description": f"{label} {api} Connection String",
                    "keyKind": key_kind,
                    "type": "MongoDB" if mongo else "Sql",
                }
            )
        return answer

    def _regenerate_key(self, request: web.Request, account_path: str, stored: Stored, body: Any) -> web.Response:
        """A new key of the kind asked for, from the moment the request is accepted; the operation (202, polled
        through Azure-AsyncOperation and Location) holds the account's lock while it runs."""
        kind = _KINDS["Microsoft.DocumentDB/databaseAccounts"]
        requested = str((body or {}).get("keyKind", "")) if isinstance(body, dict) else ""
        key_kind = next((k for k in _KEY_KINDS if k.lower() == requested.lower()), None)
        if key_kind is None:
            message = f"keyKind '{requested}' is invalid: expected one of {', '.join(_KEY_KINDS)}."
            return _error(400, "BadRequest", message)
        busy = self._busy(kind, account_path, stored)
        if busy is not None:
            return busy
        stored.hidden["keys"][key_kind] = _new_key()
        done_at = time.monotonic() + self.lro_seconds
        headers = self._operation(request, account_path + "/regenerateKey", "action", done_at, "both")
        return web.Response(status=202, headers=headers)

    # ---- Service Bus geo-disaster recovery and Redis geo-replication
    #
    # As learn.microsoft.com documents them (service-bus-messaging/service-bus-geo-dr,
    # azure-cache-for-redis/cache-how-to-geo-replication): pairing and geo-replication need Premium on both sides; a
    # pairing replicates the primary's entities (metadata, never messages) to the secondary, which takes no entity
    # writes of its own, and only a new (empty) namespace can join one; partitioned and non-partitioned namespaces do
    # not pair; a failover is sent to the secondary, moves the alias there and breaks the pairing, leaving the old
    # primary with its queues; linked caches are of the same size ("to use geo-failover") and shard count, never zone
    # redundant, one link each, and cannot be deleted while linked. Codes and messages of the refusals are assumed.

    def alias_target(self, alias: str) -> str | None:
        """The namespace `<alias>.servicebus.windows.net` resolves to: the one holding the alias as primary."""
        for stored in list(self.resources.values()):
            properties = stored.json.get("properties", {})
            if (
                stored.type == _DR_CONFIGS
                and stored.json["name"].lower() == alias.lower()
                and properties.get("role") in ("Primary", "PrimaryNotReplicating")
            ):
                return str(stored.json["id"]).rsplit("/disasterRecoveryConfigs/", 1)[0]
        return None

    def _children(self, parent: str, collection: str) -> list[Stored]:
        """The settled resources of `parent`'s `collection` (a namespace's queues, a cache's linked servers)."""
        prefix = f"{parent.lower()}/{collection.lower()}/"
        found = [self._settled(path) for path in list(self.resources) if path.startswith(prefix)]
        direct = [s for s in found if s is not None and "/" not in s.json["id"][len(prefix) :]]
        return [s for s in direct if s.operation != "Deleting"]

    def _alias_of(self, namespace: str) -> Stored | None:
        """The alias a namespace holds, in whichever role."""
        return next(iter(self._children(namespace, "disasterRecoveryConfigs")), None)

    def _geo_recovery_refusal(self, method: str, kind: _Type, match: re.Match[str], body: Any) -> web.Response | None:
        if kind.name == _DR_CONFIGS and method == "PUT" and isinstance(body, dict):
            return self._refuse_pairing(kind, match, body)
        if kind.name == _DR_CONFIGS and method == "DELETE":
            held = self._settled(match.string.lower())
            role = held.json["properties"].get("role") if held is not None else None
            if role == "Primary":
                message = f"Alias '{match['name']}' pairs two namespaces: break the pairing first."
                return _error(409, "Conflict", message)
            if role == "Secondary":
                return _error(409, "Conflict", f"Delete alias '{match['name']}' on its primary namespace.")
        if kind.name == _QUEUES and method in ("PUT", "DELETE"):
            alias = self._alias_of(kind.parent(match))  # type: ignore[misc]
            if alias is not None and alias.json["properties"].get("role") == "Secondary":
                message = "Entity operations are not allowed on the secondary namespace of a geo-recovery pairing."
                return _error(400, "BadRequest", message)
        if kind.name == _NAMESPACES and method == "DELETE" and self._alias_of(match.string) is not None:
            return _error(409, "Conflict", "The namespace has a geo-disaster recovery alias: delete it first.")
        if kind.name == _LINKED_SERVERS and method == "PUT" and isinstance(body, dict):
            return self._refuse_link(kind, match, body)
        if kind.name == _CACHES and method == "DELETE" and self._children(match.string, "linkedServers"):
            message = "A geo-replicated cache cannot be deleted until the caches are unlinked."
            return _error(409, "Conflict", message)
        return None

    def _refuse_pairing(self, kind: _Type, match: re.Match[str], body: Json) -> web.Response | None:
        namespace = self._settled(kind.parent(match).lower())  # type: ignore[misc]
        if namespace is None:
            return None  # the parent check answers
        partner_id = str((body.get("properties") or {}).get("partnerNamespace") or "")
        if namespace.json["sku"]["name"] != "Premium":
            return _error(400, "BadRequest", "Geo-disaster recovery is available for Premium namespaces only.")
        held = self._settled(match.string.lower())
        held_properties = held.json["properties"] if held is not None else {}
        if held_properties.get("role") == "Secondary":
            return _error(409, "Conflict", f"The namespace is the secondary of alias '{match['name']}'.")
        if held_properties.get("role") == "Primary":
            if str(held_properties.get("partnerNamespace", "")).lower() == partner_id.lower():
                return None
            return _error(409, "Conflict", f"Alias '{match['name']}' pairs another namespace: break the pairing first.")
        other = self._alias_of(kind.parent(match))  # type: ignore[misc]
        if other is not None and other.json["name"].lower() != match["name"].lower():
            return _error(409, "Conflict", f"The namespace already has the alias '{other.json['name']}'.")
        partner = self._settled(partner_id.lower()) if partner_id else None
        if partner is None or partner.type != _NAMESPACES:
            return _error(404, "ResourceNotFound", f"The partner namespace '{partner_id}' was not found.")
        if partner.operation is not None:
            return _error(409, "AnotherOperationInProgress", "The partner namespace is being provisioned.")
        if partner.json["id"].lower() == namespace.json["id"].lower():
            return _error(400, "BadRequest", "A namespace cannot be paired with itself.")
        if partner.json["sku"]["name"] != "Premium":
            return _error(400, "BadRequest", "Geo-disaster recovery is available for Premium namespaces only.")
        partitions = [ns.json["properties"].get("premiumMessagingPartitions", 1) for ns in (namespace, partner)]
        if len(set(partitions)) > 1:
            message = "Pairing a partitioned namespace with a non-partitioned namespace isn't supported."
            return _error(400, "BadRequest", message)
        if self._alias_of(partner.json["id"]) is not None:
            return _error(409, "Conflict", "The partner namespace is already part of a geo-disaster recovery pairing.")
        if self._children(partner.json["id"], "queues"):
            message = "The secondary namespace must be empty: only a new namespace can join a pairing."
            return _error(400, "BadRequest", message)
        pair = {namespace.json["id"].lower(), partner.json["id"].lower()}
        for stored in list(self.resources.values()):
            owner = str(stored.json.get("id", "")).rsplit("/disasterRecoveryConfigs/", 1)[0].lower()
            named = stored.json.get("name", "").lower() == match["name"].lower()
            if named and (stored.type == _NAMESPACES or (stored.type == _DR_CONFIGS and owner not in pair)):
                return _error(409, "Conflict", f"The alias name '{match['name']}' is already in use.")
        return None

    def _refuse_link(self, kind: _Type, match: re.Match[str], body: Json) -> web.Response | None:
        cache = self._settled(kind.parent(match).lower())  # type: ignore[misc]
        if cache is None:
            return None  # the parent check answers
        properties = body.get("properties") or {}
        linked_id = str(properties.get("linkedRedisCacheId") or "")
        other = self._settled(linked_id.lower()) if linked_id else None
        if other is None or other.type != _CACHES:
            return _error(404, "ResourceNotFound", f"The linked cache '{linked_id}' was not found.")
        held = self._settled(match.string.lower())
        if held is not None and str(held.json["properties"].get("linkedRedisCacheId", "")).lower() == linked_id.lower():
            return None
        if match["name"].lower() != other.json["name"].lower():
            return _error(400, "BadRequest", "The linked server's name must be the linked cache's name.")
        if other.operation is not None or cache.operation is not None:
            return _error(409, "Conflict", "Both caches must be created and running.")
        if properties.get("serverRole") != "Secondary" or not properties.get("linkedRedisCacheLocation"):
            return _error(400, "BadRequest", "serverRole Secondary and linkedRedisCacheLocation are required.")
        both = [c.json for c in (cache, other)]
        if any(c["properties"]["sku"]["name"] != "Premium" for c in both):
            return _error(400, "BadRequest", "Geo-replication is available for Premium caches only.")
        sizes = {(c["properties"]["sku"]["capacity"], c["properties"].get("shardCount")) for c in both}
        if len(sizes) > 1:
            message = "Geo-replicated caches must be the same size with the same number of shards."
            return _error(400, "BadRequest", message)
        if any(c.get("zones") for c in both):
            return _error(400, "BadRequest", "Zone Redundancy isn't supported with geo-replication.")
        if self._children(cache.json["id"], "linkedServers") or self._children(other.json["id"], "linkedServers"):
            return _error(409, "Conflict", "A cache takes part in one geo-replication link only.")
        return None

    def _geo_recovery_follows(self, method: str, kind: _Type, match: re.Match[str]) -> None:
        """What Azure does beyond the request itself: the pairing and the secondary's replicated entities, the other
        cache's side of a link."""
        if kind.name == _DR_CONFIGS and method == "PUT":
            self._pair(kind, match)
        elif kind.name == _QUEUES:
            alias = self._alias_of(kind.parent(match))  # type: ignore[misc]
            properties = alias.json["properties"] if alias is not None else {}
            if properties.get("role") == "Primary":
                self._replicate(match.string, str(properties["partnerNamespace"]), deleted=method == "DELETE")
        elif kind.name == _LINKED_SERVERS:
            self._link_other_side(kind, match, deleted=method == "DELETE")

    def _pair(self, kind: _Type, match: re.Match[str]) -> None:
        primary = self.resources[match.string.lower()]
        namespace = kind.parent(match)  # type: ignore[misc]
        partner = str(primary.json["properties"]["partnerNamespace"])
        mirror = f"{partner}/disasterRecoveryConfigs/{match['name']}"
        if mirror.lower() in self.resources:
            return
        properties = {"role": "Secondary", "partnerNamespace": namespace, "pendingReplicationOperationsCount": 0}
        document = {"id": mirror, "name": match["name"], "type": _DR_CONFIGS, "properties": properties}
        _show_state(_KINDS[_DR_CONFIGS], document, primary.operation or "Succeeded")
        self.resources[mirror.lower()] = Stored(
            _DR_CONFIGS, document, busy_until=primary.busy_until, operation=primary.operation
        )
        for queue in self._children(namespace, "queues"):
            self._replicate(queue.json["id"], partner, deleted=False)

    def _replicate(self, queue: str, partner: str, *, deleted: bool) -> None:
        """A primary's queue written to (or removed from) its secondary: settings only, the messages stay."""
        replica = f"{partner}/queues/{queue.rsplit('/', 1)[-1]}"
        if deleted:
            for path in [p for p in self.resources if p == replica.lower() or p.startswith(replica.lower() + "/")]:
                del self.resources[path]
            return
        source = self.resources[queue.lower()]
        document = copy.deepcopy(source.json)
        document["id"] = replica
        self.resources[replica.lower()] = Stored(_QUEUES, document)

    def _link_other_side(self, kind: _Type, match: re.Match[str], *, deleted: bool) -> None:
        link = self.resources.get(match.string.lower())
        if link is None:
            return
        cache = kind.parent(match)  # type: ignore[misc]
        other = str(link.json["properties"]["linkedRedisCacheId"])
        mirror = f"{other}/linkedServers/{match['parent']}"
        if deleted:
            twin = self.resources.get(mirror.lower())
            if twin is not None:
                twin.operation, twin.busy_until = "Deleting", link.busy_until
            return
        if mirror.lower() in self.resources:
            return
        location = self.resources[cache.lower()].json.get("location")
        properties = {
            **_linked_server(self, match, {}, None),
            "linkedRedisCacheId": cache,
            "linkedRedisCacheLocation": location,
            "serverRole": "Primary",
        }
        document = {"id": mirror, "name": match["parent"], "type": _LINKED_SERVERS, "properties": properties}
        _show_state(_KINDS[_LINKED_SERVERS], document, link.operation or "Succeeded")
        self.resources[mirror.lower()] = Stored(
            _LINKED_SERVERS, document, busy_until=link.busy_until, operation=link.operation
        )

    def _geo_recovery_action(self, request: web.Request, path: str) -> web.Response | None:
        """POST .../disasterRecoveryConfigs/{alias}/failover (on the secondary) and /breakPairing (on the primary);
        None when `path` is no such action. Both answer 200 at once: the pairing is broken when they return."""
        match = _DR_ACTION.search(path)
        if request.method != "POST" or match is None:
            return None
        alias = self._settled(path[: path.lower().rindex("/")].lower())
        if alias is None:
            return _error(404, "ResourceNotFound", f"The alias '{match['alias']}' was not found.")
        properties = alias.json["properties"]
        action, role = match["action"].lower(), properties.get("role")
        if action == "failover" and role != "Secondary":
            return _error(400, "BadRequest", "A failover is started on the secondary namespace of the alias.")
        if action == "breakpairing" and role != "Primary":
            return _error(400, "BadRequest", "Breaking the pairing is started on the primary namespace of the alias.")
        partner = f"{properties['partnerNamespace']}/disasterRecoveryConfigs/{match['alias']}"
        self.resources.pop(partner.lower(), None)
        properties.update(role="PrimaryNotReplicating", partnerNamespace="")
        return web.Response(status=200)
