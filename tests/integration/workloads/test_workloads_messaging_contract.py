"""The broker contract, run against real brokers: Redis Streams always, Service Bus when configured.

Set FABRIKAM_TEST_SERVICEBUS_NAMESPACE (and an identity DefaultAzureCredential finds) to run it against a
namespace whose queues have lockDuration 5s, maxDeliveryCount 3 and duplicate detection.
"""

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from fabrikam.workloads.kit.messaging.message import Message, Received
from fabrikam.workloads.kit.messaging.port import Broker

from .conftest import make_broker

SERVICEBUS = os.environ.get("FABRIKAM_TEST_SERVICEBUS_NAMESPACE")
LOCK_SECONDS = {"redis": 0.5, "servicebus": 5.0}


@pytest.fixture(params=["redis", "servicebus"])
async def broker(request: pytest.FixtureRequest, redis: Redis) -> AsyncIterator[tuple[Broker, str, float]]:
    if request.param == "servicebus":
        if not SERVICEBUS:
            pytest.skip("no Service Bus namespace configured (FABRIKAM_TEST_SERVICEBUS_NAMESPACE)")
        from fabrikam.workloads.kit.messaging.servicebus import ServiceBusBroker

        servicebus = ServiceBusBroker(SERVICEBUS)
        yield servicebus, "contract-tests", LOCK_SECONDS["servicebus"]
        await servicebus.close()
        return
    yield make_broker(redis), f"contract-{uuid.uuid4().hex[:8]}", LOCK_SECONDS["redis"]


def message(body: dict[str, object] | None = None) -> Message:
    return Message(id=uuid.uuid4().hex, type="Ping", body=body or {"n": 1}, headers={"x-correlation-id": "c1"})


async def receive_one(broker: Broker, queue: str, within: float = 15.0) -> Received:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        batch = await broker.receive(queue, 1, wait_seconds=0.2)
        if batch:
            return batch[0]
    raise AssertionError(f"nothing received from {queue} within {within}s")


async def drain(broker: Broker, queue: str) -> None:
    while batch := await broker.receive(queue, 50, wait_seconds=0.2):
        for received in batch:
            await broker.complete(received)


async def test_published_message_is_received_intact_and_completed_once(broker: tuple[Broker, str, float]) -> None:
    adapter, queue, lock = broker
    await drain(adapter, queue)
    sent = message({"deliveryId": "d-1", "nested": {"a": [1, 2]}})
    assert await adapter.publish(queue, sent)
    received = await receive_one(adapter, queue)
    assert (received.message, received.delivery_count) == (sent, 1)
    await adapter.complete(received)
    await asyncio.sleep(lock * 2)
    assert await adapter.receive(queue, 10, wait_seconds=0.3) == []


async def test_a_duplicate_message_id_is_dropped(broker: tuple[Broker, str, float]) -> None:
    adapter, queue, _ = broker
    await drain(adapter, queue)
    sent = message()
    await adapter.publish(queue, sent)
    await adapter.publish(queue, sent)
    first = await receive_one(adapter, queue)
    await adapter.complete(first)
    assert await adapter.receive(queue, 10, wait_seconds=0.5) == []


async def test_an_unacknowledged_message_is_redelivered_after_its_lock_with_a_delivery_count(
    broker: tuple[Broker, str, float],
) -> None:
    adapter, queue, lock = broker
    await drain(adapter, queue)
    await adapter.publish(queue, message())
    first = await receive_one(adapter, queue)
    assert await adapter.receive(queue, 10, wait_seconds=lock / 4) == []  # still locked
    again = await receive_one(adapter, queue, within=lock * 10)
    assert again.message.id == first.message.id
    assert again.delivery_count == 2
    await adapter.complete(again)


async def test_a_message_past_max_delivery_count_is_dead_lettered_with_the_reason(
    broker: tuple[Broker, str, float],
) -> None:
    adapter, queue, lock = broker
    await drain(adapter, queue)
    sent = message()
    await adapter.publish(queue, sent)
    for expected_count in (1, 2, 3):
        received = await receive_one(adapter, queue, within=lock * 10)
        assert received.delivery_count == expected_count
        await adapter.release(received)
    deadline = time.monotonic() + lock * 20
    dead = []
    while time.monotonic() < deadline and not dead:
        assert await adapter.receive(queue, 10, wait_seconds=0.2) == []
        dead = [letter for letter in await adapter.dead_letters(queue) if letter.message.id == sent.id]
    assert dead, "message never reached the dead-letter queue"
    assert dead[0].reason == "MaxDeliveryCountExceeded"
    assert dead[0].message == sent


async def test_a_handler_can_dead_letter_with_its_own_reason(broker: tuple[Broker, str, float]) -> None:
    adapter, queue, _ = broker
    await drain(adapter, queue)
    sent = message()
    await adapter.publish(queue, sent)
    received = await receive_one(adapter, queue)
    await adapter.dead_letter(received, "InvalidBody", "weightKg missing")
    letters = [letter for letter in await adapter.dead_letters(queue) if letter.message.id == sent.id]
    assert [(letter.reason, letter.description) for letter in letters] == [("InvalidBody", "weightKg missing")]


