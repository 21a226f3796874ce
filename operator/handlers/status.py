"""Writes the status of DroneServices and DeliveryPlatforms (report.py says what it is), only when it changed: idle
resyncs write nothing. The one place statuses are written."""

from typing import Any

from pydantic import ValidationError

from fabrikam.operator.apply.client import KubeApi
from fabrikam.operator.handlers import report
from fabrikam.operator.handlers.conditions import Availability, changed
from fabrikam.operator.handlers.parsing import ParsedModels
from fabrikam.operator.handlers.report import LastReconcile
from fabrikam.operator.metrics import HEALTH


async def write_service_status(
    api: KubeApi,
    body: dict[str, Any],
    outcome: LastReconcile,
    deployment: dict[str, Any] | None,
    models: ParsedModels,
) -> bool:
    status = report.service_status(body, outcome, deployment, _availability(models, body, outcome.generation))
    meta = body["metadata"]
    HEALTH.record("DroneService", meta["namespace"], meta["name"], report.health(status))
    return await _write(api, body, status)


async def write_platform_status(
    api: KubeApi,
    body: dict[str, Any],
    outcome: LastReconcile | None,
    services: list[dict[str, Any]],
    teams: list[tuple[str, str]],
) -> bool:
    status = report.platform_status(body, outcome, services, teams)
    if status is not None:
        HEALTH.record("DeliveryPlatform", "", body["metadata"]["name"], report.health(status))
    return await _write(api, body, status)


async def _write(api: KubeApi, body: dict[str, Any], status: dict[str, Any] | None) -> bool:
    if status is None or not changed(body.get("status") or {}, status):
        return False
    await api.patch_status(body, status)
    return True


def _availability(models: ParsedModels, body: dict[str, Any], generation: int) -> Availability:
    """The service's disruption floor, and whether it was Ready for this generation already."""
    try:
        spec = models.service(body).spec
    except ValidationError:
        return Availability()
    previous = body.get("status") or {}
    was_ready = previous.get("observedGeneration") == generation and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in previous.get("conditions") or []
    )
    return Availability(spec.autoscaling.min_replicas - spec.disruption.max_unavailable, was_ready)
