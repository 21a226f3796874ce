"""Wires the package service: MongoDB store, its API and the package-commands queue."""

from typing import Any

from pymongo import AsyncMongoClient

from fabrikam.workloads.contracts import PACKAGE_COMMANDS
from fabrikam.workloads.kit.auth import Auth, TokenVerifier, protected
from fabrikam.workloads.kit.requirements import Need
from fabrikam.workloads.kit.service import Runtime, ServiceParts
from fabrikam.workloads.package import api
from fabrikam.workloads.package.handlers import PackageHandlers
from fabrikam.workloads.package.store import PackageStore

NEEDS = (Need.MONGO,)


def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    timeout_ms = int(settings.outbound_timeout_seconds * 1000)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_connection_url(),
        maxPoolSize=settings.pool_size,
        waitQueueTimeoutMS=int(settings.pool_wait_seconds * 1000),
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
        retryWrites=False,
    )
    store = PackageStore(client, settings.mongo_database)
    auth = Auth(TokenVerifier.from_settings(settings))

    async def prepare() -> None:
        await store.prepare(settings.mongo_cosmos_shard_on_tag)

    async def close() -> None:
        await client.close()
        await auth.close()

    return ServiceParts(
        title="Fabrikam package",
        routers=[protected(auth, api.router(store))],
        consumers={PACKAGE_COMMANDS: PackageHandlers(store, runtime.broker).handlers()},
        readiness={"mongo": store.ping},
        on_start=[prepare],
        on_stop=[close],
    )
