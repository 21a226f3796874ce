"""The drone telemetry service on real Redis: batches and a WebSocket stream in, state and positions out."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer
from fabrikam.workloads.contracts import DELIVERY_TELEMETRY
from fabrikam.workloads.kit.service import Runtime, create_app
from fabrikam.workloads.kit.settings import ServiceSettings
from fabrikam.workloads.telemetry.service import build

from .conftest import make_broker, serving

NOW = datetime.now(UTC)


def report(drone: str, seconds: float = 0, **changes: Any) -> dict[str, Any]:
    return {
        "droneId": drone,
        "latitude": 47.6,
        "longitude": -122.3,
        "altitudeM": 60,
        "battery": 88.5,
        "speedMps": 15,
        "heading": 90,
        "flightMode": "cruise",
        "health": "ok",
        "reportedAt": (NOW + timedelta(seconds=seconds)).isoformat(),
        **changes,
    }


def settings(redis_server: RedisServer) -> ServiceSettings:
    return ServiceSettings(service="drone-telemetry", redis_url=redis_server.url)


@pytest.fixture
async def api(redis_server: RedisServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(Runtime.from_settings(settings(redis_server)), build))
    async with httpx.AsyncClient(transport=transport, base_url="http://telemetry") as client:
        yield client


async def published(redis: Redis) -> list[dict[str, Any]]:
    received = await make_broker(redis, consumer="delivery").receive(DELIVERY_TELEMETRY, 100, wait_seconds=0.1)
    return [item.message.body for item in received]


async def test_a_batch_stores_the_latest_state_and_publishes_each_position(
    api: httpx.AsyncClient, redis: Redis
) -> None:
    batch = [report("drone-a"), report("drone-b", latitude=47.7), report("drone-a", seconds=1, latitude=47.61)]
    response = await api.post("/v1/telemetry", json={"reports": batch})
    assert (response.status_code, response.json()) == (202, {"accepted": 3, "published": 3})
    state = (await api.get("/v1/drones/drone-a/state")).json()
    assert (state["latitude"], state["battery"], state["flightMode"]) == (47.61, 88.5, "cruise")
    positions = await published(redis)
    assert [p["latitude"] for p in positions if p["droneId"] == "drone-a"] == [47.6, 47.61]
    assert [p["latitude"] for p in positions if p["droneId"] == "drone-b"] == [47.7]
    assert set(positions[0]) == {"droneId", "latitude", "longitude", "speedMps", "reportedAt"}


async def test_an_older_or_repeated_report_is_accepted_but_neither_stored_nor_published(
    api: httpx.AsyncClient, redis: Redis
) -> None:
    await api.post("/v1/telemetry", json={"reports": [report("drone-c", seconds=5, latitude=47.65)]})
    again = await api.post("/v1/telemetry", json={"reports": [report("drone-c", seconds=5, latitude=47.65)]})
    older = await api.post("/v1/telemetry", json={"reports": [report("drone-c", seconds=1, latitude=47.5)]})
    assert again.json() == older.json() == {"accepted": 1, "published": 0}
    assert (await api.get("/v1/drones/drone-c/state")).json()["latitude"] == 47.65
    assert len(await published(redis)) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"latitude": 91}, "latitude"),
        ({"battery": -1}, "battery"),
        ({"flightMode": "teleport"}, "flightMode"),
        ({"speedMps": 500}, "speedMps"),
        ({"reportedAt": (NOW + timedelta(hours=1)).isoformat()}, "reportedAt"),
        ({"reportedAt": "2030-01-01T00:00:00"}, "reportedAt"),
        ({"droneId": "bad id!"}, "droneId"),
    ],
)
async def test_one_bad_report_refuses_the_batch_naming_the_field_and_nothing_is_published(
    api: httpx.AsyncClient, redis: Redis, change: dict[str, Any], field: str
) -> None:
    response = await api.post("/v1/telemetry", json={"reports": [report("drone-d"), report("drone-e", **change)]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "reports", 1, field]
    assert (await api.get("/v1/drones/drone-d/state")).status_code == 404
    assert await published(redis) == []


async def test_an_empty_batch_and_an_unknown_drone_are_refused(api: httpx.AsyncClient) -> None:
    empty = await api.post("/v1/telemetry", json={"reports": []})
    assert (empty.status_code, empty.json()["detail"][0]["loc"]) == (422, ["body", "reports"])
    missing = await api.get("/v1/drones/nobody/state")
    assert (missing.status_code, missing.json()["detail"]) == (404, "no telemetry from drone nobody")


async def test_the_websocket_stream_answers_each_frame_and_survives_a_bad_one(
    redis_server: RedisServer, redis: Redis
) -> None:
    app = create_app(Runtime.from_settings(settings(redis_server)), build)
    async with serving(app) as url, websockets.connect(url.replace("http", "ws") + "/v1/telemetry/stream") as socket:
        await socket.send(json.dumps(report("drone-f")))
        assert json.loads(await socket.recv()) == {"accepted": 1, "published": 1}
        await socket.send(json.dumps([report("drone-f", seconds=1, altitudeM=5000)]))
        refused = json.loads(await socket.recv())
        assert refused["detail"][0]["loc"] == ["frame", 0, "altitudeM"]
        await socket.send("not json")
        assert json.loads(await socket.recv())["detail"][0]["type"] == "json_invalid"
        await socket.send(json.dumps([report("drone-f", seconds=2), report("drone-g", seconds=2)]))
        assert json.loads(await socket.recv()) == {"accepted": 2, "published": 2}
    assert len(await published(redis)) == 3
