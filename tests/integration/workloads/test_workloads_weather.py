"""The weather client against a real local HTTP server: retries, circuit breaker and the safe fallback; and the
scheduler's AssignDrone handler, as the service wires it, taking that fallback when the API is down."""

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer, free_port
from fabrikam.workloads.contracts import SCHEDULER_COMMANDS, WORKFLOW_EVENTS, AssignDrone, Location, PackageSize
from fabrikam.workloads.kit.messaging.message import outgoing
from fabrikam.workloads.kit.messaging.redis_streams import RedisStreamsBroker
from fabrikam.workloads.kit.resilience import circuit_breakers
from fabrikam.workloads.kit.service import Runtime
from fabrikam.workloads.kit.settings import ServiceSettings
from fabrikam.workloads.kit.worker import Handler
from fabrikam.workloads.scheduler.fleet import DroneRegistration, Fleet
from fabrikam.workloads.scheduler.service import build
from fabrikam.workloads.scheduler.weather import WeatherClient

from .conftest import make_broker

# The client's bound when the API never answers: 3 attempts of one timeout each, and the retries' backoff (random,
# at most 0.05 s then 0.1 s: `retry_transient`).
ATTEMPTS, MAX_BACKOFF = 3, 0.15
SLACK = 1.0  # scheduling delays on a loaded machine; far below the 5 s default timeout


class WeatherServer:
    """Answers with the next scripted status; 200 answers carry `flyable`."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.flyable = True
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                status = server.script.pop(0) if server.script else 200
                payload = json.dumps({"flyable": server.flyable}).encode() if status == 200 else b"{}"
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: object) -> None:
                return

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()


@pytest.fixture
def weather_server() -> Iterator[WeatherServer]:
    server = WeatherServer()
    yield server
    server.http.shutdown()


def client(url: str | None, max_age: float = 1800) -> WeatherClient:
    return WeatherClient(url, timeout_seconds=2, fallback_max_age_seconds=max_age, breakers=circuit_breakers())


async def test_transient_errors_are_retried(weather_server: WeatherServer) -> None:
    weather_server.script = [503, 502]
    verdict = await client(weather_server.url).verdict(47.6, -122.3)
    assert (verdict.flyable, verdict.source, weather_server.requests) == (True, "api", 3)


async def test_a_client_error_is_not_retried_and_falls_back_to_not_flyable(weather_server: WeatherServer) -> None:
    weather_server.script = [400]
    verdict = await client(weather_server.url).verdict(47.6, -122.3)
    assert (verdict.flyable, verdict.source, weather_server.requests) == (False, "fallback", 1)


async def test_an_outage_uses_the_recent_verdict_then_opens_the_breaker(weather_server: WeatherServer) -> None:
    weather = client(weather_server.url)
    assert (await weather.verdict(47.6, -122.3)).source == "api"
    weather_server.script = [503] * 100
    verdicts = [await weather.verdict(47.6, -122.3) for _ in range(8)]
    assert {(verdict.flyable, verdict.source) for verdict in verdicts} == {(True, "cache")}
    requests_when_open = weather_server.requests
    await weather.verdict(47.6, -122.3)
    assert weather_server.requests == requests_when_open  # the open breaker answers without a call
    unseen_area = await weather.verdict(10.0, 10.0)
    assert (unseen_area.flyable, unseen_area.source) == (False, "fallback")


async def test_without_an_api_the_check_is_off() -> None:
    verdict = await client(None).verdict(47.6, -122.3)
    assert (verdict.flyable, verdict.source) == (True, "disabled")


@pytest.fixture
def silent_url() -> Iterator[str]:
    """An API that accepts connections (the kernel completes the handshake) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def refused_url() -> str:
    """An API whose server is not running: nothing listens on the port, connections are refused."""
    return f"http://127.0.0.1:{free_port()}"


async def timed_verdict(weather: WeatherClient) -> tuple[float, bool, str]:
    started = time.perf_counter()
    verdict = await weather.verdict(47.6, -122.3)
    return time.perf_counter() - started, verdict.flyable, verdict.source


async def test_an_api_that_is_not_running_falls_back_to_not_flyable_at_once() -> None:
    weather = client(refused_url())
    seconds, flyable, source = await timed_verdict(weather)
    await weather.close()
    assert (flyable, source) == (False, "fallback")
    assert seconds < MAX_BACKOFF + SLACK  # refused: no timeout to wait for


async def test_an_api_that_never_answers_times_out_within_the_bound_then_falls_back(silent_url: str) -> None:
    timeout = 0.4
    weather = WeatherClient(
        silent_url, timeout_seconds=timeout, fallback_max_age_seconds=1800, breakers=circuit_breakers()
    )
    seconds, flyable, source = await timed_verdict(weather)
    await weather.close()
    assert (flyable, source) == (False, "fallback")
    assert ATTEMPTS * timeout * 0.9 <= seconds < ATTEMPTS * timeout + MAX_BACKOFF + SLACK


