"""The delivery service as a real process, SIGKILLed between a stage change's write and its publish and started
again: every stage change still reaches the notification queue, and none reaches it twice.

Deliveries are driven through their four announced stages (scheduled, headed_to_pickup, headed_to_dropoff,
completed) by commands and drone positions on the real Redis Streams queues, in waves, while the process is
killed: at fault points that hit the window deterministically (`killable_delivery.py`), then at random moments
under load with no hook at all (`fabrikam-svc delivery` itself). After each kill the outbox is read before the
restart: what it holds is what the kill caught between the write and the publish.
"""

import asyncio
import random
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from fabrikam.devcluster.localstack import Process, RedisServer
from fabrikam.workloads.contracts import DronePositionReported, DroneSnapshot, Location, ScheduleDelivery
from fabrikam.workloads.delivery.model import TrackedDelivery
from fabrikam.workloads.kit.documents import VersionedDocuments
from fabrikam.workloads.kit.messaging.message import Message, outgoing

from .conftest import make_broker

OUTBOX = "outbox:delivery"
PICKUP = Location(latitude=47.60, longitude=-122.3)
DROPOFF = Location(latitude=47.61, longitude=-122.3)
# Where each wave of positions puts the drones, and the stage it moves their deliveries to.
WAVES = (
    (None, "scheduled"),
    (Location(latitude=47.595, longitude=-122.3), "headed_to_pickup"),
    (PICKUP, "headed_to_dropoff"),
    (DROPOFF, "completed"),
)
ANNOUNCED = tuple(stage for _, stage in WAVES)
KILLABLE = Path(__file__).with_name("killable_delivery.py")
# Each life of the process dies at its fault point (counted in publishes; 150 in all), spread over the waves;
# the life after the last one runs to the end.
FAULT_POINTS = (
    "before:1",
    "after:9",
    "drain:2",
    "before:17",
    "after:3",
    "before:25",
    "drain:1",
    "after:12",
    "before:30",
    "after:21",
)


def schedule(delivery_id: str, drone_id: str) -> Message:
    return outgoing(
        f"ScheduleDelivery:{delivery_id}",
        ScheduleDelivery(
            delivery_id=delivery_id,
            package_id=f"package-{delivery_id}",
            drone=DroneSnapshot(drone_id=drone_id, latitude=47.59, longitude=-122.3, speed_mps=10),
            pickup=PICKUP,
            dropoff=DROPOFF,
            pickup_time=datetime(2020, 1, 1, tzinfo=UTC),
            deadline=datetime(2030, 1, 1, tzinfo=UTC),
            expedited=False,
            confirmation_required=False,
        ),
    )


def position(drone_id: str, place: Location) -> Message:
    report = DronePositionReported(
        drone_id=drone_id,
        latitude=place.latitude,
        longitude=place.longitude,
        speed_mps=10,
        reported_at=datetime.now(UTC),
    )
    return outgoing(f"DronePositionReported:{drone_id}:{uuid.uuid4().hex}", report)


@dataclass
class Delivery:
    """The delivery service's process, started again whenever it died; what each death left in the outbox."""

    redis: Redis
    command: list[str]
    env: dict[str, str]
    log_path: Path
    fault_points: tuple[str, ...] = ()
    # (the stage the wave in progress moves deliveries to, the outbox entries left) per death
    deaths: list[tuple[str, int]] = field(default_factory=list)
    wave: str = ""
    process: Process | None = None

    def start(self) -> None:
        lives = len(self.deaths)
        fault = {"KILL_AT": self.fault_points[lives]} if lives < len(self.fault_points) else {}
        self.process = Process("delivery", self.command, self.log_path, {**self.env, **fault})
        self.process.start()

    async def keep_alive(self) -> None:
        """A dead process must have died of SIGKILL (nothing else is allowed to stop it); count it, start again."""
        assert self.process is not None
        if not self.process.exited():
            return
        assert self.process.popen is not None
        assert self.process.popen.returncode == -signal.SIGKILL, self.log_path.read_text()[-3000:]
        self.deaths.append((self.wave, await self.redis.hlen(OUTBOX)))
        self.start()

    def started(self) -> bool:
        """This life logged `started`: its relay drained the outbox and its workers take messages."""
        assert self.process is not None
        with self.log_path.open("rb") as log:
            log.seek(self.process.log_offset)
            return b'"message": "started"' in log.read()

    async def until(self, check: Callable[[], Awaitable[bool]], within: float = 120.0, interval: float = 0.05) -> None:
        deadline = time.monotonic() + within
        while not await check():
            await self.keep_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"{check.__name__} did not hold within {within} s; see {self.log_path}")
            await asyncio.sleep(interval)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def service_env(redis_server: RedisServer, **extra: str) -> dict[str, str]:
    """How `fabrikam-svc delivery` is configured, with a short lock so a killed process's messages come back soon."""
    return {
        **extra,
        "FABRIKAM_SERVICE": "delivery",
        "FABRIKAM_REDIS_URL": redis_server.url,
        "FABRIKAM_PORT": "0",
        "FABRIKAM_LOCK_SECONDS": "1",
        "FABRIKAM_MAX_DELIVERY_COUNT": "1000",  # kills must not dead-letter what they interrupted
        "FABRIKAM_LOG_LEVEL": "INFO",
        "PYTHONSAFEPATH": "1",
    }


