"""Liveness says the process runs; readiness checks dependencies, so a broken Redis never restarts pods."""

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

ReadinessCheck = Callable[[], Awaitable[object]]


class NotReady(Exception):
    """A failing check that knows why in words (say, which variable to set); others are named by their class."""


class Readiness(BaseModel):
    status: str = Field(description="`ready`, or `unavailable` with the failing dependencies")
    failing: dict[str, str] = Field(default_factory=dict, description="Each failing dependency and why")


def router(checks: Mapping[str, ReadinessCheck], timeout_seconds: float = 1.0) -> APIRouter:
    """`/healthz`, `/readyz` and `/metrics`, outside the versioned API."""
    health = APIRouter(tags=["health"])

    @health.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Process-only liveness: never touches a dependency (seed: probes checking databases)."""
        return {"status": "ok"}

    @health.get(
        "/readyz",
        responses={200: {"model": Readiness}, 503: {"model": Readiness, "description": "Not ready, and why"}},
    )
    async def readyz() -> JSONResponse:
        """Ready when every dependency answers within the timeout; names the ones that do not."""
        failing: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout_seconds)
            except NotReady as error:
                failing[name] = str(error)
            except Exception as error:
                failing[name] = type(error).__name__
        if failing:
            return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    @health.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return health
