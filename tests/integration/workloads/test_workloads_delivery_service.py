"""The delivery service on real Redis: scheduling, telemetry-driven stages, ETAs, confirmation."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer
from fabrikam.workloads.contracts import (
    CancelDelivery,
    DronePositionReported,
    DroneSnapshot,
    Location,
    ScheduleDelivery,
)
from fabrikam.workloads.delivery.handlers import DeliveryHandlers
from fabrikam.workloads.delivery.live import LiveUpdates
from fabrikam.workloads.delivery.model import TrackedDelivery
from fabrikam.workloads.delivery.service import build
from fabrikam.workloads.kit.documents import VersionedDocuments
from fabrikam.workloads.kit.messaging.message import Message, outgoing
from fabrikam.workloads.kit.service import Runtime, create_app
from fabrikam.workloads.kit.settings import ServiceSettings

from .conftest import make_broker

PICKUP = Location(latitude=47.600, longitude=-122.300, address="pickup")
DROPOFF = Location(latitude=47.610, longitude=-122.300, address="dropoff")


@pytest.fixture
async def api(redis_server: RedisServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    runtime = Runtime.from_settings(ServiceSettings(service="delivery", redis_url=redis_server.url))
    transport = httpx.ASGITransport(app=create_app(runtime, build))
    async with httpx.AsyncClient(transport=transport, base_url="http://delivery") as client:
        yield client


def handlers(redis: Redis) -> DeliveryHandlers:
    deliveries = VersionedDocuments(redis, "delivery", TrackedDelivery)
    return DeliveryHandlers(deliveries, redis, make_broker(redis), LiveUpdates(redis))


def schedule(delivery_id: str, confirmation_required: bool) -> Message:
    return outgoing(
        f"ScheduleDelivery:{delivery_id}",
        ScheduleDelivery(
            delivery_id=delivery_id,
            package_id=f"package-{delivery_id}",
            drone=DroneSnapshot(drone_id="drone-1", latitude=47.590, longitude=-122.300, speed_mps=10),
            pickup=PICKUP,
            dropoff=DROPOFF,
            pickup_time=datetime(2020, 1, 1, tzinfo=UTC),
            deadline=datetime(2030, 1, 1, tzinfo=UTC),
            expedited=False,
            confirmation_required=confirmation_required,
        ),
    )


def position(latitude: float) -> Message:
    report = DronePositionReported(
        drone_id="drone-1", latitude=latitude, longitude=-122.300, speed_mps=10, reported_at=datetime.now(UTC)
    )
    return outgoing(f"pos-{latitude}", report)


async def workflow_events(redis: Redis) -> list[str]:
    received = await make_broker(redis, consumer="workflow").receive("workflow-events", 50, wait_seconds=0.1)
    return [item.message.type for item in received]


async def test_a_scheduled_delivery_has_etas_from_the_drone_position(api: httpx.AsyncClient, redis: Redis) -> None:
    await handlers(redis).schedule(schedule("d-1", confirmation_required=False))
    await handlers(redis).schedule(schedule("d-1", confirmation_required=False))  # redelivered: one effect
    delivery = (await api.get("/v1/deliveries/d-1")).json()
    assert (delivery["stage"], delivery["droneId"], delivery["packageId"]) == ("scheduled", "drone-1", "package-d-1")
    pickup_eta = datetime.fromisoformat(delivery["pickupEta"])
    delivery_eta = datetime.fromisoformat(delivery["deliveryEta"])
    assert 100 < (delivery_eta - pickup_eta).total_seconds() < 125  # 1.1 km at 10 m/s
    assert await workflow_events(redis) == ["DeliveryScheduled"]
    kinds = [event["kind"] for event in (await api.get("/v1/deliveries/d-1/events")).json()]
    assert kinds == ["created", "scheduled"]


async def test_telemetry_walks_the_stages_and_completion_is_announced(api: httpx.AsyncClient, redis: Redis) -> None:
    service = handlers(redis)
    await service.schedule(schedule("d-2", confirmation_required=False))
    stages = []
    for latitude in (47.595, 47.600, 47.605, 47.610):
        await service.position(position(latitude))
        stages.append((await api.get("/v1/deliveries/d-2")).json()["stage"])
    assert stages == ["headed_to_pickup", "headed_to_dropoff", "headed_to_dropoff", "completed"]
    assert await workflow_events(redis) == ["DeliveryScheduled", "DeliveryCompleted"]


async def test_a_confirmation_completes_an_arrived_delivery_and_is_refused_before(
    api: httpx.AsyncClient, redis: Redis
) -> None:
    service = handlers(redis)
    await service.schedule(schedule("d-3", confirmation_required=True))
    early = await api.post("/v1/deliveries/d-3/confirmations", json={"confirmedBy": "Ana"})
    assert early.status_code == 409
    for latitude in (47.600, 47.610):
        await service.position(position(latitude))
    assert (await api.get("/v1/deliveries/d-3")).json()["stage"] == "headed_to_dropoff"
    confirmed = await api.post("/v1/deliveries/d-3/confirmations", json={"confirmedBy": "Ana"})
    again = await api.post("/v1/deliveries/d-3/confirmations", json={"confirmedBy": "Ana"})
    assert (confirmed.status_code, confirmed.json()["stage"], again.status_code) == (202, "completed", 202)
    assert (await workflow_events(redis)).count("DeliveryCompleted") == 1
    missing = await api.post("/v1/deliveries/d-3/confirmations", json={})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "confirmedBy"]


async def test_cancel_before_schedule_leaves_a_tombstone(api: httpx.AsyncClient, redis: Redis) -> None:
    service = handlers(redis)
    await service.cancel(outgoing("c", CancelDelivery(delivery_id="d-4")))
    await service.schedule(schedule("d-4", confirmation_required=False))
    assert (await api.get("/v1/deliveries/d-4")).json()["stage"] == "cancelled"
    assert await workflow_events(redis) == []


async def test_unknown_delivery_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/deliveries/nope")
    assert (response.status_code, response.json()["detail"]) == (404, "no delivery nope")


async def test_the_stream_pushes_the_delivery_and_ends_once_it_is_over(api: httpx.AsyncClient, redis: Redis) -> None:
    service = handlers(redis)
    await service.schedule(schedule("d-5", confirmation_required=False))
    await service.cancel(outgoing("c5", CancelDelivery(delivery_id="d-5")))
    response = await api.get("/v1/deliveries/d-5/stream")
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line for line in response.text.splitlines() if line.startswith("data:")]
    assert len(events) == 1
    assert '"stage":"cancelled"' in events[0]


async def test_a_late_position_from_the_drones_previous_flight_is_not_this_deliverys(
    api: httpx.AsyncClient, redis: Redis
) -> None:
    service = handlers(redis)
    await service.schedule(schedule("d-6", confirmation_required=False))
    before = DronePositionReported(
        drone_id="drone-1",
        latitude=47.600,
        longitude=-122.300,
        speed_mps=10,
        reported_at=datetime.now(UTC) - timedelta(seconds=5),
    )
    await service.position(outgoing("late", before))  # at the pickup, but from before the delivery was scheduled
    delivery = (await api.get("/v1/deliveries/d-6")).json()
    assert (delivery["stage"], delivery["lastLocation"]["latitude"]) == ("scheduled", 47.590)
