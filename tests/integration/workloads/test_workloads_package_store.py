"""The package store against FerretDB, a real MongoDB-wire server (SQLite backend)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from fabrikam.devcluster.localstack import FerretDB
from fabrikam.workloads.contracts import CreatePackage, PackageInfo, PackageSize
from fabrikam.workloads.package.store import PackageStore


@pytest.fixture
async def store(ferretdb: FerretDB) -> AsyncIterator[PackageStore]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ferretdb.url, serverSelectionTimeoutMS=10_000)
    yield PackageStore(client, f"test{uuid.uuid4().hex[:8]}")
    await client.close()


def create(package_id: str) -> CreatePackage:
    return CreatePackage(
        package_id=package_id,
        delivery_id=f"delivery-{package_id}",
        package=PackageInfo(size=PackageSize.large, weight_kg=12.5, tag="cold-chain"),
    )


async def test_create_is_idempotent_and_readable(store: PackageStore) -> None:
    await store.ping()
    first = await store.create(create("p-1"))
    second = await store.create(create("p-1"))
    assert first == second
    assert (first.size, first.weight_kg, first.tag, first.status) == (PackageSize.large, 12.5, "cold-chain", "created")
    assert await store.get("p-1") == first
    assert await store.get("p-unknown") is None


async def test_a_cancel_that_overtakes_the_create_keeps_the_package_cancelled(store: PackageStore) -> None:
    await store.cancel("p-2", "delivery-p-2")
    late = await store.create(create("p-2"))
    assert late.status == "cancelled"


async def test_cancel_after_create_marks_it_cancelled(store: PackageStore) -> None:
    await store.create(create("p-3"))
    await store.cancel("p-3", "delivery-p-3")
    stored = await store.get("p-3")
    assert stored is not None
    assert (stored.status, stored.tag) == ("cancelled", "cold-chain")


async def test_concurrent_creates_share_one_insert_and_each_gets_its_own_record(store: PackageStore) -> None:
    await store.cancel("p-c3", "delivery-p-c3")
    await store.create(create("p-c5"))
    ids = [f"p-c{index}" for index in range(12)] + ["p-c7"]  # p-c7 twice in the same turn
    records = await asyncio.gather(*(store.create(create(package_id)) for package_id in ids))
    assert [record.id for record in records] == ids
    statuses = {record.id: record.status for record in records}
    assert statuses == {package_id: "cancelled" if package_id == "p-c3" else "created" for package_id in ids}
    assert records[7] == records[-1]
    for package_id in ids:
        assert await store.get(package_id) is not None