async def test_a_silent_api_opens_the_breaker_after_five_verdicts_and_then_costs_no_wait(silent_url: str) -> None:
    timeout = 0.1
    weather = WeatherClient(
        silent_url, timeout_seconds=timeout, fallback_max_age_seconds=1800, breakers=circuit_breakers()
    )
    waited = [await timed_verdict(weather) for _ in range(6)]
    await weather.close()
    assert {(flyable, source) for _, flyable, source in waited} == {(False, "fallback")}
    assert all(seconds >= ATTEMPTS * timeout * 0.9 for seconds, _, _ in waited[:5])
    assert waited[5][0] < timeout  # the open breaker answers without calling, not even one attempt


@contextlib.asynccontextmanager
async def assign_handler(
    redis_server: RedisServer, redis: Redis, **configured: Any
) -> AsyncIterator[tuple[Handler, RedisStreamsBroker]]:
    """The scheduler's AssignDrone handler as its service builds it from settings, publishing to a real broker."""
    settings = ServiceSettings(service="scheduler", redis_url=redis_server.url, **configured)
    broker = make_broker(redis)
    parts = build(Runtime(settings, redis, broker))
    try:
        yield parts.consumers[SCHEDULER_COMMANDS][AssignDrone.__name__], broker
    finally:
        for stop in parts.on_stop:
            await stop()


async def assign(handler: Handler, broker: RedisStreamsBroker, delivery_id: str) -> tuple[float, str, dict[str, Any]]:
    """Handle one AssignDrone; returns how long it took and the one reply it published."""
    command = AssignDrone(
        delivery_id=delivery_id, pickup=Location(latitude=47.6, longitude=-122.3), size=PackageSize.small
    )
    started = time.perf_counter()
    await handler(outgoing(f"AssignDrone:{delivery_id}", command))
    seconds = time.perf_counter() - started
    [reply] = await broker.receive(WORKFLOW_EVENTS, 10, wait_seconds=0.1)
    await broker.complete(reply)
    return seconds, reply.message.type, reply.message.body


async def fleet_of_two(redis: Redis) -> Fleet:
    fleet = Fleet(redis, radius_km=50, min_battery=30)
    for name in ("drone-1", "drone-2"):
        registration = DroneRegistration(
            latitude=47.6, longitude=-122.3, battery=90, payload_class=PackageSize.large, speed_mps=12
        )
        await fleet.register(name, registration)
    return fleet


async def test_with_the_weather_api_not_running_assign_drone_answers_unavailable_and_takes_no_drone(
    redis_server: RedisServer, redis: Redis
) -> None:
    fleet = await fleet_of_two(redis)
    async with assign_handler(redis_server, redis, weather_url=refused_url()) as (handler, broker):
        seconds, reply, body = await assign(handler, broker, "d-1")
    assert (reply, body) == (
        "DroneUnavailable",
        {"deliveryId": "d-1", "reason": "weather at pickup is not flyable (fallback)"},
    )
    assert seconds < MAX_BACKOFF + SLACK
    assert await fleet.available_count() == 2
    assert await redis.get("drones:assignment:d-1") is None


async def test_with_a_weather_api_that_never_answers_assign_drone_falls_back_within_the_configured_timeouts(
    redis_server: RedisServer, redis: Redis, silent_url: str
) -> None:
    """The bound comes from FABRIKAM_OUTBOUND_TIMEOUT_SECONDS, well inside the handler's own deadline."""
    timeout = 0.4
    fleet = await fleet_of_two(redis)
    async with assign_handler(redis_server, redis, weather_url=silent_url, outbound_timeout_seconds=timeout) as (
        handler,
        broker,
    ):
        seconds, reply, body = await assign(handler, broker, "d-1")
    assert (reply, body["reason"]) == ("DroneUnavailable", "weather at pickup is not flyable (fallback)")
    assert ATTEMPTS * timeout * 0.9 <= seconds < ATTEMPTS * timeout + MAX_BACKOFF + SLACK
    assert seconds < ServiceSettings().handler_timeout_seconds
    assert await fleet.available_count() == 2


@pytest.mark.parametrize(
    ("max_age", "while_down"),
    [(1800.0, ("DroneAssigned", None)), (0.0, ("DroneUnavailable", "weather at pickup is not flyable (fallback)"))],
)
async def test_when_the_api_stops_assign_drone_uses_the_last_verdict_while_fresh_else_grounds(
    redis_server: RedisServer,
    redis: Redis,
    weather_server: WeatherServer,
    max_age: float,
    while_down: tuple[str, str | None],
) -> None:
    fleet = await fleet_of_two(redis)
    async with assign_handler(
        redis_server, redis, weather_url=weather_server.url, weather_fallback_max_age_seconds=max_age
    ) as (handler, broker):
        _, first, _ = await assign(handler, broker, "d-1")
        await asyncio.to_thread(weather_server.http.shutdown)
        weather_server.http.server_close()  # the port now refuses connections
        _, reply, body = await assign(handler, broker, "d-2")
    assert (first, weather_server.requests) == ("DroneAssigned", 1)
    assert (reply, body.get("reason")) == while_down
    assert await fleet.available_count() == (0 if while_down[0] == "DroneAssigned" else 1)
