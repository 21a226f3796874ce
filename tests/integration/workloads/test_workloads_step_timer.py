"""Step deadlines on a real Redis: the saga store keeps them, the timer sends each due timeout once."""

from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from fabrikam.workloads.contracts import (
    WORKFLOW_EVENTS,
    Contract,
    DeliveryRequested,
    DeliveryScheduled,
    DroneAssigned,
    DroneSnapshot,
    Location,
    PackageCreated,
    PackageInfo,
    PackageSize,
    StepTimedOut,
)
from fabrikam.workloads.kit.documents import VersionedDocuments
from fabrikam.workloads.kit.messaging.message import Message
from fabrikam.workloads.workflow.handlers import SagaHandler
from fabrikam.workloads.workflow.saga import Incoming, Saga, Stage, StepPolicy, decide
from fabrikam.workloads.workflow.store import DEADLINES, SagaStore
from fabrikam.workloads.workflow.timer import StepTimer

from .conftest import make_broker

POLICY = StepPolicy(timeout_seconds=30, attempts=2)
T0 = datetime(2030, 1, 1, 9, tzinfo=UTC)


def requested(delivery_id: str) -> DeliveryRequested:
    return DeliveryRequested(
        delivery_id=delivery_id,
        owner="acme",
        pickup=Location(latitude=47.6, longitude=-122.3),
        dropoff=Location(latitude=47.7, longitude=-122.4),
        pickup_time=T0,
        deadline=T0 + timedelta(hours=2),
        expedited=False,
        confirmation_required=False,
        package=PackageInfo(size=PackageSize.small, weight_kg=1, tag="t"),
        requested_at=T0,
    )


def store(redis: Redis) -> SagaStore:
    return SagaStore(VersionedDocuments(redis, "saga", Saga), redis, POLICY)


async def apply(sagas: SagaStore, message_id: str, body: object, now: datetime = T0) -> Saga:
    incoming = Incoming(message_id, body)  # type: ignore[arg-type]
    saga, _ = await sagas.apply(incoming.body.delivery_id, lambda current: decide(current, incoming, now, POLICY))
    assert saga is not None
    return saga


async def test_the_deadline_entry_is_written_when_waiting_starts_and_stops_and_an_early_fire_resets_it(
    redis: Redis,
) -> None:
    sagas = store(redis)
    now = T0
    handler = SagaHandler(sagas, make_broker(redis), POLICY, clock=lambda: now)
    handle = handler.handlers()

    async def deliver(message_id: str, body: Contract) -> None:
        await handle[type(body).__name__](
            Message(message_id, type(body).__name__, body.model_dump(mode="json", by_alias=True))
        )

    await deliver("m1", requested("d-1"))
    assert await redis.zscore(DEADLINES, "d-1") == (T0 + timedelta(seconds=30)).timestamp()
    now = T0 + timedelta(seconds=5)
    await deliver("m2", PackageCreated(delivery_id="d-1", package_id="package-d-1"))
    assert await redis.zscore(DEADLINES, "d-1") == (T0 + timedelta(seconds=30)).timestamp()  # early is safe
    now = T0 + timedelta(seconds=30)
    await deliver("t1", StepTimedOut(delivery_id="d-1", deadline=now))
    stored = await VersionedDocuments(redis, "saga", Saga).load("d-1")
    assert stored is not None
    assert (stored.document.stage, stored.document.step_attempt) == (
        Stage.awaiting_drone,
        1,
    )  # not due: the timeout changed nothing
    assert await redis.zscore(DEADLINES, "d-1") == (T0 + timedelta(seconds=35)).timestamp()
    drone = DroneSnapshot(drone_id="drone-1", latitude=47.6, longitude=-122.3, speed_mps=10)
    await deliver("m3", DroneAssigned(delivery_id="d-1", drone=drone))
    await deliver("m4", DeliveryScheduled(delivery_id="d-1"))
    assert await redis.zscore(DEADLINES, "d-1") is None


async def test_a_replica_deciding_from_its_cache_sees_what_another_replica_wrote(redis: Redis) -> None:
    first, second = store(redis), store(redis)
    await apply(first, "m1", requested("d-2"))
    await apply(second, "m2", PackageCreated(delivery_id="d-2", package_id="package-d-2"))
    drone = DroneSnapshot(drone_id="drone-1", latitude=47.6, longitude=-122.3, speed_mps=10)
    saga = await apply(first, "m3", DroneAssigned(delivery_id="d-2", drone=drone))  # first's cache is stale
    assert saga.stage == Stage.awaiting_schedule
    saga = await apply(second, "m2", PackageCreated(delivery_id="d-2", package_id="package-d-2"))
    assert saga.stage == Stage.awaiting_schedule  # a redelivery changes nothing


async def test_two_timers_send_each_due_timeout_once_and_again_only_after_the_lease(redis: Redis) -> None:
    sagas = store(redis)
    await apply(sagas, "m1", requested("d-due"))
    await apply(sagas, "m2", requested("d-later"), T0 + timedelta(seconds=5))
    broker = make_broker(redis)
    timers = [StepTimer(redis, broker, interval=1, lease=10) for _ in range(2)]
    now = (T0 + timedelta(seconds=31)).timestamp()
    assert [await timer.fire_due(now) for timer in timers] == [1, 0]
    received = await broker.receive(WORKFLOW_EVENTS, 10, wait_seconds=0.1)
    assert [(r.message.type, r.message.body["deliveryId"]) for r in received] == [("StepTimedOut", "d-due")]
    assert StepTimedOut.model_validate(received[0].message.body).deadline == T0 + timedelta(seconds=30)
    assert await timers[1].fire_due(now + 9) == 1  # d-later is due, d-due is leased
    assert await timers[0].fire_due(now + 11) == 1  # d-due, unhandled, is sent again once its lease is over
    again = await broker.receive(WORKFLOW_EVENTS, 10, wait_seconds=0.1)
    assert [r.message.body["deliveryId"] for r in again] == ["d-later", "d-due"]
    assert received[0].message.id not in {r.message.id for r in again}


async def test_a_handled_timeout_replaces_the_leased_entry_with_the_retry_deadline(redis: Redis) -> None:
    sagas = store(redis)
    clock = [T0]
    handle = SagaHandler(sagas, make_broker(redis), POLICY, clock=lambda: clock[0]).handlers()["StepTimedOut"]
    await apply(sagas, "m1", requested("d-3"))
    timer = StepTimer(redis, make_broker(redis), interval=1, lease=10)
    clock[0] = T0 + timedelta(seconds=31)
    assert await timer.fire_due(clock[0].timestamp()) == 1
    timed_out = StepTimedOut(delivery_id="d-3", deadline=T0 + timedelta(seconds=30))
    await handle(Message("t1", "StepTimedOut", timed_out.model_dump(mode="json", by_alias=True)))
    assert await redis.zscore(DEADLINES, "d-3") == (clock[0] + timedelta(seconds=30)).timestamp()
    clock[0] += timedelta(seconds=30)
    await handle(Message("t2", "StepTimedOut", timed_out.model_dump(mode="json", by_alias=True)))
    stored = await VersionedDocuments(redis, "saga", Saga).load("d-3")
    assert stored is not None
    assert (stored.document.stage, stored.document.reason) == (
        Stage.failed,
        "timed out: no answer to CreatePackage after 2 attempts",
    )
    assert await redis.zscore(DEADLINES, "d-3") is None
