"""The weather client against a real local HTTP server: retries, circuit breaker and the safe fallback."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fabrikam.workloads.kit.resilience import circuit_breakers
from fabrikam.workloads.scheduler.weather import WeatherClient


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
