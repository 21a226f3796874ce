"""The ingestion API on real Redis: 202 only when enqueued, idempotent retries, 4xx that enqueue nothing."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer, free_port
from fabrikam.workloads.ingestion.service import build
from fabrikam.workloads.kit.service import Runtime, create_app
from fabrikam.workloads.kit.settings import ServiceSettings

from .conftest import make_broker

STREAM = "queue:delivery-requests"


def settings(redis_url: str, **overrides: Any) -> ServiceSettings:
    return ServiceSettings(service="ingestion", redis_url=redis_url, **overrides)


async def client_for(service_settings: ServiceSettings) -> httpx.AsyncClient:
    app = create_app(Runtime.from_settings(service_settings), build)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingestion")


@pytest.fixture
async def api(redis_server: RedisServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(settings(redis_server.url)) as client:
        yield client


def body(**changes: Any) -> dict[str, Any]:
    return {
        "owner": "acme",
        "pickup": {"latitude": 47.6, "longitude": -122.3, "address": "1 Pike St"},
        "dropoff": {"latitude": 47.7, "longitude": -122.4, "address": "2 Pine St"},
        "pickupTime": "2030-01-01T10:00:00Z",
        "deadline": "2030-01-01T12:00:00Z",
        "expedited": True,
        "confirmationRequired": True,
        "package": {"size": "medium", "weightKg": 4.5, "tag": "fragile"},
        **changes,
    }


async def test_accepted_request_is_enqueued_with_location(api: httpx.AsyncClient, redis: Redis) -> None:
    response = await api.post("/v1/deliveryrequests", json=body(), headers={"x-correlation-id": "corr-1"})
    assert response.status_code == 202
    delivery_id = response.json()["deliveryId"]
    assert response.headers["location"] == f"/v1/deliveries/{delivery_id}"
    assert response.headers["x-correlation-id"] == "corr-1"
    received = await make_broker(redis).receive("delivery-requests", 10, wait_seconds=0.2)
    assert len(received) == 1
    message = received[0].message
    assert (message.type, message.body["deliveryId"], message.body["package"]["tag"]) == (
        "DeliveryRequested",
        delivery_id,
        "fragile",
    )
    assert message.headers["x-correlation-id"] == "corr-1"
    assert "traceparent" in message.headers


async def test_a_retry_with_the_same_idempotency_key_returns_the_same_id_and_enqueues_nothing(
    api: httpx.AsyncClient, redis: Redis
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await api.post("/v1/deliveryrequests", json=body(), headers=headers)
    second = await api.post("/v1/deliveryrequests", json=body(), headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert await redis.xlen(STREAM) == 1


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (body(package={"size": "huge", "weightKg": 1, "tag": "t"}), ["body", "package", "size"]),
        (body(pickup={"latitude": 123, "longitude": 0}), ["body", "pickup", "latitude"]),
        (body(deadline="2029-01-01T00:00:00Z"), ["body", "deadline"]),
        ({key: value for key, value in body().items() if key != "owner"}, ["body", "owner"]),
    ],
)
async def test_invalid_fields_get_422_naming_the_field_and_enqueue_nothing(
    api: httpx.AsyncClient, redis: Redis, content: dict[str, Any], field: list[str]
) -> None:
    response = await api.post("/v1/deliveryrequests", json=content)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [field]
    assert await redis.exists(STREAM) == 0


async def test_malformed_json_is_refused_and_enqueues_nothing(api: httpx.AsyncClient, redis: Redis) -> None:
    response = await api.post(
        "/v1/deliveryrequests", content=b'{"owner": "acme",', headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert await redis.exists(STREAM) == 0


async def test_reschedule_and_cancel_are_accepted_and_enqueued(api: httpx.AsyncClient, redis: Redis) -> None:
    patched = await api.patch("/v1/deliveryrequests/d-1", json={"deadline": "2030-01-02T00:00:00Z"})
    deleted = await api.delete("/v1/deliveryrequests/d-1")
    deleted_again = await api.delete("/v1/deliveryrequests/d-1")
    assert (patched.status_code, deleted.status_code, deleted_again.status_code) == (202, 202, 202)
    received = await make_broker(redis).receive("delivery-requests", 10, wait_seconds=0.2)
    assert [item.message.type for item in received] == ["DeliveryRescheduled", "DeliveryCancelled"]


async def test_an_empty_reschedule_is_refused(api: httpx.AsyncClient, redis: Redis) -> None:
    response = await api.patch("/v1/deliveryrequests/d-1", json={})
    assert response.status_code == 422
    assert "pickupTime or deadline" in response.text
    assert await redis.exists(STREAM) == 0


async def test_a_client_over_its_rate_gets_429_with_retry_after(redis_server: RedisServer, redis: Redis) -> None:
    limited = settings(redis_server.url, rate_limit_per_second=1, rate_limit_burst=2)
    async with await client_for(limited) as client:
        statuses = [
            (await client.post("/v1/deliveryrequests", json=body(), headers={"x-client-id": "c1"})).status_code
            for _ in range(3)
        ]
        other = await client.post("/v1/deliveryrequests", json=body(), headers={"x-client-id": "c2"})
        limited_response = await client.post("/v1/deliveryrequests", json=body(), headers={"x-client-id": "c1"})
    assert statuses == [202, 202, 429]
    assert other.status_code == 202
    assert int(limited_response.headers["retry-after"]) >= 1
    assert await redis.xlen(STREAM) == 3


async def test_an_unreachable_broker_answers_503_quickly_and_enqueues_nothing() -> None:
    unreachable = settings(f"redis://127.0.0.1:{free_port()}/0", outbound_timeout_seconds=0.5)
    async with await client_for(unreachable) as client:
        response = await client.post("/v1/deliveryrequests", json=body())
        ready = await client.get("/readyz")
        live = await client.get("/healthz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert (ready.status_code, ready.json()["failing"]["redis"]) == (503, "ConnectionError")
    assert live.status_code == 200


async def test_openapi_documents_the_versioned_routes(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert {"/v1/deliveryrequests", "/v1/deliveryrequests/{delivery_id}"} <= set(paths)


async def test_metrics_count_requests_by_route(api: httpx.AsyncClient) -> None:
    await api.post("/v1/deliveryrequests", json=body())
    metrics = (await api.get("/metrics")).text
    assert 'route="/v1/deliveryrequests"' in metrics
    assert "fabrikam_messages_published_total" in metrics


async def test_a_full_connection_pool_answers_503_after_its_deadline_instead_of_hanging(
    redis_server: RedisServer, redis: Redis
) -> None:
    runtime = Runtime.from_settings(settings(redis_server.url, pool_size=1, pool_wait_seconds=0.2))
    app = create_app(runtime, build)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingestion") as client:
        holder = asyncio.create_task(runtime.redis.blpop(["never-filled"], timeout=3))  # takes the only connection
        await asyncio.sleep(0.2)
        started = time.monotonic()
        response = await client.post("/v1/deliveryrequests", json=body())
        waited = time.monotonic() - started
        await holder
        after = await client.post("/v1/deliveryrequests", json=body())
    assert (response.status_code, response.json()["detail"], response.headers["retry-after"]) == (
        503,
        "overloaded",
        "1",
    )
    assert waited < 2.0
    assert after.status_code == 202
    assert await redis.xlen(STREAM) == 1


async def test_a_string_that_is_not_unicode_text_is_refused_before_the_route_and_enqueues_nothing(
    api: httpx.AsyncClient, redis: Redis
) -> None:
    """An escaped lone surrogate parses in Python but cannot be encoded again: it was a 500 (even its 422 failed
    to render); an escaped pair is ordinary text."""
    lone = json.dumps(body(owner="OWNER")).replace('"OWNER"', '"acme\\ud800"')
    refused = await api.post("/v1/deliveryrequests", content=lone, headers={"content-type": "application/json"})
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["detail"]
    assert (error["type"], error["loc"]) == ("json_invalid", ["body"])
    assert "surrogate" in error["msg"]
    assert await redis.exists(STREAM) == 0
    pair = json.dumps(body(owner="OWNER")).replace('"OWNER"', '"acme\\ud83d\\udce6"')
    accepted = await api.post("/v1/deliveryrequests", content=pair, headers={"content-type": "application/json"})
    assert accepted.status_code == 202, accepted.text


async def test_times_must_be_iso_text_within_this_century(api: httpx.AsyncClient, redis: Redis) -> None:
    """A number was taken for Unix seconds; year 9999 overflowed the ETA added to it later, in delivery."""
    for pickup_time, kind in ((1_900_000_000, "datetime_type"), ("9999-12-31T23:00:00Z", "datetime_range")):
        response = await api.post("/v1/deliveryrequests", json=body(pickupTime=pickup_time))
        assert response.status_code == 422, response.text
        assert [(error["loc"], error["type"]) for error in response.json()["detail"]] == [
            (["body", "pickupTime"], kind)
        ]
    assert await redis.exists(STREAM) == 0
