"""Writes the status of DroneServices and DeliveryPlatforms, only when it changed (idle resyncs write nothing)."""

from typing import Any

from pydantic import ValidationError

from fabrikam.operator.handlers import conditions
from fabrikam.operator.handlers.conditions import Availability
from fabrikam.operator.handlers.parsing import parse_service
from fabrikam.operator.handlers.runtime import RUNTIME, LastReconcile
from fabrikam.operator.render.backing import description as describe_backing


async def write_service_status(body: dict[str, Any], outcome: LastReconcile, deployment: dict[str, Any] | None) -> bool:
    previous = body.get("status") or {}
    verdicts, ready, desired = conditions.service_conditions(
        reasons=outcome.reasons,
        blocking=outcome.blocking,
        waiting=outcome.waiting,
        deployment=deployment,
        availability=_availability(body, outcome.generation),
    )
    status = {
        "conditions": conditions.merge(previous.get("conditions"), verdicts, outcome.generation),
        "observedGeneration": outcome.generation,
        "readyReplicas": ready,
        "desiredReplicas": desired,
        "endpoint": outcome.endpoint,
        # A blocked pass knows nothing new of the identity; otherwise the pass says (None: no Azure identity).
        "identityClientId": (
            outcome.identity_client_id or previous.get("identityClientId")
            if outcome.blocking
            else outcome.identity_client_id
        ),
    }
    if not conditions.changed(previous, status):
        return False
    await RUNTIME.kube().patch_status(body, status)
    return True


def _availability(body: dict[str, Any], generation: int) -> Availability:
    """The service's disruption floor, and whether it was Ready for this generation already."""
    try:
        spec = parse_service(body).spec
    except ValidationError:
        return Availability()
    previous = body.get("status") or {}
    was_ready = previous.get("observedGeneration") == generation and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in previous.get("conditions") or []
    )
    return Availability(spec.autoscaling.min_replicas - spec.disruption.max_unavailable, was_ready)


def is_ready(body: dict[str, Any]) -> bool:
    status = body.get("status") or {}
    current = status.get("observedGeneration") == body["metadata"].get("generation")
    return current and any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))


def _degraded(body: dict[str, Any]) -> str | None:
    for condition in (body.get("status") or {}).get("conditions", []):
        if condition["type"] == "Degraded" and condition["status"] == "True":
            return f"{body['metadata']['namespace']}/{body['metadata']['name']}: {condition['reason']}"
    return None


def _stalled(body: dict[str, Any]) -> str | None:
    """`namespace/name: reason` of a service stalled at its current generation (an older verdict may not hold)."""
    generation = body["metadata"].get("generation")
    for condition in (body.get("status") or {}).get("conditions", []):
        stalled = condition["type"] == conditions.STALLED and condition["status"] == "True"
        if stalled and condition.get("observedGeneration") == generation:
            return f"{body['metadata']['namespace']}/{body['metadata']['name']}: {condition['reason']}"
    return None


async def write_platform_status(
    body: dict[str, Any], outcome: LastReconcile | None, services: list[dict[str, Any]], teams: list[tuple[str, str]]
) -> bool:
    """Aggregates the platform's DroneServices ("8/8" ready) per team and overall."""
    previous = body.get("status") or {}
    if outcome is None and previous.get("conditions"):
        # A restarted operator (a drain moved it) has not reconciled yet: it knows nothing the stored status does not.
        return False
    generation = body["metadata"].get("generation", 0)
    ready = [s for s in services if is_ready(s)]
    team_status = [
        {
            "name": team,
            "namespace": namespace,
            "servicesReady": f"{sum(1 for s in ready if s['metadata']['namespace'] == namespace)}/"
            f"{sum(1 for s in services if s['metadata']['namespace'] == namespace)}",
        }
        for team, namespace in teams
    ]
    summary = f"{len(ready)}/{len(services)}"
    if outcome is None:
        verdicts = conditions.not_reconciled_conditions("the operator has not reconciled this platform yet")
    else:
        verdicts = conditions.platform_conditions(
            reasons=outcome.reasons,
            blocking=outcome.blocking,
            waiting=outcome.waiting,
            ready=len(ready),
            total=len(services),
            # Sorted: the index lists services in the order they last changed, which differs after a restart.
            degraded_services=sorted(d for d in map(_degraded, services) if d),
            stalled_services=sorted(s for s in map(_stalled, services) if s),
        )
    status = {
        "conditions": conditions.merge(previous.get("conditions"), verdicts, generation),
        "observedGeneration": generation if outcome is not None else previous.get("observedGeneration"),
        "servicesReady": summary,
        "teams": team_status,
    }
    if backing := describe_backing(body.get("spec") or {}):
        status["backing"] = backing
    if outcome is not None and outcome.azure is not None:
        status["azureResources"] = outcome.azure
    elif not (body.get("spec") or {}).get("azure") and previous.get("azureResources"):
        status["azureResources"] = None  # spec.azure removed: a merge patch with null drops the stale list
    if outcome is not None and outcome.recovery is not None:
        status["recovery"] = outcome.recovery
    elif not (body.get("spec") or {}).get("recovery") and previous.get("recovery"):
        status["recovery"] = None
    if not conditions.changed(previous, status):
        return False
    await RUNTIME.kube().patch_status(body, status)
    return True
