"""What the status of a DroneService or a DeliveryPlatform says, as documents: pure, so the rules a person reads in
`kubectl get` (Ready, "8/8", what is stalled and why) are unit-tested without an API server; status.py writes them.
"""

from dataclasses import dataclass, field
from typing import Any

from fabrikam.operator.api import Problem
from fabrikam.operator.handlers import conditions
from fabrikam.operator.handlers.conditions import AZURE_REASONS, RECOVERY_TARGET_UNMET, Availability
from fabrikam.operator.render.backing import description as describe_backing


@dataclass
class LastReconcile:
    """What the last reconcile of an owner concluded; the status writers combine it with live children."""

    generation: int
    problems: list[Problem] = field(default_factory=list)
    blocking: bool = False  # nothing could be applied (fatal problem or a refused object)
    endpoint: str | None = None
    waiting: str | None = None  # Azure resources still provisioning: not Ready yet, but nothing is wrong
    azure: list[dict[str, Any]] | None = None  # status.azureResources of a platform
    recovery: list[dict[str, Any]] | None = None  # status.recovery of a platform with spec.recovery
    identity_client_id: str | None = None  # a service's managed identity
    azure_failed_passes: int = 0  # consecutive Azure passes that ended in a retriable failure (backoff, lasting)
    monitoring: str | None = None  # status.monitoring: what watches the owner, or what is missing for it

    def azure_verdict(self) -> tuple[list[Problem], str | None]:
        """What the last Azure pass concluded (its errors, or what is still provisioning): a Kubernetes-only pass
        knows nothing new of Azure, so it carries this over instead of forgetting it until the next Azure pass."""
        carried = [p for p in self.problems if p.reason in AZURE_REASONS or p.reason == RECOVERY_TARGET_UNMET]
        return carried, self.waiting


def service_status(
    body: dict[str, Any], outcome: LastReconcile, deployment: dict[str, Any] | None, availability: Availability
) -> dict[str, Any]:
    """A DroneService's status after a reconcile, given its Deployment as last seen."""
    previous = body.get("status") or {}
    verdicts, ready, desired = conditions.service_conditions(
        problems=outcome.problems,
        blocking=outcome.blocking,
        waiting=outcome.waiting,
        deployment=deployment,
        availability=availability,
    )
    return {
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
        # Nor of what watches the service: that stays as the last pass that rendered it found it.
        "monitoring": outcome.monitoring or previous.get("monitoring") if outcome.blocking else outcome.monitoring,
    }


def health(status: dict[str, Any]) -> str:
    """ready, stalled or progressing, as the status' conditions say (fabrikam_operator_objects)."""
    true = {c["type"] for c in status.get("conditions") or [] if c.get("status") == "True"}
    if "Ready" in true:
        return "ready"
    return "stalled" if conditions.STALLED in true else "progressing"


def is_ready(body: dict[str, Any]) -> bool:
    """Ready for the generation it has now (a Ready of an older generation does not count)."""
    status = body.get("status") or {}
    current = status.get("observedGeneration") == body["metadata"].get("generation")
    return current and any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))


def degraded_of(body: dict[str, Any]) -> str | None:
    for condition in (body.get("status") or {}).get("conditions", []):
        if condition["type"] == "Degraded" and condition["status"] == "True":
            return f"{body['metadata']['namespace']}/{body['metadata']['name']}: {condition['reason']}"
    return None


def stalled_of(body: dict[str, Any]) -> str | None:
    """`namespace/name: reason` of a service stalled at its current generation (an older verdict may not hold)."""
    generation = body["metadata"].get("generation")
    for condition in (body.get("status") or {}).get("conditions", []):
        stalled = condition["type"] == conditions.STALLED and condition["status"] == "True"
        if stalled and condition.get("observedGeneration") == generation:
            return f"{body['metadata']['namespace']}/{body['metadata']['name']}: {condition['reason']}"
    return None


def platform_status(
    body: dict[str, Any], outcome: LastReconcile | None, services: list[dict[str, Any]], teams: list[tuple[str, str]]
) -> dict[str, Any] | None:
    """The platform's status: its DroneServices aggregated ("8/8" ready) per team and overall, its conditions, its
    Azure resources and recovery assessment; None when there is nothing to say (a restarted operator that has not
    reconciled yet knows nothing the stored status does not)."""
    previous = body.get("status") or {}
    if outcome is None and previous.get("conditions"):
        return None
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
    if outcome is None:
        verdicts = conditions.not_reconciled_conditions("the operator has not reconciled this platform yet")
    else:
        verdicts = conditions.platform_conditions(
            problems=outcome.problems,
            blocking=outcome.blocking,
            waiting=outcome.waiting,
            ready=len(ready),
            total=len(services),
            # Sorted: the index lists services in the order they last changed, which differs after a restart.
            degraded_services=sorted(d for d in map(degraded_of, services) if d),
            stalled_services=sorted(s for s in map(stalled_of, services) if s),
        )
    status: dict[str, Any] = {
        "conditions": conditions.merge(previous.get("conditions"), verdicts, generation),
        "observedGeneration": generation if outcome is not None else previous.get("observedGeneration"),
        "servicesReady": f"{len(ready)}/{len(services)}",
        "teams": team_status,
    }
    if backing := describe_backing(body.get("spec") or {}):
        status["backing"] = backing
    if outcome is not None and outcome.monitoring is not None:
        status["monitoring"] = outcome.monitoring
    spec = body.get("spec") or {}
    if outcome is not None and outcome.azure is not None:
        status["azureResources"] = outcome.azure
    elif not spec.get("azure") and previous.get("azureResources"):
        status["azureResources"] = None  # spec.azure removed: a merge patch with null drops the stale list
    if outcome is not None and outcome.recovery is not None:
        status["recovery"] = outcome.recovery
    elif not spec.get("recovery") and previous.get("recovery"):
        status["recovery"] = None
    return status
