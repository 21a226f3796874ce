"""The local stack for end-to-end tests: redis-server, FerretDB and the five services as processes."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabrikam.devcluster.localstack import Stack, seed_fleet

STACK_ENV = {
    "FABRIKAM_LOCK_SECONDS": "2",
    "FABRIKAM_RATE_LIMIT_PER_SECOND": "100000",
    "FABRIKAM_RATE_LIMIT_BURST": "100000",
    "FABRIKAM_SHUTDOWN_GRACE_SECONDS": "2",
}
FINAL = {"scheduled", "completed", "cancelled", "failed"}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    local = Stack(tmp_path, STACK_ENV)
    try:
        local.start()
        yield local
    finally:
        local.stop()


def seed(stack: Stack, drones: int) -> None:
    seed_fleet(stack.services["scheduler"].url, drones)


def delivery_body(index: int, **changes: Any) -> dict[str, Any]:
    return {
        "owner": f"owner-{index % 7}",
        "pickup": {"latitude": 47.606 + (index % 10) * 0.001, "longitude": -122.332, "address": f"{index} Pike St"},
        "dropoff": {"latitude": 47.62, "longitude": -122.35, "address": "2 Pine St"},
        "pickupTime": "2030-01-01T10:00:00Z",
        "deadline": "2030-01-01T12:00:00Z",
        "package": {"size": "small", "weightKg": 1.0, "tag": f"tag-{index % 5}"},
        **changes,
    }


async def post_deliveries(ingestion_url: str, count: int, concurrency: int = 16) -> list[str]:
    """POST `count` deliveries; every one must be accepted. Returns their ids."""
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=ingestion_url, timeout=30) as client:

        async def one(index: int) -> str:
            async with gate:
                response = await client.post("/v1/deliveryrequests", json=delivery_body(index))
            assert response.status_code == 202, response.text
            return str(response.json()["deliveryId"])

        return list(await asyncio.gather(*(one(index) for index in range(count))))


async def workflows(workflow_url: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The saga view of each delivery (absent ids are missing from the result)."""
    gate = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=workflow_url, timeout=30) as client:

        async def one(delivery_id: str) -> tuple[str, dict[str, Any] | None]:
            async with gate:
                response = await client.get(f"/v1/workflows/{delivery_id}")
            return delivery_id, response.json() if response.status_code == 200 else None

        pairs = await asyncio.gather(*(one(delivery_id) for delivery_id in ids))
    return {delivery_id: view for delivery_id, view in pairs if view is not None}


async def wait_until_settled(
    workflow_url: str, ids: list[str], within: float = 120.0, settled: frozenset[str] = frozenset(FINAL)
) -> dict[str, dict[str, Any]]:
    """Poll until every saga reached one of `settled`; fail naming the stragglers at the deadline."""
    deadline = time.monotonic() + within
    views: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        views = await workflows(workflow_url, ids)
        if len(views) == len(ids) and all(view["stage"] in settled for view in views.values()):
            return views
        await asyncio.sleep(0.5)
    stragglers = {
        i: views.get(i, {}).get("stage", "missing") for i in ids if views.get(i, {}).get("stage") not in settled
    }
    raise AssertionError(f"{len(stragglers)} deliveries not settled: {dict(list(stragglers.items())[:10])}")


async def get_json(url: str) -> Any:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.json()


async def drones(stack: Stack) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = await get_json(f"{stack.services['scheduler'].url}/v1/drones?limit=1000")
    return listed


async def scheduled_event_counts(stack: Stack, ids: list[str]) -> dict[str, int]:
    """How many times each delivery was scheduled according to its tracking history."""
    url = stack.services["delivery"].url
    counts = {}
    for delivery_id in ids:
        events = await get_json(f"{url}/v1/deliveries/{delivery_id}/events")
        counts[delivery_id] = sum(1 for event in events if event["kind"] == "scheduled")
    return counts
