"""Live tracking on a real delivery server: each position is pushed to SSE clients with a fresh ETA."""

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer
from fabrikam.workloads.contracts import DronePositionReported, DroneSnapshot, Location, ScheduleDelivery
from fabrikam.workloads.delivery.handlers import DeliveryHandlers
from fabrikam.workloads.delivery.live import LiveUpdates
from fabrikam.workloads.delivery.model import TrackedDelivery
from fabrikam.workloads.delivery.service import build
from fabrikam.workloads.kit.documents import VersionedDocuments
from fabrikam.workloads.kit.messaging.message import outgoing
from fabrikam.workloads.kit.service import Runtime, create_app
from fabrikam.workloads.kit.settings import ServiceSettings

from .conftest import make_broker, serving

PICKUP = Location(latitude=47.600, longitude=-122.300, address="pickup")
DROPOFF = Location(latitude=47.610, longitude=-122.300, address="dropoff")


async def scheduled(redis: Redis, delivery_id: str, drone_id: str, start: datetime) -> DeliveryHandlers:
    """Delivery handlers on the test Redis, with one delivery scheduled on a drone 1 km south of the pickup."""
    handlers = DeliveryHandlers(
        VersionedDocuments(redis, "delivery", TrackedDelivery), redis, make_broker(redis), LiveUpdates(redis)
    )
    drone = DroneSnapshot(drone_id=drone_id, latitude=47.590, longitude=-122.300, speed_mps=10)
    command = ScheduleDelivery(
        delivery_id=delivery_id,
        package_id="p",
        drone=drone,
        pickup=PICKUP,
        dropoff=DROPOFF,
        pickup_time=start - timedelta(minutes=1),
        deadline=start + timedelta(hours=1),
        expedited=False,
        confirmation_required=False,
    )
    await handlers.schedule(outgoing("s", command))
    return handlers


async def read_events(url: str, into: asyncio.Queue[dict[str, Any]]) -> None:
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("GET", url) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                into.put_nowait(json.loads(line[5:]))


async def test_track_pushes_every_position_until_completion_with_decreasing_remaining_time(
    redis_server: RedisServer, redis: Redis
) -> None:
    start = datetime.now(UTC)
    runtime = Runtime.from_settings(ServiceSettings(service="delivery", redis_url=redis_server.url))
    handlers = await scheduled(redis, "d-track", "drone-t", start)
    pushed: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with serving(create_app(runtime, build)) as url:
        reader = asyncio.create_task(read_events(f"{url}/v1/deliveries/d-track/track", pushed))
        received = [await asyncio.wait_for(pushed.get(), 10)]
        # 2.2 km, one report every 10 s of flight: the delivery service computes the ETAs.
        for step in range(1, 21):
            latitude = 47.590 + step * 0.001
            report = DronePositionReported(
                drone_id="drone-t",
                latitude=latitude,
                longitude=-122.300,
                speed_mps=11.12,  # 0.001° of latitude (111.2 m) every 10 s
                reported_at=start + timedelta(seconds=10 * step),
            )
            await handlers.position(outgoing(f"p{step}", report))
            received.append(await asyncio.wait_for(pushed.get(), 10))  # a client that keeps up sees every one
        await asyncio.wait_for(reader, 10)
    stages = [event["stage"] for event in received]
    assert stages[0] == "scheduled"
    assert stages[-1] == "completed"
    assert len(received) == 21  # the first state and one push per position
    remaining = [
        (datetime.fromisoformat(e["deliveryEta"]) - datetime.fromisoformat(e["lastLocation"]["reportedAt"]))
        for e in received[1:-1]
    ]
    assert all(later < earlier for earlier, later in itertools.pairwise(remaining))
    arrival = start + timedelta(seconds=200)
    assert abs((datetime.fromisoformat(received[1]["deliveryEta"]) - arrival).total_seconds()) < 5


async def test_a_client_joining_mid_flight_or_after_the_end_gets_the_current_state_first(
    redis_server: RedisServer, redis: Redis
) -> None:
    start = datetime.now(UTC)
    handlers = await scheduled(redis, "d-late", "drone-l", start)

    async def fly_to(step: int, latitude: float) -> None:
        report = DronePositionReported(
            drone_id="drone-l",
            latitude=latitude,
            longitude=-122.300,
            speed_mps=10,
            reported_at=start + timedelta(seconds=step),
        )
        await handlers.position(outgoing(f"late-{step}", report))

    await fly_to(1, 47.595)
    await fly_to(2, 47.600)  # over the pickup: headed to the drop-off
    runtime = Runtime.from_settings(ServiceSettings(service="delivery", redis_url=redis_server.url))
    async with serving(create_app(runtime, build)) as url:
        mid_flight: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        reader = asyncio.create_task(read_events(f"{url}/v1/deliveries/d-late/track", mid_flight))
        first = await asyncio.wait_for(mid_flight.get(), 10)
        assert (first["stage"], first["lastLocation"]["latitude"]) == ("headed_to_dropoff", 47.600)
        await fly_to(3, 47.610)  # over the drop-off: completed, and the stream ends
        assert (await asyncio.wait_for(mid_flight.get(), 10))["stage"] == "completed"
        await asyncio.wait_for(reader, 10)
        after_the_end: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await asyncio.wait_for(read_events(f"{url}/v1/deliveries/d-late/track", after_the_end), 10)
        assert (after_the_end.qsize(), after_the_end.get_nowait()["stage"]) == (1, "completed")


