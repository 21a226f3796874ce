"""Faults on the local stack: the workflow SIGKILLed mid-run, Redis killed and restarted mid-run."""

import asyncio
from collections import Counter

import httpx
import redis

from fabrikam.devcluster.localstack import Stack

from .conftest import (
    delivery_body,
    drones,
    post_deliveries,
    scheduled_event_counts,
    seed,
    wait_until_settled,
    workflows,
)


async def test_workflow_sigkilled_mid_run_completes_every_delivery_exactly_once(stack: Stack) -> None:
    seed(stack, 250)
    workflow = stack.services["workflow"]
    ids = await post_deliveries(stack.services["ingestion"].url, 200)
    for _ in range(600):  # kill once the run is under way, not before and not after
        stages = Counter(view["stage"] for view in (await workflows(workflow.url, ids)).values())
        if stages["scheduled"] >= 10:
            break
        await asyncio.sleep(0.05)
    workflow.process.kill()
    workflow.start()
    workflow.wait_ready()
    views = await wait_until_settled(workflow.url, ids, within=180)
    assert Counter(view["stage"] for view in views.values()) == {"scheduled": 200}
    assert len({view["droneId"] for view in views.values()}) == 200
    fleet = await drones(stack)
    assert Counter(drone["status"] for drone in fleet) == {"assigned": 200, "available": 50}
    assert set((await scheduled_event_counts(stack, ids)).values()) == {1}
    assert dead_letters(stack) == {}


async def test_redis_killed_and_restarted_mid_run_loses_nothing_accepted(stack: Stack) -> None:
    seed(stack, 300)
    ingestion = stack.services["ingestion"].url
    accepted: list[str] = []
    refused: Counter[int] = Counter()
    under_way = asyncio.Event()
    pid_before = stack.redis.process.pid

    async def keep_posting(count: int) -> None:
        async with httpx.AsyncClient(base_url=ingestion, timeout=30) as client:
            for index in range(count):
                response = await client.post("/v1/deliveryrequests", json=delivery_body(index))
                if response.status_code == 202:
                    accepted.append(response.json()["deliveryId"])
                    if len(accepted) >= 40:
                        under_way.set()
                else:
                    refused[response.status_code] += 1
                await asyncio.sleep(0.01)

    async def restart_redis() -> None:
        await under_way.wait()
        stack.redis.process.kill()  # SIGKILL: no shutdown save; the fsync-always AOF is all there is
        await asyncio.sleep(1.0)
        await asyncio.to_thread(stack.redis.start)

    await asyncio.gather(*(keep_posting(70) for _ in range(4)), restart_redis())
    assert len(accepted) >= 40
    assert stack.redis.process.pid != pid_before
    assert set(refused) <= {503}
    views = await wait_until_settled(stack.services["workflow"].url, accepted, within=180)
    assert Counter(view["stage"] for view in views.values()) == {"scheduled": len(accepted)}
    for service in stack.services.values():
        async with httpx.AsyncClient(timeout=30) as client:
            assert (await client.get(f"{service.url}/readyz")).status_code == 200
    assert dead_letters(stack) == {}


def dead_letters(stack: Stack) -> dict[str, int]:
    """Dead-lettered messages per queue: a fault must not push good messages there."""
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    counts = {key: int(client.xlen(key)) for key in client.scan_iter("queue:*:deadletter")}
    client.close()
    return {key: count for key, count in counts.items() if count}
