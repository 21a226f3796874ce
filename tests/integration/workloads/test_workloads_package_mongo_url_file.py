"""The package service as its pods run it in Azure: the MongoDB connection string comes from a file (the Cosmos DB
account's, key included, which the operator keeps in Key Vault and the CSI driver mounts), named by
FABRIKAM_MONGO_URL_FILE. Here the file holds FerretDB's URL."""

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import FerretDB, RedisServer, Service
from fabrikam.workloads.contracts import PACKAGE_COMMANDS, CreatePackage, PackageInfo, PackageSize
from fabrikam.workloads.kit.messaging.message import outgoing

from .conftest import eventually, make_broker


def mounted(directory: Path, content: str) -> Path:
    """The file as the CSI driver writes a Key Vault secret's value (with a trailing newline, as some do)."""
    directory.mkdir()
    (directory / "mongo-url").write_text(content + "\n")
    return directory / "mongo-url"


async def test_the_package_service_stores_packages_in_the_database_the_file_names(
    ferretdb: FerretDB, redis_server: RedisServer, redis: Redis, tmp_path: Path
) -> None:
    database = f"packages{uuid.uuid4().hex[:8]}"
    env = {
        "FABRIKAM_REDIS_URL": redis_server.url,
        "FABRIKAM_MONGO_URL_FILE": str(mounted(tmp_path / "secrets", ferretdb.url)),
        "FABRIKAM_MONGO_DATABASE": database,
    }
    service = Service("package", tmp_path / "logs", env)
    service.start()
    try:
        await asyncio.to_thread(service.wait_ready)
        command = CreatePackage(
            package_id="p-file",
            delivery_id="d-file",
            package=PackageInfo(size=PackageSize.small, weight_kg=1.5, tag="from-file"),
        )
        await make_broker(redis).publish(PACKAGE_COMMANDS, outgoing("CreatePackage:d-file", command))
        async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:

            async def package_created() -> bool:
                return (await client.get("/v1/packages/p-file")).status_code == 200

            await eventually(package_created)
            record = (await client.get("/v1/packages/p-file")).json()
    finally:
        service.process.stop()
    assert (record["status"], record["tag"]) == ("created", "from-file")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ferretdb.url, serverSelectionTimeoutMS=10_000)
    try:
        stored = await mongo[database]["packages"].find_one({"_id": "p-file"})
    finally:
        await mongo.close()
    assert stored is not None
    assert stored["tag"] == "from-file"


async def test_a_file_that_is_not_there_leaves_the_service_live_but_unready_naming_the_variable(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    absent = tmp_path / "secrets" / "mongo-url"
    env = {"FABRIKAM_REDIS_URL": redis_server.url, "FABRIKAM_MONGO_URL_FILE": str(absent)}
    service = Service("package", tmp_path / "logs", env)
    service.start()
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
            for _ in range(400):
                try:
                    live = await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            ready = await client.get("/readyz")
    finally:
        service.process.stop()
    assert live.status_code == 200
    assert (ready.status_code, ready.json()["failing"]) == (
        503,
        {"mongo": f"not configured: no file {absent} (FABRIKAM_MONGO_URL_FILE)"},
    )