async def read_sse(url: str, into: asyncio.Queue[dict[str, str]], last_event_id: str | None = None) -> None:
    """Each server-sent event as its fields (`id`, `event`, `data`), until the server ends the stream."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    async with httpx.AsyncClient(timeout=30) as client, client.stream("GET", url, headers=headers) as response:
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if not line:
                if "data" in fields:
                    into.put_nowait(fields)
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")


async def test_a_client_reconnecting_with_last_event_id_is_sent_the_changes_it_missed_then_the_state(
    redis_server: RedisServer, redis: Redis
) -> None:
    start = datetime.now(UTC)
    handlers = await scheduled(redis, "d-replay", "drone-r", start)

    async def fly_to(step: int, latitude: float) -> None:
        report = DronePositionReported(
            drone_id="drone-r",
            latitude=latitude,
            longitude=-122.300,
            speed_mps=10,
            reported_at=start + timedelta(seconds=step),
        )
        await handlers.position(outgoing(f"replay-{step}", report))

    runtime = Runtime.from_settings(ServiceSettings(service="delivery", redis_url=redis_server.url))
    track = "/v1/deliveries/d-replay/track"
    async with serving(create_app(runtime, build)) as url:
        first: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        reader = asyncio.create_task(read_sse(url + track, first))
        seen = await asyncio.wait_for(first.get(), 10)
        reader.cancel()  # the connection drops; the delivery goes on without the client
        assert (seen["event"], seen["id"], json.loads(seen["data"])["stage"]) == ("delivery", "2", "scheduled")

        await fly_to(1, 47.595)  # position, departed
        await fly_to(2, 47.598)  # position
        await fly_to(3, 47.600)  # position, picked_up: over the pickup

        again: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        reconnected = asyncio.create_task(read_sse(url + track, again, last_event_id=seen["id"]))
        replayed = [await asyncio.wait_for(again.get(), 10) for _ in range(6)]
        await fly_to(4, 47.610)  # over the drop-off: completed, live as before
        live = await asyncio.wait_for(again.get(), 10)
        await asyncio.wait_for(reconnected, 10)
        async with httpx.AsyncClient(base_url=url) as client:
            history = (await client.get("/v1/deliveries/d-replay/events")).json()

    missed = [(event["event"], event["id"], json.loads(event["data"])["kind"]) for event in replayed[:5]]
    assert missed == [
        ("tracking", "3", "position"),
        ("tracking", "4", "departed"),
        ("tracking", "5", "position"),
        ("tracking", "6", "position"),
        ("tracking", "7", "picked_up"),
    ]
    state = json.loads(replayed[5]["data"])
    assert (replayed[5]["event"], replayed[5]["id"], state["stage"], state["events"]) == (
        "delivery",
        "7",
        "headed_to_dropoff",
        7,
    )
    assert (live["event"], live["id"], json.loads(live["data"])["stage"]) == ("delivery", "10", "completed")
    assert [event["seq"] for event in history] == list(range(1, 11))


async def test_a_client_with_nothing_missed_or_an_unknown_last_event_id_gets_the_state_only(
    redis_server: RedisServer, redis: Redis
) -> None:
    await scheduled(redis, "d-same", "drone-s", datetime.now(UTC))
    runtime = Runtime.from_settings(ServiceSettings(service="delivery", redis_url=redis_server.url))
    async with serving(create_app(runtime, build)) as url:
        for last_event_id in ("2", "999", "not-ours", ""):
            received: asyncio.Queue[dict[str, str]] = asyncio.Queue()
            reader = asyncio.create_task(read_sse(f"{url}/v1/deliveries/d-same/track", received, last_event_id))
            first = await asyncio.wait_for(received.get(), 10)
            await asyncio.sleep(0.2)  # anything replayed would have come before the state
            reader.cancel()
            assert (first["event"], first["id"], received.qsize()) == ("delivery", "2", 0)
