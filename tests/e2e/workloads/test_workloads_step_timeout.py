"""A step whose service is down times out: the command goes again, then the delivery fails and is undone."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from fabrikam.devcluster.localstack import Stack

from .conftest import STACK_ENV, drones, post_deliveries, seed, wait_until_settled, workflows

SHORT_STEPS = {"FABRIKAM_WORKFLOW_STEP_TIMEOUT_SECONDS": "1", "FABRIKAM_WORKFLOW_STEP_ATTEMPTS": "2"}


@pytest.fixture
def short_step_stack(tmp_path: Path) -> Iterator[Stack]:
    local = Stack(tmp_path, {**STACK_ENV, **SHORT_STEPS})
    try:
        local.start()
        yield local
    finally:
        local.stop()


async def test_package_service_down_fails_the_delivery_undone_then_deliveries_complete_again(
    short_step_stack: Stack,
) -> None:
    stack = short_step_stack
    seed(stack, 5)
    workflow_url = stack.services["workflow"].url
    package = stack.services["package"]
    package.process.stop()

    [lost] = await post_deliveries(stack.services["ingestion"].url, 1)
    views = await wait_until_settled(workflow_url, [lost], within=60)
    assert views[lost]["stage"] == "failed"
    assert views[lost]["reason"] == "timed out: no answer to CreatePackage after 2 attempts"
    store = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    sent = [fields["id"] for _, fields in store.xrange("queue:package-commands")]
    assert sent == [f"CreatePackage:{lost}", f"CreatePackage:{lost}:attempt2", f"CancelPackage:{lost}"]

    package.start()
    package.wait_ready()
    async with httpx.AsyncClient(base_url=package.url, timeout=10) as client:
        for _ in range(200):
            record = (await client.get(f"/v1/packages/package-{lost}")).json()
            if record.get("status") == "cancelled" and store.xlen("queue:package-commands") == 0:
                break
            await asyncio.sleep(0.1)
    assert record["status"] == "cancelled"  # the creates that came late did not revive the undone package
    assert store.xlen("queue:package-commands") == 0
    assert (await workflows(workflow_url, [lost]))[lost]["stage"] == "failed"  # late replies change nothing

    [served] = await post_deliveries(stack.services["ingestion"].url, 1)
    views = await wait_until_settled(workflow_url, [served], within=60)
    assert (views[served]["stage"], views[served]["stepAttempt"]) == ("scheduled", 0)
    assert sorted(drone["status"] for drone in await drones(stack)) == ["assigned", *["available"] * 4]
    assert {key: store.xlen(key) for key in store.scan_iter("queue:*:deadletter") if store.xlen(key)} == {}
    assert store.zcard("workflow:step-deadlines") == 0
    store.close()
