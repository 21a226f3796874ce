"""Queue depth and age, handlers in use and the Redis pool in use, on real brokers and a real Redis: what the
dashboards read to see a service falling behind before its callers do.

The broker's backlog runs against Redis Streams always, and Service Bus when FABRIKAM_TEST_SERVICEBUS_NAMESPACE is
set (as the broker contract suite does); there only the oldest message's age is known (the counts need the Manage
right the services are not given)."""

import asyncio
import gc
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer
from fabrikam.workloads.kit.messaging.message import Backlog, Message
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.metrics import RedisPools
from fabrikam.workloads.kit.resilience import redis_client
from fabrikam.workloads.kit.service import Runtime
from fabrikam.workloads.kit.settings import ServiceSettings
from fabrikam.workloads.kit.worker import QueueWorker

from .conftest import make_broker

SERVICEBUS = os.environ.get("FABRIKAM_TEST_SERVICEBUS_NAMESPACE")


@pytest.fixture(params=["redis", "servicebus"])
async def broker(request: pytest.FixtureRequest, redis: Redis) -> AsyncIterator[tuple[Broker, str, bool]]:
    """The adapter, a queue of its own, and whether the adapter counts messages."""
    if request.param == "servicebus":
        if not SERVICEBUS:
            pytest.skip("no Service Bus namespace configured (FABRIKAM_TEST_SERVICEBUS_NAMESPACE)")
        from fabrikam.workloads.kit.messaging.servicebus import ServiceBusBroker

        servicebus = ServiceBusBroker(SERVICEBUS)
        yield servicebus, "contract-tests", False
        await servicebus.close()
        return
    yield make_broker(redis, lock_seconds=30), f"backlog-{uuid.uuid4().hex[:8]}", True


def message() -> Message:
    return Message(id=uuid.uuid4().hex, type="Ping", body={"n": 1})


async def test_the_backlog_counts_waiting_in_flight_and_dead_messages_and_ages_the_oldest(
    broker: tuple[Broker, str, bool],
) -> None:
    adapter, queue, counts = broker
    while batch := await adapter.receive(queue, 50, wait_seconds=0.2):  # what an earlier run left
        for received in batch:
            await adapter.complete(received)
    assert await adapter.backlog(queue) == Backlog(
        waiting=0 if counts else None, in_flight=0 if counts else None, dead_lettered=0 if counts else None,
        oldest_age_seconds=0.0,
    )  # fmt: skip

    for _ in range(3):
        await adapter.publish(queue, message())
    await asyncio.sleep(0.5)
    [first] = await adapter.receive(queue, 1, wait_seconds=5)
    locked = await adapter.backlog(queue)
    assert 0.4 <= locked.oldest_age_seconds < 30
    if counts:
        assert (locked.waiting, locked.in_flight, locked.dead_lettered) == (2, 1, 0)

    await adapter.dead_letter(first, "Test", "dead-lettered on purpose")
    after = await adapter.backlog(queue)
    if counts:
        assert (after.waiting, after.in_flight, after.dead_lettered) == (2, 0, 1)

    while batch := await adapter.receive(queue, 50, wait_seconds=0.5):
        for received in batch:
            await adapter.complete(received)
    drained = await adapter.backlog(queue)
    assert drained.oldest_age_seconds == 0.0
    if counts:
        assert (drained.waiting, drained.in_flight) == (0, 0)


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def eventually(check: Callable[[], Awaitable[bool] | bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{getattr(check, '__name__', 'check')} did not hold within {within} s")
        await asyncio.sleep(0.05)


async def test_a_consumer_falling_behind_shows_its_handlers_all_busy_and_its_queue_growing_older(redis: Redis) -> None:
    broker = make_broker(redis, lock_seconds=30)
    queue = f"slow-{uuid.uuid4().hex[:8]}"
    go_on = asyncio.Event()

    async def stuck(_: Message) -> None:
        await go_on.wait()

    work = QueueWorker(
        broker,
        queue,
        {"Ping": stuck},
        service="metrics-test",
        concurrency=2,
        lock_seconds=30,
        grace_seconds=5,
        backlog_seconds=0.1,
    )
    for _ in range(5):
        await broker.publish(queue, message())
    running = asyncio.create_task(work.run())
    labels = {"service": "metrics-test", "queue": queue}
    try:

        def behind() -> bool:
            return (
                gauge("fabrikam_handlers_in_flight", **labels) == 2
                and gauge("fabrikam_queue_messages", queue=queue, state="waiting") == 3
                and gauge("fabrikam_queue_messages", queue=queue, state="in_flight") == 2
                and (gauge("fabrikam_queue_oldest_message_age_seconds", queue=queue) or 0) >= 0.3
            )

        await eventually(behind)
        assert gauge("fabrikam_handlers_limit", **labels) == 2
        assert gauge("fabrikam_queue_dead_letters", queue=queue) == 0

        go_on.set()

        def caught_up() -> bool:
            return (
                gauge("fabrikam_handlers_in_flight", **labels) == 0
                and gauge("fabrikam_queue_messages", queue=queue, state="waiting") == 0
                and gauge("fabrikam_queue_messages", queue=queue, state="in_flight") == 0
                and gauge("fabrikam_queue_oldest_message_age_seconds", queue=queue) == 0
            )

        await eventually(caught_up)
    finally:
        await work.stop()
        await running


async def test_the_redis_pool_shows_its_connections_in_use_against_its_size(redis_server: RedisServer) -> None:
    client = redis_client(ServiceSettings(redis_url=redis_server.url, pool_size=3))
    pools = RedisPools()
    pools.watch(client.connection_pool)

    def sampled() -> dict[str, float]:
        found = {}
        for family in pools.collect():
            for sample in family.samples:
                found[sample.labels.get("state", "size")] = sample.value
        return found

    holding = await client.connection_pool.get_connection()
    in_use = sampled()
    await client.connection_pool.release(holding)
    released = sampled()
    await client.aclose()
    assert in_use == {"in_use": 1, "idle": 0, "size": 3}
    assert released == {"in_use": 0, "idle": 1, "size": 3}


async def test_every_service_runtime_reports_its_pool(redis_server: RedisServer) -> None:
    gc.collect()  # pools of earlier tests' runtimes, already closed, leave the sum first
    before = gauge("fabrikam_redis_pool_size") or 0
    runtime = Runtime.from_settings(ServiceSettings(redis_url=redis_server.url, pool_size=7))
    try:
        assert gauge("fabrikam_redis_pool_size") == before + 7
    finally:
        await runtime.close()
