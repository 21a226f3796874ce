"""Real servers for the workloads' integration tests: redis-server, FerretDB and PostgreSQL on free ports in temp
dirs."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import FerretDB, PostgreSQL, RedisServer, free_port
from fabrikam.workloads.kit import telemetry
from fabrikam.workloads.kit.messaging.redis_streams import RedisStreamsBroker
from fabrikam.workloads.kit.resilience import redis_client
from fabrikam.workloads.kit.settings import ServiceSettings


@pytest.fixture(scope="session", autouse=True)
def tracing_provider() -> None:
    """The SDK tracer provider the services install, so trace context really propagates."""
    telemetry.configure(ServiceSettings(service="integration-tests", telemetry="none"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A clean database per test, on the bounded pool the services use."""
    client = redis_client(ServiceSettings(redis_url=redis_server.url))
    await client.flushall()
    yield client
    await client.aclose()


def make_broker(redis: Redis, consumer: str = "test-consumer", lock_seconds: float = 0.5) -> RedisStreamsBroker:
    return RedisStreamsBroker(
        redis, consumer, lock_seconds=lock_seconds, max_delivery_count=3, duplicate_window_seconds=60
    )


@pytest.fixture(scope="session")
def ferretdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerretDB]:
    server = FerretDB(Path(tmp_path_factory.mktemp("ferretdb")))
    server.start(timeout=60)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgreSQL]:
    """Debian's PostgreSQL; each test creates its own database (`create_database`)."""
    server = PostgreSQL(tmp_path_factory.mktemp("postgres"))
    server.start()
    yield server
    server.discard()


class _Server(uvicorn.Server):
    """uvicorn without its SIGTERM/SIGINT handlers. Servers started and stopped in one test process restore each
    other's handlers out of order, which can leave a stopped server's `handle_exit` installed; sse-starlette's
    shutdown watcher reads the SIGTERM handler, saw that server's `should_exit`, and cut off the SSE streams of
    later tests (a flaky `test_the_stream_pushes_the_delivery_and_ends_once_it_is_over`)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on `port` (a free one by default) in this event loop, lifespan included."""
    port = port or free_port()
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(20):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Poll `check` until it holds; fail naming it after `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{check.__name__} did not hold within {within} s")
        await asyncio.sleep(0.02)