async def test_a_redriven_dead_letter_comes_back_intact_with_a_fresh_delivery_count(
    broker: tuple[Broker, str, float],
) -> None:
    adapter, queue, _ = broker
    await drain(adapter, queue)
    sent = message({"n": 7})
    await adapter.publish(queue, sent)
    received = await receive_one(adapter, queue)
    await adapter.release(received)
    await adapter.dead_letter(await receive_one(adapter, queue), "ProviderDown", "smtp unreachable")
    assert await adapter.redrive(queue) == 1
    assert await adapter.dead_letters(queue) == []
    again = await receive_one(adapter, queue)
    assert (again.message, again.delivery_count) == (sent, 1)
    await adapter.complete(again)
    assert await adapter.redrive(queue) == 0


async def test_renewing_the_lock_prevents_redelivery(broker: tuple[Broker, str, float]) -> None:
    adapter, queue, lock = broker
    await drain(adapter, queue)
    await adapter.publish(queue, message())
    received = await receive_one(adapter, queue)
    deadline = time.monotonic() + lock * 3
    while time.monotonic() < deadline:
        await adapter.renew_lock(received)
        assert await adapter.receive(queue, 10, wait_seconds=lock / 5) == []
    await adapter.complete(received)


async def start_without_dead_letters(adapter: Broker, queue: str) -> None:
    """A Service Bus queue keeps what earlier tests dead-lettered: send it back and consume it."""
    while await adapter.redrive(queue):
        pass
    await drain(adapter, queue)


async def dead_letter_now(adapter: Broker, queue: str, sent: Message, reason: str) -> None:
    await adapter.publish(queue, sent)
    received = await receive_one(adapter, queue)
    assert received.message.id == sent.id
    await adapter.dead_letter(received, reason, f"{reason} for the test")


async def test_dead_letters_are_counted_and_listed_oldest_first_with_their_reason_and_age(
    broker: tuple[Broker, str, float],
) -> None:
    adapter, queue, _ = broker
    await start_without_dead_letters(adapter, queue)
    started = datetime.now(UTC)
    sent = [message({"n": n}) for n in range(3)]
    for n, one in enumerate(sent):
        await dead_letter_now(adapter, queue, one, f"Reason{n}")
    letters = await adapter.dead_letters(queue, 1000)
    assert [(letter.message, letter.reason) for letter in letters] == [
        (one, f"Reason{n}") for n, one in enumerate(sent)
    ]
    for letter in letters:  # Service Bus stamps its own clock: a minute either way
        assert letter.enqueued_at is not None
        assert started - timedelta(minutes=1) <= letter.enqueued_at <= datetime.now(UTC) + timedelta(minutes=1)
    assert await adapter.dead_letter_count(queue) == 3
    assert await adapter.dead_letter_count(queue, up_to=2) == 2
    for one in sent:
        assert await adapter.redrive(queue, message_id=one.id) == 1
    await drain(adapter, queue)


async def test_a_redrive_of_one_message_id_moves_only_it_and_once(broker: tuple[Broker, str, float]) -> None:
    adapter, queue, _ = broker
    await drain(adapter, queue)
    fixed, still_poisoned = message({"n": 1}), message({"n": 2})
    await dead_letter_now(adapter, queue, still_poisoned, "InvalidBody")
    await dead_letter_now(adapter, queue, fixed, "ProviderDown")
    assert await adapter.redrive(queue, message_id=fixed.id) == 1
    assert await adapter.redrive(queue, message_id=fixed.id) == 0
    again = await receive_one(adapter, queue)
    assert (again.message, again.delivery_count) == (fixed, 1)
    await adapter.complete(again)
    assert await adapter.receive(queue, 10, wait_seconds=0.5) == []
    left = [letter.message for letter in await adapter.dead_letters(queue, 1000)]
    assert still_poisoned in left
    assert fixed not in left
    assert await adapter.redrive(queue, message_id=still_poisoned.id) == 1
    await drain(adapter, queue)


async def test_a_redrive_moves_at_most_its_limit_oldest_first(broker: tuple[Broker, str, float]) -> None:
    adapter, queue, _ = broker
    await start_without_dead_letters(adapter, queue)
    sent = [message({"n": n}) for n in range(3)]
    for one in sent:
        await dead_letter_now(adapter, queue, one, "ProviderDown")
    assert await adapter.redrive(queue, limit=2) == 2
    redriven = [await receive_one(adapter, queue) for _ in range(2)]
    assert [received.message for received in redriven] == sent[:2]
    for received in redriven:
        await adapter.complete(received)
    assert [letter.message for letter in await adapter.dead_letters(queue)] == sent[2:]
    assert await adapter.redrive(queue, limit=5) == 1
    await drain(adapter, queue)
