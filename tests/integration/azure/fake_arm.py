"""A fake Azure Resource Manager: a real HTTPS server speaking the REST shapes the installed azure-mgmt SDKs use.

It keeps resources in memory, runs long-running operations on a clock (Azure-AsyncOperation, Location and
provisioningState polling, as the real resource providers do), validates what ARM would reject (missing parent,
duplicate role assignment, partitioned queue in an unpartitioned Premium namespace, a Redis access policy assignment
naming a policy the cache does not hold, ...), injects faults on demand, and records every request so tests assert
on exactly what Azure received.
"""

from __future__ import annotations

import asyncio
import copy
import math
import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "fake-arm-token"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
_DISPLAY_LOCATIONS = {"westus2": "West US 2", "eastus": "East US", "westeurope": "West Europe"}
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
    put_lro: str | None = None  # "async-operation", "body" or None (synchronous)
    delete_lro: str | None = None  # "async-operation", "location" or None
    parent: Callable[[re.Match[str]], str] | None = None
    # Service Bus answers a new queue with 200, not 201 (and its SDK accepts only 200).
    created_status: int = 201
    # provisioningState while a PUT of a new resource runs; Redis data access knows only "Updating".
    creating: str = "Creating"
    computed: Callable[[FakeArm, re.Match[str], Json, Json | None], Json] = field(default=lambda arm, m, body, old: {})


_RG = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers"


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
    ),
]


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


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

    # ---- state

    def _settled(self, key: str) -> Stored | None:
        stored = self.resources.get(key)
        if stored is None or stored.operation is None or time.monotonic() < stored.busy_until:
            return stored
        if stored.operation == "Deleting":
            del self.resources[key]
            return None
        stored.operation = None
        stored.json.setdefault("properties", {})["provisioningState"] = stored.outcome
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
        if style == "async-operation":
            return {"Azure-AsyncOperation": f"{base}/fake/operations/{op}?api-version=2024-01-01"}
        return {"Location": f"{base}/fake/locations/{op}?api-version=2024-01-01"}

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
        for kind in TYPES:
            match = kind.pattern.search(path)
            if match is not None:
                handler = {"GET": self._get, "PUT": self._put, "PATCH": self._patch, "DELETE": self._delete}.get(
                    request.method
                )
                if handler is None:
                    return _error(405, "MethodNotAllowed", f"{request.method} is not supported")
                return await handler(request, kind, match, body)
        return _error(404, "InvalidResourceType", f"no resource type matches {path}")

    def _list(self, method: str, path: str, query_filter: str) -> web.Response | None:
        """The collection GETs the operator uses: role assignments for a scope (at, above and below it, filtered by
        principal as ARM does), a cache's access policies (built-in ones too) and their assignments, and a
        namespace's queues. None when `path` is no such collection."""
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
            r"(cache/redis/[^/]+/accesspolic(ies|yassignments)|servicebus/namespaces/[^/]+/queues)$",
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
        if operation.kind == "delete":
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
        if old is not None and old.operation is not None:
            return _error(409, "AnotherOperationInProgress", f"An operation ({old.operation}) is in progress.")
        rejection = self._reject(kind, match, body)
        if rejection is not None:
            return rejection
        document: Json = copy.deepcopy(body)
        document.update(id=request.path, name=match["name"], type=kind.name)
        if "location" in document:
            document["location"] = _DISPLAY_LOCATIONS.get(document["location"], document["location"])
        properties = document.setdefault("properties", {})
        properties.update(kind.computed(self, match, body, old.json if old else None))
        if kind.name == "Microsoft.Authorization/roleAssignments":
            properties["scope"] = match["scope"]
        status = 200 if old is not None else kind.created_status
        if kind.put_lro is None:
            if kind.name != "Microsoft.Authorization/roleAssignments":
                properties["provisioningState"] = "Succeeded"
            self.resources[key] = Stored(kind.name, document)
            return web.json_response(document, status=status)
        operation = "Updating" if old is not None else kind.creating
        properties["provisioningState"] = operation
        done_at = time.monotonic() + self.lro_seconds
        error = self._operation_error(request.path)
        outcome = "Failed" if error is not None else "Succeeded"
        self.resources[key] = Stored(kind.name, document, busy_until=done_at, operation=operation, outcome=outcome)
        if kind.name == "Microsoft.Cache/redis" and old is None:
            self._seed_built_in_policies(request.path)
        headers = self._operation(request, key, "put", done_at, kind.put_lro, error) if kind.put_lro != "body" else {}
        return web.json_response(document, status=status, headers=headers)

    async def _patch(self, request: web.Request, kind: _Type, match: re.Match[str], body: Any) -> web.Response:
        """A cache's update operation (REST spec 2024-11-01, Redis_Update): RedisUpdateParameters (tags, properties,
        identity) merged into the existing cache, redisConfiguration key by key; 202 with the cache Updating and a
        Location to poll (final-state-via location). Only Redis is changed by PATCH here: the operator PUTs the rest."""
        if kind.name != "Microsoft.Cache/redis":
            return _error(405, "MethodNotAllowed", f"PATCH is not supported for {kind.name}")
        if not isinstance(body, dict):
            return _error(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        key = request.path.lower()
        stored = self._settled(key)
        if stored is None:
            return _error(404, "ResourceNotFound", f"The Resource '{kind.name}/{match['name']}' was not found.")
        if stored.operation is not None:
            return _error(409, "AnotherOperationInProgress", f"An operation ({stored.operation}) is in progress.")
        # Assumed, not documented: what the update operation has no field for (zones, location) is refused, not
        # silently ignored, so a test sees the operator send it.
        unknown = sorted(set(body) - {"tags", "properties", "identity"})
        if unknown:
            return _error(400, "BadRequest", f"The update operation does not take {', '.join(unknown)}.")
        document = copy.deepcopy(stored.json)
        document.update({name: copy.deepcopy(body[name]) for name in ("tags", "identity") if name in body})
        properties = document.setdefault("properties", {})
        for name, value in body.get("properties", {}).items():
            merged = {**properties.get(name, {}), **value} if name == "redisConfiguration" else value
            properties[name] = copy.deepcopy(merged)
        properties.update(kind.computed(self, match, document, stored.json))
        properties["provisioningState"] = "Updating"
        done_at = time.monotonic() + self.lro_seconds
        self.resources[key] = Stored(kind.name, document, busy_until=done_at, operation="Updating")
        headers = self._operation(request, key, "put", done_at, "location")
        return web.json_response(document, status=202, headers=headers)

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
            self.resources[path].json.setdefault("properties", {})["provisioningState"] = "Deleting"
        return web.Response(status=202, headers=self._operation(request, key, "delete", done_at, kind.delete_lro))
