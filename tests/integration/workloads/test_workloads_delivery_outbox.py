"""Delivery's outbox on real Redis: a stage change and its announcements are one write, and whatever a crash
left unsent is sent exactly once by the next process."""

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer, free_port
from fabrikam.workloads.contracts import DroneSnapshot, Location, ScheduleDelivery
from fabrikam.workloads.delivery.handlers import DeliveryHandlers
from fabrikam.workloads.delivery.live import LiveUpdates
from fabrikam.workloads.delivery.model import TrackedDelivery
from fabrikam.workloads.delivery.service import build
from fabrikam.workloads.kit.documents import VersionedDocuments
from fabrikam.workloads.kit.messaging.message import Message, outgoing
from fabrikam.workloads.kit.messaging.outbox import OutboxRelay
from fabrikam.workloads.kit.service import Runtime, create_app
from fabrikam.workloads.kit.settings import ServiceSettings

from .conftest import eventually, make_broker, serving

OUTBOX = "outbox:delivery"


def schedule(delivery_id: str) -> Message:
    return outgoing(
        f"ScheduleDelivery:{delivery_id}",
        ScheduleDelivery(
            delivery_id=delivery_id,
            package_id=f"package-{delivery_id}",
            drone=DroneSnapshot(drone_id="drone-7", latitude=47.59, longitude=-122.3, speed_mps=10),
            pickup=Location(latitude=47.60, longitude=-122.3),
            dropoff=Location(latitude=47.61, longitude=-122.3),
            pickup_time=datetime(2020, 1, 1, tzinfo=UTC),
            deadline=datetime(2030, 1, 1, tzinfo=UTC),
            expedited=False,
            confirmation_required=False,
        ),
    )


async def on_queue(redis: Redis, queue: str) -> list[tuple[str, dict[str, Any]]]:
    """Every message the queue holds (its stream), as (message id, body)."""
    entries: Any = await redis.xrange(f"queue:{queue}")
    return [(fields["id"], json.loads(fields["body"])) for _entry_id, fields in entries]


async def crash_after_the_write(redis: Redis, message: Message) -> None:
    """The delivery service handles `message` but dies before the broker hears of it: its broker is gone."""
    gone = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", decode_responses=True)
    deliveries = VersionedDocuments(redis, "delivery", TrackedDelivery)
    doomed = DeliveryHandlers(deliveries, redis, make_broker(gone), LiveUpdates(redis))
    try:
        await doomed.schedule(message)
    except redis_errors.ConnectionError:
        pass
    else:
        raise AssertionError("the broker was unreachable, yet the handler did not fail")
    finally:
        await gone.aclose()


async def test_a_stage_change_left_unsent_by_a_crash_is_published_once_by_the_next_process(
    redis_server: RedisServer, redis: Redis
) -> None:
    await crash_after_the_write(redis, schedule("d-crash"))
    stored = await VersionedDocuments(redis, "delivery", TrackedDelivery).load("d-crash")
    assert stored is not None
    assert stored.document.stage == "scheduled"
    assert sorted(await redis.hkeys(OUTBOX)) == [
        "notification-events/DeliveryStageChanged:d-crash:scheduled",
        "workflow-events/DeliveryScheduled:d-crash",
    ]
    assert await on_queue(redis, "notification-events") == []

    settings = ServiceSettings(service="delivery", redis_url=redis_server.url, lock_seconds=1)
    async with serving(create_app(Runtime.from_settings(settings), build)) as url:
        # Started means drained: the relay ran before the service took requests or messages.
        notified = await on_queue(redis, "notification-events")
        assert [(message_id, body["stage"]) for message_id, body in notified] == [
            ("DeliveryStageChanged:d-crash:scheduled", "scheduled")
        ]
        assert [message_id for message_id, _ in await on_queue(redis, "workflow-events")] == [
            "DeliveryScheduled:d-crash"
        ]
        assert await redis.hlen(OUTBOX) == 0
        # The command is redelivered to the new process: it changes nothing and announces nothing again.
        await make_broker(redis).publish("delivery-commands", schedule("d-crash"))

        async def handled() -> bool:
            return not await redis.xlen("queue:delivery-commands")  # completed messages leave the stream

        await eventually(handled)
        async with httpx.AsyncClient(base_url=url) as api:
            assert (await api.get("/v1/deliveries/d-crash")).json()["stage"] == "scheduled"
    async with serving(create_app(Runtime.from_settings(settings), build)):
        pass  # one more restart drains nothing
    assert len(await on_queue(redis, "notification-events")) == 1
    assert len(await on_queue(redis, "workflow-events")) == 1


async def test_a_crash_after_the_broker_accepted_but_before_the_entry_was_removed_sends_nothing_twice(
    redis: Redis,
) -> None:
    deliveries = VersionedDocuments(redis, "delivery", TrackedDelivery)
    handlers = DeliveryHandlers(deliveries, redis, make_broker(redis), LiveUpdates(redis))
    entries: dict[str, str] = {}

    async def record(key: str, *fields: str) -> None:
        values: Any = await redis.hmget(key, fields)
        entries.update(zip(fields, values, strict=True))

    await crash_after_the_write(redis, schedule("d-twice"))
    await record(OUTBOX, *await redis.hkeys(OUTBOX))
    assert await handlers.relay.drain() == 2
    await redis.hset(OUTBOX, mapping=entries)  # as if the process died before removing them
    assert await OutboxRelay(redis, OUTBOX, make_broker(redis)).drain() == 2
    assert await redis.hlen(OUTBOX) == 0
    assert [message_id for message_id, _ in await on_queue(redis, "notification-events")] == [
        "DeliveryStageChanged:d-twice:scheduled"
    ]
    assert len(await on_queue(redis, "workflow-events")) == 1
