"""Packages in a MongoDB collection through pymongo's async client; every write is one atomic operation."""

from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from fabrikam.workloads.contracts import Contract, CreatePackage, PackageSize
from fabrikam.workloads.package.inserts import TurnInserts


class PackageRecord(Contract):
    id: str
    delivery_id: str
    size: PackageSize | None = None
    weight_kg: float | None = None
    tag: str | None = None
    status: str


def _record(document: dict[str, Any]) -> PackageRecord:
    return PackageRecord(
        id=document["_id"],
        delivery_id=document["deliveryId"],
        size=document.get("size"),
        weight_kg=document.get("weightKg"),
        tag=document.get("tag"),
        status=document["status"],
    )


class PackageStore:
    """A cancel that overtakes the create leaves a cancelled record, so the late create cannot revive it."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        self._database = client[database]
        self._packages = self._database["packages"]
        self._inserts = TurnInserts(self._packages)

    async def prepare(self, shard_on_tag: bool) -> None:
        """On Cosmos DB, create the collection with `tag` as its shard key (idempotent)."""
        if not shard_on_tag:
            return
        try:
            await self._database.command(
                {"customAction": "CreateCollection", "collection": "packages", "shardKey": "tag"}
            )
        except OperationFailure as error:
            if "already exists" not in str(error).lower():
                raise

    async def create(self, command: CreatePackage) -> PackageRecord:
        """Insert once; a repeated create returns the stored record unchanged (a plain insert is the
        cheapest write on every MongoDB-API server; the duplicate key tells us it already exists).
        Concurrent creates share one `insert_many` (`inserts.py`)."""
        document = {
            "_id": command.package_id,
            "deliveryId": command.delivery_id,
            "size": command.package.size.value,
            "weightKg": command.package.weight_kg,
            "tag": command.package.tag,
            "status": "created",
            "createdAt": datetime.now(UTC),
        }
        if not await self._inserts.insert(document):
            stored = await self._packages.find_one({"_id": command.package_id})
            assert stored is not None
            return _record(stored)
        return _record(document)

    async def cancel(self, package_id: str, delivery_id: str) -> None:
        await self._packages.update_one(
            {"_id": package_id},
            {"$set": {"status": "cancelled"}, "$setOnInsert": {"deliveryId": delivery_id}},
            upsert=True,
        )

    async def get(self, package_id: str) -> PackageRecord | None:
        document = await self._packages.find_one({"_id": package_id})
        return _record(document) if document else None

    async def ping(self) -> None:
        await self._database.command("ping")
