"""Service processes as `fabrikam services up` starts them: configured only through the environment, and started
again on a fresh port when another process took theirs between `free_port()` and the bind."""

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer, Service


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process holds, as happens under load when free_port()'s answer is taken first."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_a_service_whose_port_was_taken_starts_again_on_a_fresh_one(
    redis_server: RedisServer, tmp_path: Path, taken_port: int
) -> None:
    service = Service("ingestion", tmp_path, {"FABRIKAM_REDIS_URL": redis_server.url}, port=taken_port)
    service.start()
    try:
        service.wait_ready()
        assert service.port != taken_port
        assert httpx.get(f"{service.url}/readyz", timeout=5).status_code == 200
        assert "address already in use" in service.log_path.read_text().lower()
    finally:
        service.process.stop()


def test_a_server_whose_port_was_taken_starts_again_on_a_fresh_one(tmp_path: Path, taken_port: int) -> None:
    server = RedisServer(tmp_path / "redis", port=taken_port)
    server.start()
    try:
        assert server.port != taken_port
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


async def test_a_service_without_its_database_runs_live_but_unready_and_consumes_nothing(
    redis_server: RedisServer, redis: Redis, tmp_path: Path
) -> None:
    service = Service("package", tmp_path, {"FABRIKAM_REDIS_URL": redis_server.url, "FABRIKAM_LOG_LEVEL": "INFO"})
    service.start()
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
            for _ in range(200):
                try:
                    live = await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            ready = await client.get("/readyz")
    finally:
        service.process.stop()
    assert live.status_code == 200
    assert (ready.status_code, ready.json()["failing"]) == (
        503,
        {"mongo": "not configured: set FABRIKAM_MONGO_URL or FABRIKAM_MONGO_URL_FILE"},
    )
    logged = [json.loads(line) for line in service.log_path.read_text().splitlines() if line.startswith("{")]
    assert any(line["level"] == "error" and "FABRIKAM_MONGO_URL" in line["message"] for line in logged)
    assert not await redis.exists("queue:package-commands")
