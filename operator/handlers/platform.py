"""DeliveryPlatform: team namespaces and guard rails, the bundled DroneServices, the aggregated status."""

import time
from typing import Any

import kopf
from pydantic import ValidationError

from fabrikam.operator.api import GROUP, VERSION
from fabrikam.operator.apply.applier import ApplyError, apply_objects
from fabrikam.operator.handlers import indexes
from fabrikam.operator.handlers.parsing import first_error, parse_platform
from fabrikam.operator.handlers.runtime import RUNTIME, Outcome
from fabrikam.operator.handlers.status import write_platform_status
from fabrikam.operator.metrics import RECONCILE_SECONDS, RECONCILES
from fabrikam.operator.render import expand_platform, validate_platform

KIND = "DeliveryPlatform"
STATUS_INTERVAL = 3.0


@kopf.on.resume(GROUP, VERSION, "deliveryplatforms")
@kopf.on.create(GROUP, VERSION, "deliveryplatforms")
@kopf.on.update(GROUP, VERSION, "deliveryplatforms")
@kopf.timer(GROUP, VERSION, "deliveryplatforms", interval=RUNTIME.settings.resync_seconds, idle=10)
async def reconcile_platform(*, body: kopf.Body, name: str, logger: kopf.Logger, **kwargs: Any) -> None:
    """`services_by_platform` is a kopf index (see indexes.py), passed by name."""
    services_by_platform = kwargs["services_by_platform"]
    started = time.monotonic()
    snapshot = indexes.snapshot(body)
    owner = (KIND, "", name)
    generation = int(snapshot["metadata"].get("generation", 0))
    try:
        platform = parse_platform(snapshot)
    except ValidationError as error:
        field, message = first_error(error)
        RUNTIME.remember(owner, [], Outcome(generation, [("InvalidSpec", f"{field}: {message}")], True))
        await _report(snapshot, services_by_platform)
        RECONCILES.labels(KIND, "degraded").inc()
        return
    problems = validate_platform(platform)
    objects = expand_platform(platform)
    outcome = Outcome(generation, [(p.reason, str(p)) for p in problems], False)
    # Remember the intent before sending it, so the drift watcher never reverts a change we are making.
    RUNTIME.remember(owner, objects, outcome)
    try:
        applied = await apply_objects(RUNTIME.kube(), objects, concurrency=RUNTIME.settings.apply_concurrency)
    except ApplyError as error:
        RUNTIME.outcomes[owner] = Outcome(generation, [(error.reason, str(error)), *outcome.reasons], True)
        await _report(snapshot, services_by_platform)
        kopf.warn(body, reason=error.reason, message=str(error))
        RECONCILES.labels(KIND, "degraded").inc()
        raise kopf.TemporaryError(str(error), delay=30) from error
    finally:
        RECONCILE_SECONDS.labels(KIND).observe(time.monotonic() - started)
    if applied.sent:
        logger.info("applied %d of %d objects", len(applied.sent), len(objects))
        kopf.info(body, reason="Applied", message=f"applied {len(applied.sent)} changed objects of {len(objects)}")
    for problem in problems:
        kopf.warn(body, reason=problem.reason, message=str(problem))
    await _report(snapshot, services_by_platform)
    RECONCILES.labels(KIND, "applied" if applied.sent else "unchanged").inc()


@kopf.timer(GROUP, VERSION, "deliveryplatforms", interval=STATUS_INTERVAL)
async def refresh_platform_status(*, body: kopf.Body, **kwargs: Any) -> None:
    """Keeps "8/8" and Ready current as the DroneServices progress; reads the index, writes only on change."""
    await _report(indexes.snapshot(body), kwargs["services_by_platform"])


async def _report(body: dict[str, Any], services_by_platform: kopf.Index[str, dict[str, Any]]) -> None:
    name = body["metadata"]["name"]
    teams = [(t["name"], t["namespace"]) for t in body.get("spec", {}).get("teams", [])]
    services = list(services_by_platform.get(name, []))
    await write_platform_status(body, RUNTIME.outcomes.get((KIND, "", name)), services, teams)


@kopf.on.delete(GROUP, VERSION, "deliveryplatforms", optional=True)
def forget_platform(*, name: str, **_: Any) -> None:
    RUNTIME.forget((KIND, "", name))
