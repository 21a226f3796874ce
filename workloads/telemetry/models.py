"""Telemetry reports as drones send them, and the checks that need the service's settings."""

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field

from fabrikam.workloads.contracts import Contract, IsoDatetime

DRONE_ID_PATTERN = r"^[A-Za-z0-9-]{1,64}$"


class FlightMode(StrEnum):
    docked = "docked"
    takeoff = "takeoff"
    cruise = "cruise"
    hover = "hover"
    landing = "landing"
    returning = "returning"


class Health(StrEnum):
    ok = "ok"
    degraded = "degraded"
    fault = "fault"


class TelemetryReport(Contract):
    """One drone at one instant; ranges a real drone cannot leave are refused with the field named."""

    drone_id: str = Field(pattern=DRONE_ID_PATTERN)
    latitude: float = Field(strict=True, ge=-90, le=90)
    longitude: float = Field(strict=True, ge=-180, le=180)
    altitude_m: float = Field(strict=True, ge=-100, le=1000)
    battery: float = Field(strict=True, ge=0, le=100)
    speed_mps: float = Field(strict=True, ge=0)
    heading: float = Field(default=0.0, strict=True, ge=0, lt=360)
    flight_mode: FlightMode
    health: Health = Health.ok
    reported_at: IsoDatetime


class TelemetryBatch(Contract):
    reports: list[TelemetryReport] = Field(min_length=1)


class BatchAccepted(Contract):
    accepted: int
    published: int


def out_of_range(
    reports: list[TelemetryReport], *, max_speed_mps: float, max_skew_seconds: float, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Errors shaped like FastAPI's 422 details for limits that come from settings, not from the schema."""
    now = now or datetime.now(UTC)
    errors: list[dict[str, Any]] = []
    for index, report in enumerate(reports):
        if report.speed_mps > max_speed_mps:
            errors.append(_error(index, "speedMps", f"speedMps {report.speed_mps} exceeds {max_speed_mps}"))
        if report.reported_at - now > timedelta(seconds=max_skew_seconds):
            errors.append(_error(index, "reportedAt", f"reportedAt is more than {max_skew_seconds:.0f}s ahead"))
    return errors


def _error(index: int, field: str, message: str) -> dict[str, Any]:
    return {"loc": ["body", "reports", index, field], "msg": message, "type": "out_of_range"}
