"""How each kind of resource is read, written and deleted through its azure-mgmt `.aio` client.

Bodies go out as the exact ARM JSON of `desired.py` and come back as ARM JSON (the SDKs' documented `cls` hook),
so one drift check and one set of tests cover every kind. Long-running operations are awaited on the event loop;
the reconciler bounds how long.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import IO, Any, Protocol, cast

from fabrikam.operator.azure.clients import AzureClients
from fabrikam.operator.azure.desired import DesiredResource, Kind

Json = dict[str, Any]


def _raw(pipeline_response: Any, _deserialized: Any, _headers: Any) -> Json:
    # `text()` exists on both the legacy (msrest-era SDKs) and the new azure-core response types; `json()` does not.
    text = pipeline_response.http_response.text()
    return cast(Json, json.loads(text)) if text else {}


def _body(res: DesiredResource) -> IO[bytes]:
    # Seekable, so azure-core's retry policy can rewind and resend it after a 429 or 5xx.
    return io.BytesIO(json.dumps(res.body).encode())


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


class _NoEndpoint:
    def endpoint(self, actual: Json) -> str | None:
        return None

    def outputs(self, actual: Json) -> dict[str, str]:
        return {}


class ServiceBusNamespaces:
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.servicebus.namespaces

    async def get(self, res: DesiredResource) -> Json:
        return cast(Json, await self.ops.get(res.resource_group, res.name, cls=_raw))

    async def put(self, res: DesiredResource) -> Json:
        poller = await self.ops.begin_create_or_update(
            res.resource_group, res.name, _body(res), content_type="application/json", cls=_raw
        )
        return cast(Json, await poller.result())

    async def delete(self, res: DesiredResource) -> None:
        await (await self.ops.begin_delete(res.resource_group, res.name)).result()

    def endpoint(self, actual: Json) -> str | None:
        return cast(str | None, actual.get("properties", {}).get("serviceBusEndpoint"))

    def outputs(self, actual: Json) -> dict[str, str]:
        return {}


class ServiceBusQueues(_NoEndpoint):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.servicebus.queues

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


class RedisCaches:
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.redis.redis

    async def get(self, res: DesiredResource) -> Json:
        return cast(Json, await self.ops.get(res.resource_group, res.name, cls=_raw))

    async def put(self, res: DesiredResource) -> Json:
        poller = await self.ops.begin_create(
            res.resource_group, res.name, _body(res), content_type="application/json", cls=_raw
        )
        return cast(Json, await poller.result())

    async def delete(self, res: DesiredResource) -> None:
        await (await self.ops.begin_delete(res.resource_group, res.name)).result()

    def endpoint(self, actual: Json) -> str | None:
        properties = actual.get("properties", {})
        host, port = properties.get("hostName"), properties.get("sslPort")
        return f"{host}:{port}" if host and port else host

    def outputs(self, actual: Json) -> dict[str, str]:
        return {}


class RedisAccessPolicyAssignments(_NoEndpoint):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.redis.access_policy_assignment

    async def get(self, res: DesiredResource) -> Json:
        return cast(Json, await self.ops.get(res.resource_group, _parent(res), res.name, cls=_raw))

    async def put(self, res: DesiredResource) -> Json:
        poller = await self.ops.begin_create_update(
            res.resource_group, _parent(res), res.name, _body(res), content_type="application/json", cls=_raw
        )
        return cast(Json, await poller.result())

    async def delete(self, res: DesiredResource) -> None:
        await (await self.ops.begin_delete(res.resource_group, _parent(res), res.name)).result()


class Identities(_NoEndpoint):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.msi.user_assigned_identities

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

    def outputs(self, actual: Json) -> dict[str, str]:
        properties = actual.get("properties", {})
        return {key: str(properties[key]) for key in ("clientId", "principalId", "tenantId") if properties.get(key)}


class FederatedCredentials(_NoEndpoint):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.msi.federated_identity_credentials

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


class RoleAssignments(_NoEndpoint):
    def __init__(self, clients: AzureClients) -> None:
        self.ops = clients.authorization.role_assignments

    @staticmethod
    def _scope(res: DesiredResource) -> str:
        if res.scope is None:
            raise ValueError(f"role assignment {res.name} needs a scope")
        return res.scope

    async def get(self, res: DesiredResource) -> Json:
        return cast(Json, await self.ops.get(self._scope(res), res.name, cls=_raw))

    async def put(self, res: DesiredResource) -> Json:
        return cast(
            Json,
            await self.ops.create(self._scope(res), res.name, _body(res), content_type="application/json", cls=_raw),
        )

    async def delete(self, res: DesiredResource) -> None:
        await self.ops.delete(self._scope(res), res.name)


_ADAPTERS: dict[Kind, Callable[[AzureClients], Adapter]] = {
    Kind.SERVICE_BUS_NAMESPACE: ServiceBusNamespaces,
    Kind.SERVICE_BUS_QUEUE: ServiceBusQueues,
    Kind.REDIS_CACHE: RedisCaches,
    Kind.REDIS_ACCESS_POLICY_ASSIGNMENT: RedisAccessPolicyAssignments,
    Kind.IDENTITY: Identities,
    Kind.FEDERATED_CREDENTIAL: FederatedCredentials,
    Kind.ROLE_ASSIGNMENT: RoleAssignments,
}


def adapter(clients: AzureClients, kind: Kind) -> Adapter:
    return _ADAPTERS[kind](clients)