async def drive(
    delivery: Delivery, redis: Redis, count: int, meanwhile: Callable[[str], Awaitable[None]] | None = None
) -> list[str]:
    """Takes `count` deliveries through the four announced stages, a wave of messages per stage, each wave
    published at once when every delivery reached the previous stage, and `meanwhile` run with the wave's queue
    while it is handled; returns the delivery ids."""
    broker = make_broker(redis, consumer="driver")
    documents = VersionedDocuments(redis, "delivery", TrackedDelivery)
    ids = [f"k-{index}" for index in range(count)]
    for place, stage in WAVES:
        delivery.wave = stage
        if place is None:
            queue = "delivery-commands"
            wave = [schedule(delivery_id, f"drone-{index}") for index, delivery_id in enumerate(ids)]
        else:
            queue = "delivery-telemetry"
            wave = [position(f"drone-{index}", place) for index in range(count)]
        await asyncio.gather(*(broker.publish(queue, message) for message in wave))
        if meanwhile is not None:
            await meanwhile(queue)

        async def all_reached_the_stage(stage: str = stage) -> bool:
            stored = [await documents.load(delivery_id) for delivery_id in ids]
            return all(s is not None and s.document.stage == stage for s in stored)

        await delivery.until(all_reached_the_stage)

    async def outbox_empty() -> bool:
        return not await redis.hlen(OUTBOX)

    await delivery.until(outbox_empty)
    return ids


async def published(redis: Redis, queue: str) -> list[str]:
    entries: Any = await redis.xrange(f"queue:{queue}")
    return [fields["id"] for _entry_id, fields in entries]


async def assert_each_announced_once(redis: Redis, ids: list[str]) -> int:
    """Every stage change of every delivery on the notification queue exactly once, and the workflow's events;
    returns how many stage changes."""
    expected = sorted(f"DeliveryStageChanged:{d}:{stage}" for d in ids for stage in ANNOUNCED)
    assert sorted(await published(redis, "notification-events")) == expected
    workflow = sorted(f"{kind}:{d}" for d in ids for kind in ("DeliveryCompleted", "DeliveryScheduled"))
    assert sorted(await published(redis, "workflow-events")) == workflow
    return len(expected)


async def test_killed_right_before_or_after_a_publish_the_delivery_service_loses_no_stage_change_nor_repeats_one(
    redis_server: RedisServer, redis: Redis, tmp_path: Path
) -> None:
    delivery = Delivery(
        redis,
        [sys.executable, str(KILLABLE)],
        service_env(redis_server, FABRIKAM_CONCURRENCY="4"),  # a wave takes several lives: kills in every wave
        tmp_path / "delivery.log",
        fault_points=FAULT_POINTS,
    )
    delivery.start()
    try:
        ids = await drive(delivery, redis, count=25)
    finally:
        delivery.stop()
    changes = await assert_each_announced_once(redis, ids)
    # Every fault point was reached, and each kill left its message in the outbox: a "before" kill the one the
    # broker never saw, an "after" kill the one it saw but the relay had not yet removed.
    assert len(delivery.deaths) == len(FAULT_POINTS)
    assert all(left >= 1 for _, left in delivery.deaths), delivery.deaths
    assert {wave for wave, _ in delivery.deaths} == set(ANNOUNCED), delivery.deaths
    print(
        f"\n{len(ids)} deliveries, {changes} stage changes, {len(FAULT_POINTS)} kills at fault points; "
        f"(wave, outbox entries left) per kill: {delivery.deaths}; none lost, none published twice"
    )


async def test_killed_at_random_under_load_the_delivery_service_loses_no_stage_change_nor_repeats_one(
    redis_server: RedisServer, redis: Redis, tmp_path: Path
) -> None:
    """No hook: `fabrikam-svc delivery` SIGKILLed twice per wave while it handles the wave, once a random share
    of the wave is left, then again in its next life once a smaller random share is left."""
    rng = random.Random(20)
    count = 300
    delivery = Delivery(
        redis,
        [sys.executable, "-m", "fabrikam.workloads.entrypoint", "delivery"],
        service_env(redis_server),
        tmp_path / "delivery.log",
    )
    left_on_the_queue: list[int] = []

    async def started() -> bool:
        return delivery.started()

    async def kill_twice_meanwhile(queue: str) -> None:
        for share in sorted((rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)), reverse=True):
            await delivery.until(started)

            async def handled_down_to_the_share(share: float = share) -> bool:
                return await redis.xlen(f"queue:{queue}") <= share * count

            await delivery.until(handled_down_to_the_share, interval=0.002)
            # Messages are handled in lockstep batches, and the queue shrinks when a batch is acknowledged: a
            # kill right then would always find the process between batches.
            await asyncio.sleep(rng.uniform(0.0, 0.03))
            remaining = await redis.xlen(f"queue:{queue}")
            assert delivery.process is not None
            delivery.process.kill()
            left_on_the_queue.append(remaining)
            await delivery.keep_alive()

    delivery.start()
    try:
        ids = await drive(delivery, redis, count, meanwhile=kill_twice_meanwhile)
    finally:
        delivery.stop()
    changes = await assert_each_announced_once(redis, ids)
    assert len(delivery.deaths) == 2 * len(WAVES)
    caught = sum(1 for _, left in delivery.deaths if left)
    print(
        f"\n{count} deliveries, {changes} stage changes, {len(delivery.deaths)} random kills; (wave, outbox entries "
        f"left) per kill: {delivery.deaths}, messages of the wave still queued at each kill: {left_on_the_queue} "
        f"({caught} kills caught messages between write and publish); none lost, none published twice"
    )
