"""The package store against FerretDB, a real MongoDB-wire server (SQLite backend)."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from fabrikam.workloads.contracts import CreatePackage, PackageInfo, PackageSize
from fabrikam.workloads.localstack import FerretDB
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
