"""Assembles a workload: FastAPI app, health and metrics, queue workers, and graceful shutdown."""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fabrikam.workloads.kit import health, logs, openapi, requirements, telemetry
from fabrikam.workloads.kit.messaging import factory
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.metrics import REDIS_POOLS
from fabrikam.workloads.kit.middleware import CorrelationAndMetrics
from fabrikam.workloads.kit.requirements import Need
from fabrikam.workloads.kit.resilience import Overloaded, is_pool_full, redis_client, when_reachable
from fabrikam.workloads.kit.settings import ServiceSettings
from fabrikam.workloads.kit.unicode_bodies import UnicodeJsonBodies
from fabrikam.workloads.kit.worker import Handler, QueueWorker

log = logging.getLogger(__name__)

# Every service's Runtime holds a Redis client (state, turn pipelines, Redis Streams) and a broker.
RUNTIME_NEEDS = (Need.REDIS, Need.BROKER)


@dataclass
class Runtime:
    """Connections a service shares between its routes and handlers; closed once at shutdown."""

    settings: ServiceSettings
    redis: Redis
    broker: Broker

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> "Runtime":
        redis = redis_client(settings)
        REDIS_POOLS.watch(redis.connection_pool)
        return cls(settings, redis, factory.broker(settings, redis))

    async def close(self) -> None:
        await self.broker.close()
        await self.redis.aclose()


@dataclass
class ServiceParts:
    """What one service contributes: its API, its queue handlers and its readiness checks."""

    title: str
    routers: Sequence[APIRouter] = ()
    consumers: Mapping[str, Mapping[str, Handler]] = field(default_factory=dict)
    readiness: Mapping[str, health.ReadinessCheck] = field(default_factory=dict)
    on_start: Sequence[Callable[[], Awaitable[None]]] = ()
    on_stop: Sequence[Callable[[], Awaitable[None]]] = ()


ServiceBuilder = Callable[[Runtime], ServiceParts]


def _documented(app: FastAPI) -> FastAPI:
    """The app, serving an OpenAPI that declares the errors the kit answers on every route (`kit/openapi.py`)."""
    generate = app.openapi

    def document() -> dict[str, Any]:
        return openapi.with_kit_errors(generate())

    app.openapi = document  # type: ignore[method-assign]
    return app


async def _unavailable(_: Request, error: Exception) -> JSONResponse:
    """A full pool or an unreachable dependency is a 503 with Retry-After, never a hang (seed: exhaustion)."""
    detail = "overloaded" if isinstance(error, Overloaded) or is_pool_full(error) else "dependency unavailable"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})


def create_app(runtime: Runtime, build: ServiceBuilder) -> FastAPI:
    """The FastAPI app of one service; its lifespan runs the queue workers and stops them gracefully."""
    settings = runtime.settings
    parts = build(runtime)
    workers = [
        QueueWorker(
            runtime.broker,
            queue,
            handlers,
            service=settings.service,
            concurrency=settings.concurrency,
            lock_seconds=settings.lock_seconds,
            grace_seconds=settings.shutdown_grace_seconds,
            handler_timeout_seconds=settings.handler_timeout_seconds,
        )
        for queue, handlers in parts.consumers.items()
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for start in parts.on_start:
            await when_reachable(
                start, getattr(start, "__qualname__", "start"), within_seconds=settings.start_wait_seconds
            )
        tasks = [asyncio.create_task(worker.run()) for worker in workers]
        log.info("started", extra={"fields": {"queues": list(parts.consumers), "port": settings.port}})
        try:
            yield
        finally:
            await asyncio.gather(*(worker.stop() for worker in workers))
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for stop in parts.on_stop:
                await stop()
            await runtime.close()
            log.info("stopped")

    async def redis_ready() -> object:
        return await runtime.redis.ping()

    checks = {"redis": redis_ready, "broker": runtime.broker.ping, **parts.readiness}
    # FastAPI's native telemetry gives the HTTP server span (joining an incoming traceparent); its per-step
    # operation spans cost more than they tell on the hot path. Exporters are the kit's (`kit/telemetry.py`),
    # never FastAPI's own from the environment, which would send every span twice.
    app = FastAPI(
        title=parts.title,
        version="1.0.0",
        lifespan=lifespan,
        telemetry={
            "tracing": True,
            "operation_spans": False,
            "metrics": False,
            "logs": False,
            "auto_configure": False,
        },
    )
    app.include_router(health.router(checks))
    for router in parts.routers:
        app.include_router(router)
    app.add_exception_handler(Overloaded, _unavailable)
    app.add_exception_handler(redis_errors.ConnectionError, _unavailable)
    app.add_exception_handler(redis_errors.TimeoutError, _unavailable)
    app.add_middleware(UnicodeJsonBodies)
    app.add_middleware(CorrelationAndMetrics, service=settings.service)  # the outer one: it sees every answer
    return _documented(app)


def unconfigured_app(settings: ServiceSettings, missing: Mapping[str, str]) -> FastAPI:
    """Liveness, metrics and a readiness that names what is missing; no API, no queue consumer."""

    def failing(reason: str) -> health.ReadinessCheck:
        async def check() -> object:
            raise health.NotReady(reason)

        return check

    app = FastAPI(title=f"Fabrikam {settings.service} (not configured)", version="1.0.0")
    app.include_router(health.router({name: failing(reason) for name, reason in missing.items()}))
    return _documented(app)


def app_for(settings: ServiceSettings, build: ServiceBuilder, needs: Sequence[Need] = ()) -> FastAPI:
    """The service's app once what it needs is configured; until then one that is live but never ready."""
    missing = requirements.missing(settings, (*RUNTIME_NEEDS, *needs))
    if missing:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in missing.items())
        log.error("not ready until configured: %s", reasons, extra={"fields": {"missing": missing}})
        return unconfigured_app(settings, missing)
    return create_app(Runtime.from_settings(settings), build)


def flushing_at_stop(app: ASGIApp, exporting: telemetry.Telemetry) -> ASGIApp:
    """The app, sending what telemetry is left once its lifespan has stopped. uvicorn raises SIGTERM again after
    the server stops, so nothing after `uvicorn.run` would run on a pod's stop."""

    async def served(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def send_after_flush(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await asyncio.to_thread(exporting.shutdown)
            await send(message)

        await app(scope, receive, send_after_flush)

    return served


def run(settings: ServiceSettings, build: ServiceBuilder, needs: Sequence[Need] = ()) -> None:
    """Serve one workload with uvicorn on uvloop/httptools; SIGTERM triggers the graceful lifespan exit."""
    import uvicorn

    logs.configure(settings.service, settings.log_level)
    exporting = telemetry.configure(settings)
    app = flushing_at_stop(app_for(settings, build, needs), exporting)
    # Long-lived objects built at start-up leave the collector's view, and young collections run less often:
    # fewer, shorter pauses in the latency tail of a request-per-millisecond service.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 1,
        backlog=2048,
    )
