"""Latitudes Redis GEO cannot index (beyond ±85.05112878°) are refused with a 422 naming the field, at every door
through which one could reach the fleet's index: a drone's registration and a delivery's pickup and drop-off."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer
from fabrikam.workloads.contracts import GEO_MAX_LATITUDE, Location, PackageSize
from fabrikam.workloads.ingestion.service import build as build_ingestion
from fabrikam.workloads.kit.service import Runtime, ServiceBuilder, create_app
from fabrikam.workloads.kit.settings import ServiceSettings
from fabrikam.workloads.scheduler.fleet import Fleet
from fabrikam.workloads.scheduler.service import build as build_scheduler

REASON = "latitude must be within ±85.05112878°"


async def client(redis_url: str, service: str, build: ServiceBuilder) -> httpx.AsyncClient:
    app = create_app(Runtime.from_settings(ServiceSettings(service=service, redis_url=redis_url)), build)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}")


@pytest.fixture
async def scheduler(redis_server: RedisServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with await client(redis_server.url, "scheduler", build_scheduler) as api:
        yield api


@pytest.fixture
async def ingestion(redis_server: RedisServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with await client(redis_server.url, "ingestion", build_ingestion) as api:
        yield api


def drone(latitude: float) -> dict[str, Any]:
    return {"latitude": latitude, "longitude": 10.0, "battery": 90, "payloadClass": "large", "speedMps": 12}


@pytest.mark.parametrize("latitude", [89.0, -85.0511288, 90.0])
async def test_a_drone_beyond_the_geo_limit_is_refused_naming_the_field_and_nothing_is_stored(
    scheduler: httpx.AsyncClient, redis: Redis, latitude: float
) -> None:
    response = await scheduler.put("/v1/drones/polar-1", json=drone(latitude))
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "latitude"]
    assert error["msg"].startswith(REASON)
    assert (await scheduler.get("/v1/drones/polar-1")).status_code == 404
    assert await redis.keys("drone*") == []


@pytest.mark.parametrize("latitude", [GEO_MAX_LATITUDE, -GEO_MAX_LATITUDE])
async def test_a_drone_at_the_geo_limit_is_registered_and_found_from_a_pickup_there(
    scheduler: httpx.AsyncClient, redis: Redis, latitude: float
) -> None:
    response = await scheduler.put("/v1/drones/edge-1", json=drone(latitude))
    assert response.status_code == 200, response.text
    assert (response.json()["latitude"], response.json()["status"]) == (latitude, "available")
    pickup = Location(latitude=latitude, longitude=10.0)
    assigned = await Fleet(redis, radius_km=5, min_battery=30).assign("d-edge", pickup, PackageSize.small)
    assert assigned is not None
    assert assigned.id == "edge-1"


def delivery_request(**place: float) -> dict[str, Any]:
    return {
        "owner": "acme",
        "pickup": {"latitude": place.get("pickup", 47.6), "longitude": -122.3},
        "dropoff": {"latitude": place.get("dropoff", 47.7), "longitude": -122.4},
        "pickupTime": "2030-01-01T10:00:00Z",
        "deadline": "2030-01-01T12:00:00Z",
        "package": {"size": "small", "weightKg": 1.0, "tag": "t"},
    }


@pytest.mark.parametrize("leg", ["pickup", "dropoff"])
async def test_a_delivery_to_or_from_beyond_the_geo_limit_is_refused_and_nothing_is_enqueued(
    ingestion: httpx.AsyncClient, redis: Redis, leg: str
) -> None:
    """The scheduler searches drones from the pickup, and a drone that landed at the drop-off is registered
    there again: either one beyond the limit would fail in Redis after the 202, not before it."""
    response = await ingestion.post("/v1/deliveryrequests", json=delivery_request(**{leg: -89.5}))
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"].startswith(REASON)) == (["body", leg, "latitude"], True)
    assert await redis.exists("queue:delivery-requests") == 0


async def test_the_openapi_schemas_declare_the_limit(
    scheduler: httpx.AsyncClient, ingestion: httpx.AsyncClient
) -> None:
    drone_schema = (await scheduler.get("/openapi.json")).json()["components"]["schemas"]["DroneRegistration"]
    location_schema = (await ingestion.get("/openapi.json")).json()["components"]["schemas"]["Location"]
    for latitude in (drone_schema["properties"]["latitude"], location_schema["properties"]["latitude"]):
        assert (latitude["minimum"], latitude["maximum"]) == (-GEO_MAX_LATITUDE, GEO_MAX_LATITUDE)


async def test_a_drone_left_beyond_the_limit_by_the_old_registration_is_still_listed_and_can_be_moved(
    scheduler: httpx.AsyncClient, redis: Redis
) -> None:
    """Before the check, `latitude: 89.0` failed in the script at GEOADD, after its HSET and SADD had run."""
    await redis.hset("drone:stuck-1", mapping={**stored(89.0), "status": "available", "deliveryId": ""})
    await redis.sadd("drones:all", "stuck-1")
    listed = await scheduler.get("/v1/drones")
    assert (listed.status_code, [d["latitude"] for d in listed.json()]) == (200, [89.0])
    moved = await scheduler.put("/v1/drones/stuck-1", json=drone(60.0))
    assert (moved.status_code, moved.json()["latitude"]) == (200, 60.0)
    assigned = await Fleet(redis, radius_km=5, min_battery=30).assign(
        "d-1", Location(latitude=60.0, longitude=10.0), PackageSize.small
    )
    assert assigned is not None


def stored(latitude: float) -> dict[str, str]:
    return {
        "id": "stuck-1",
        "latitude": str(latitude),
        "longitude": "10.0",
        "battery": "90",
        "payloadClass": "large",
        "payloadRank": "3",
        "speedMps": "12",
    }
