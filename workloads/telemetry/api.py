"""Telemetry routes: a batch endpoint, a WebSocket stream for long-lived drone links, and the latest state."""

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pydantic_core
from fastapi import APIRouter, Depends, HTTPException, Path, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from fabrikam.workloads.contracts import DELIVERY_TELEMETRY, DronePositionReported
from fabrikam.workloads.kit.auth import Auth, InvalidToken, Role
from fabrikam.workloads.kit.messaging.message import outgoing
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.openapi import declared
from fabrikam.workloads.kit.resilience import retry_transient
from fabrikam.workloads.kit.settings import ServiceSettings
from fabrikam.workloads.telemetry.models import (
    DRONE_ID_PATTERN,
    BatchAccepted,
    TelemetryBatch,
    TelemetryReport,
    out_of_range,
)
from fabrikam.workloads.telemetry.store import DroneStates

# Publishes of one batch run concurrently, bounded well below the connection pool.
PUBLISH_CONCURRENCY = 16


class Rejected(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid telemetry")
        self.errors = errors


class Ingest:
    """Validate, store the newer states, publish their positions: all or nothing on validation."""

    def __init__(self, states: DroneStates, broker: Broker, settings: ServiceSettings) -> None:
        self._states = states
        self._broker = broker
        self._settings = settings

    async def __call__(self, reports: list[TelemetryReport]) -> BatchAccepted:
        if len(reports) > self._settings.telemetry_max_batch:
            message = f"at most {self._settings.telemetry_max_batch} reports per batch"
            raise Rejected([{"loc": ["body", "reports"], "msg": message, "type": "too_long"}])
        errors = out_of_range(
            reports,
            max_speed_mps=self._settings.telemetry_max_speed_mps,
            max_skew_seconds=self._settings.telemetry_max_clock_skew_seconds,
        )
        if errors:
            raise Rejected(errors)
        newer = await self._states.put_newer(reports)
        await self._publish(newer)
        return BatchAccepted(accepted=len(reports), published=len(newer))

    async def _publish(self, reports: Sequence[TelemetryReport]) -> None:
        """Drones in parallel, each drone's reports in order."""
        gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)
        by_drone: dict[str, list[TelemetryReport]] = defaultdict(list)
        for report in reports:
            by_drone[report.drone_id].append(report)

        async def drone(ordered: list[TelemetryReport]) -> None:
            async with gate:
                for report in ordered:
                    await one(report)

        async def one(report: TelemetryReport) -> None:
            position = DronePositionReported(
                drone_id=report.drone_id,
                latitude=report.latitude,
                longitude=report.longitude,
                speed_mps=report.speed_mps,
                reported_at=report.reported_at,
            )
            millis = int(report.reported_at.timestamp() * 1000)
            message = outgoing(f"DronePositionReported:{report.drone_id}:{millis}", position)
            await retry_transient(lambda: self._broker.publish(DELIVERY_TELEMETRY, message))

        await asyncio.gather(*(drone(ordered) for ordered in by_drone.values()))


def router(ingest: Ingest, states: DroneStates, auth: Auth) -> APIRouter:
    api = APIRouter(tags=["telemetry"])
    operator = auth.require(Role.drone_operator)

    @api.post(
        "/v1/telemetry",
        status_code=202,
        response_model=BatchAccepted,
        summary="Report a batch of drone telemetry",
        dependencies=[Depends(operator)],
    )
    async def report(batch: TelemetryBatch) -> BatchAccepted | JSONResponse:
        """Every report is checked before any is stored: one bad report refuses the batch, naming the field.
        A report older than the drone's stored state is accepted but neither stored nor published."""
        try:
            return await ingest(batch.reports)
        except Rejected as rejected:
            return JSONResponse({"detail": rejected.errors}, status_code=422)

    @api.websocket("/v1/telemetry/stream")
    async def stream(websocket: WebSocket) -> None:
        """Each text frame is one report or a list of them; each gets an answer frame, accepted or refused."""
        try:
            principal = await auth.principal(websocket.headers.get("authorization"))
        except InvalidToken as error:
            await websocket.close(code=1008, reason=str(error)[:120])
            return
        if principal is not None and Role.drone_operator not in principal.roles:
            await websocket.close(code=1008, reason="requires the drone_operator role")
            return
        await websocket.accept()
        try:
            while True:
                await websocket.send_json(await _frame(ingest, await websocket.receive_text()))
        except WebSocketDisconnect:
            return

    @api.get(
        "/v1/drones/{drone_id}/state",
        response_model=TelemetryReport,
        responses=declared(404),
        summary="The drone's latest reported state",
        dependencies=[Depends(auth.require())],
    )
    async def state(drone_id: str = Path(pattern=DRONE_ID_PATTERN)) -> TelemetryReport:
        latest = await states.get(drone_id)
        if latest is None:
            raise HTTPException(404, f"no telemetry from drone {drone_id}")
        return latest

    return api


async def _frame(ingest: Ingest, text: str) -> dict[str, Any]:
    """Parsed by jiter, which refuses a string that is not Unicode text (`kit/unicode_bodies.py`): one would
    come back in the refusal's `input` and fail the answer frame."""
    try:
        payload = pydantic_core.from_json(text)
        batch = TelemetryBatch.model_validate({"reports": payload if isinstance(payload, list) else [payload]})
        return (await ingest(batch.reports)).model_dump(by_alias=True)
    except ValidationError as error:
        return {"detail": [{**e, "loc": ["frame", *e["loc"][1:]]} for e in error.errors(include_url=False)]}
    except ValueError as error:  # pydantic_core.from_json's, after the ValidationError it is the base of
        return {"detail": [{"loc": ["frame"], "msg": f"invalid JSON: {error}", "type": "json_invalid"}]}
    except Rejected as rejected:
        return {"detail": [{**e, "loc": ["frame", *e["loc"][2:]]} for e in rejected.errors]}
