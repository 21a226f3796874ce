"""The queue worker on real Redis Streams: outcomes per handler result, and graceful shutdown."""

import asyncio
import time
from collections.abc import Awaitable, Callable

from opentelemetry import trace
from pydantic import BaseModel
from redis.asyncio import Redis

from fabrikam.workloads.kit import correlation, tracing
from fabrikam.workloads.kit.messaging.message import Message, outgoing_raw
from fabrikam.workloads.kit.messaging.redis_streams import RedisStreamsBroker
from fabrikam.workloads.kit.worker import Handler, PoisonMessage, QueueWorker

from .conftest import make_broker

QUEUE = "work"


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met before the deadline")


def worker(broker: RedisStreamsBroker, handlers: dict[str, Handler], grace: float = 5.0) -> QueueWorker:
    return QueueWorker(broker, QUEUE, handlers, service="test", concurrency=4, lock_seconds=0.5, grace_seconds=grace)


async def run_until(work: QueueWorker, check: Callable[[], Awaitable[bool]]) -> None:
    task = asyncio.create_task(work.run())
    try:
        await eventually(check)
    finally:
        await work.stop()
        await task


class Order(BaseModel):
    quantity: int


async def test_a_transient_failure_is_retried_and_the_message_handled_once(redis: Redis) -> None:
    broker = make_broker(redis)
    seen: list[str] = []

    async def flaky(message: Message) -> None:
        seen.append(message.id)
        if len(seen) == 1:
            raise ConnectionError("store briefly unreachable")

    await broker.publish(QUEUE, Message("m1", "Order", {"quantity": 1}))
    await run_until(worker(broker, {"Order": flaky}), lambda: asyncio.sleep(0, len(seen) == 2))
    assert seen == ["m1", "m1"]
    assert await redis.xlen("queue:work") == 0
    assert await broker.dead_letters(QUEUE) == []


async def test_poison_invalid_and_unknown_messages_are_dead_lettered_with_reasons(redis: Redis) -> None:
    broker = make_broker(redis)

    async def strict(message: Message) -> None:
        order = Order.model_validate(message.body)
        if order.quantity > 10:
            raise PoisonMessage("QuantityTooLarge", f"{order.quantity} > 10")

    for message in (
        Message("big", "Order", {"quantity": 11}),
        Message("bad", "Order", {"quantity": "many"}),
        Message("odd", "Refund", {}),
    ):
        await broker.publish(QUEUE, message)

    async def three_dead() -> bool:
        return len(await broker.dead_letters(QUEUE)) == 3

    await run_until(worker(broker, {"Order": strict}), three_dead)
    reasons = {letter.message.id: letter.reason for letter in await broker.dead_letters(QUEUE)}
    assert reasons == {"big": "QuantityTooLarge", "bad": "InvalidBody", "odd": "UnknownMessageType"}


async def test_stop_lets_in_flight_work_finish(redis: Redis) -> None:
    broker = make_broker(redis)
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow(_: Message) -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.set()

    await broker.publish(QUEUE, Message("m1", "Order", {}))
    work = worker(broker, {"Order": slow})
    task = asyncio.create_task(work.run())
    await asyncio.wait_for(started.wait(), 15)
    await work.stop()
    await task
    assert finished.is_set()
    assert await redis.xlen("queue:work") == 0


async def test_stop_releases_work_that_outlives_the_grace_period(redis: Redis) -> None:
    broker = make_broker(redis)
    started = asyncio.Event()

    async def stuck(_: Message) -> None:
        started.set()
        await asyncio.sleep(60)

    await broker.publish(QUEUE, Message("m1", "Order", {}))
    work = worker(broker, {"Order": stuck}, grace=0.1)
    task = asyncio.create_task(work.run())
    await asyncio.wait_for(started.wait(), 15)
    await work.stop()
    await task
    other = make_broker(redis, consumer="successor")
    again = await other.receive(QUEUE, 1, wait_seconds=0.2)
    assert [(received.message.id, received.delivery_count) for received in again] == [("m1", 2)]


async def test_a_handler_slower_than_the_lock_keeps_its_message(redis: Redis) -> None:
    broker = make_broker(redis)
    calls: list[str] = []
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow(message: Message) -> None:
        calls.append(message.id)
        started.set()
        await asyncio.sleep(1.5)  # three lock periods
        finished.set()

    await broker.publish(QUEUE, Message("m1", "Order", {}))
    work = worker(broker, {"Order": slow})
    task = asyncio.create_task(work.run())
    await asyncio.wait_for(started.wait(), 15)
    rival = make_broker(redis, consumer="rival")
    stolen = []
    while not finished.is_set():
        stolen += await rival.receive(QUEUE, 1, wait_seconds=0.1)
    await work.stop()
    await task
    assert (calls, stolen) == (["m1"], [])


async def test_the_handler_runs_in_the_producers_trace_and_correlation(redis: Redis) -> None:
    broker = make_broker(redis)
    with tracing.producing("test publish") as producer:
        sent = outgoing_raw("m1", "Order", {})
    seen: list[tuple[int, str]] = []

    async def record(_: Message) -> None:
        seen.append((trace.get_current_span().get_span_context().trace_id, correlation.current.get()))

    headers = {**sent.headers, correlation.HEADER: "corr-9"}
    await broker.publish(QUEUE, Message(sent.id, sent.type, sent.body, headers))
    await run_until(worker(broker, {"Order": record}), lambda: asyncio.sleep(0, bool(seen)))
    assert seen == [(producer.get_span_context().trace_id, "corr-9")]


async def test_a_handler_that_hangs_is_cancelled_at_its_deadline_and_the_message_redelivered(redis: Redis) -> None:
    broker = make_broker(redis)
    attempts: list[str] = []
    done: list[str] = []

    async def hangs_once(message: Message) -> None:
        attempts.append(message.id)
        if len(attempts) == 1:
            await asyncio.Event().wait()  # a dependency that never answers
        done.append(message.id)

    work = QueueWorker(
        broker,
        QUEUE,
        {"Order": hangs_once},
        service="test",
        concurrency=1,
        lock_seconds=0.5,
        grace_seconds=1,
        handler_timeout_seconds=1.0,
    )
    await broker.publish(QUEUE, Message("m-hang", "Order", {"quantity": 1}))
    await run_until(work, lambda: asyncio.sleep(0, done == ["m-hang"]))

    assert attempts == ["m-hang", "m-hang"]
    assert await redis.xlen("queue:work") == 0
    assert await broker.dead_letters(QUEUE) == []
