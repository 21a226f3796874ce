"""DroneService: render its children from the spec, its platform and its peers; apply; report status."""

import time
from typing import Any

import kopf
from pydantic import ValidationError

from fabrikam.operator.api import GROUP, VERSION
from fabrikam.operator.apply.applier import ApplyError, apply_objects
from fabrikam.operator.handlers import indexes
from fabrikam.operator.handlers.parsing import first_error, parse_platform, parse_service, peers_of
from fabrikam.operator.handlers.runtime import RUNTIME, Outcome
from fabrikam.operator.handlers.status import write_service_status
from fabrikam.operator.metrics import RECONCILE_SECONDS, RECONCILES
from fabrikam.operator.render import ServiceFacts, endpoint, render_drone_service, validate_drone_service

KIND = "DroneService"
RETRY_AFTER_REFUSAL = 30.0


@kopf.on.resume(GROUP, VERSION, "droneservices")
@kopf.on.create(GROUP, VERSION, "droneservices")
@kopf.on.update(GROUP, VERSION, "droneservices")
@kopf.timer(GROUP, VERSION, "droneservices", interval=RUNTIME.settings.resync_seconds, idle=10)
async def reconcile_service(
    *, body: kopf.Body, namespace: str | None, name: str, logger: kopf.Logger, **kwargs: Any
) -> None:
    """`platforms` and `services_by_platform` are kopf indexes (see indexes.py), passed by name."""
    started = time.monotonic()
    snapshot = indexes.snapshot(body)
    try:
        result = await _reconcile(
            snapshot, namespace or "", name, kwargs["platforms"], kwargs["services_by_platform"], logger
        )
    finally:
        RECONCILE_SECONDS.labels(KIND).observe(time.monotonic() - started)
    RECONCILES.labels(KIND, result).inc()


async def _reconcile(
    body: dict[str, Any],
    namespace: str,
    name: str,
    platforms: kopf.Index[str, dict[str, Any]],
    services_by_platform: kopf.Index[str, dict[str, Any]],
    logger: kopf.Logger,
) -> str:
    owner = (KIND, namespace, name)
    generation = int(body["metadata"].get("generation", 0))
    try:
        svc = parse_service(body)
    except ValidationError as error:
        field, message = first_error(error)
        return await _blocked(body, owner, Outcome(generation, [("InvalidSpec", f"{field}: {message}")], True))
    platform_body = indexes.one(platforms, svc.spec.platform_ref.name)
    platform = parse_platform(platform_body) if platform_body else None
    peers = peers_of(list(services_by_platform.get(svc.spec.platform_ref.name, [])))
    problems = validate_drone_service(svc, platform=platform, peers=peers)
    reasons = [(p.reason, str(p)) for p in problems]
    if platform is None or any(p.fatal for p in problems):
        return await _blocked(body, owner, Outcome(generation, reasons, True))

    facts = ServiceFacts(identity_client_id=(body.get("status") or {}).get("identityClientId"))
    objects = render_drone_service(svc, platform=platform, peers=peers, facts=facts)
    outcome = Outcome(generation, reasons, False, endpoint(svc, platform=platform))
    # Remember the intent before sending it, so the drift watcher never reverts a change we are making.
    RUNTIME.remember(owner, objects, outcome)
    try:
        applied = await apply_objects(RUNTIME.kube(), objects, concurrency=RUNTIME.settings.apply_concurrency)
    except ApplyError as error:
        refused = Outcome(generation, [(error.reason, str(error)), *reasons], True)
        RUNTIME.outcomes[owner] = refused
        await _report(body, refused, None)
        raise kopf.TemporaryError(str(error), delay=RETRY_AFTER_REFUSAL) from error
    if applied.sent:
        logger.info("applied %d of %d objects: %s", len(applied.sent), len(objects), ", ".join(applied.sent))
        kopf.info(
            indexes.as_body(body),
            reason="Applied",
            message=f"applied {len(applied.sent)} changed objects of {len(objects)}",
        )
    deployment = next((live for key, live in applied.live.items() if key.startswith("Deployment ")), None)
    await _report(body, outcome, deployment)
    return "applied" if applied.sent else "unchanged"


async def _blocked(body: dict[str, Any], owner: tuple[str, str, str], outcome: Outcome) -> str:
    RUNTIME.remember(owner, [], outcome)
    await _report(body, outcome, None)
    return "degraded"


async def _report(body: dict[str, Any], outcome: Outcome, deployment: dict[str, Any] | None) -> None:
    """Writes the status when it changed, with an Event when a problem appears or changes."""
    before = _degraded_reason(body)
    if await write_service_status(body, outcome, deployment) and outcome.reasons:
        reason, message = outcome.reasons[0]
        if reason != before:
            kopf.warn(indexes.as_body(body), reason=reason, message=message)


def _degraded_reason(body: dict[str, Any]) -> str | None:
    for condition in (body.get("status") or {}).get("conditions", []):
        if condition["type"] == "Degraded" and condition["status"] == "True":
            return str(condition["reason"])
    return None


@kopf.on.delete(GROUP, VERSION, "droneservices", optional=True)
def forget_service(*, namespace: str | None, name: str, **_: Any) -> None:
    """Children go with their owner (owner references); only the in-memory state must be dropped."""
    RUNTIME.forget((KIND, namespace or "", name))
