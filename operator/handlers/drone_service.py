"""DroneService: render its children from the spec, its platform and its peers; apply; report status."""

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import kopf
from pydantic import ValidationError

from fabrikam.operator.api import GROUP, VERSION, DeliveryPlatform, DroneService, Problem
from fabrikam.operator.apply.applier import ApplyError, ApplyResult, adoption_message
from fabrikam.operator.azure import delete_service_identity, naming, reconcile_service_identity
from fabrikam.operator.handlers import cloud, detach, dev_secrets, indexes, orphans, redis_acl
from fabrikam.operator.handlers.context import Context, OwnerPass
from fabrikam.operator.handlers.facts import platform_endpoints, platform_environment
from fabrikam.operator.handlers.indexes import Indexes
from fabrikam.operator.handlers.parsing import invalid_spec
from fabrikam.operator.handlers.runtime import RUNTIME, LastReconcile, Lookup, deployment_key
from fabrikam.operator.handlers.status import write_service_status
from fabrikam.operator.metrics import RECONCILE_SECONDS, RECONCILES
from fabrikam.operator.render import (
    MonitoringApis,
    ServiceFacts,
    endpoint,
    off_hours,
    render_drone_service,
    render_service_monitoring,
    service_monitoring_status,
    validate_drone_service,
)

KIND = "DroneService"
PLURAL = "droneservices"
RETRY_AFTER_REFUSAL = 30.0


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def service_changed(*, body: kopf.Body, logger: kopf.Logger, reason: str, **kwargs: Any) -> None:
    """A new or changed spec (or an operator start): Kubernetes objects and the Azure identity."""
    context = Context(RUNTIME, Indexes.of(kwargs), logger)
    snapshot = indexes.snapshot(body)
    await reconcile(ServicePass.of(context, snapshot, azure=True, lookup=Lookup.of(reason)))
    old_spec = (kwargs.get("old") or {}).get("spec") or {}
    if reason in ("create", "update"):
        await _sync_redis_users(context, snapshot)
    if reason == "create" or (reason == "update" and _graph_of(old_spec) != _graph_of(snapshot.get("spec") or {})):
        await recheck_neighbours(context, snapshot, old_spec)


def _graph_of(spec: dict[str, Any]) -> tuple[Any, ...]:
    """What other services' policies depend on: whom this one calls, and whom it accepts as callers."""
    return (spec.get("platformRef"), spec.get("calls"), spec.get("allowedCallers"))


async def recheck_neighbours(context: Context, body: dict[str, Any], old_spec: dict[str, Any] | None) -> None:
    """A service that appears, goes or changes whom it calls opens or closes paths on the other side too (a callee's
    ingress, a caller's missing dependency): those services are re-checked now, not at their next resync."""
    services, callers = context.indexes.services, context.indexes.callers
    peers = [indexes.one(services, key) for key in indexes.graph_neighbours(body, old_spec, callers)]
    # A peer gone, or going with its namespace or platform, has nothing to open or close.
    await resync_each(context, [p for p in peers if p and not p["metadata"].get("deletionTimestamp")], azure=False)


async def resync_each(context: Context, services: Iterable[dict[str, Any]], *, azure: bool) -> None:
    """Re-checks services one after the other; one that fails is reported and does not stop the others (nor fail
    the handler that asked)."""
    for service in services:
        try:
            await resync(context, service, azure=azure)
        except Exception as error:
            meta = service["metadata"]
            context.logger.warning("re-check of DroneService %s/%s failed: %s", meta["namespace"], meta["name"], error)


async def resync(context: Context, body: dict[str, Any], *, azure: bool) -> None:
    """One idle re-check of a service (sends nothing when nothing drifted), run by its platform's resync loop:
    one loop per platform instead of a kopf timer per object, which cost memory per service at scale."""
    owner = (KIND, body["metadata"]["namespace"], body["metadata"]["name"])
    if not context.runtime.settled(owner, body):
        return  # the change handler has not finished this generation yet; it does the work
    lookup = context.runtime.resync_lookup(owner)
    await reconcile(ServicePass.of(context, body, azure=azure, lookup=lookup))


@dataclass(frozen=True)
class ServicePass(OwnerPass):
    """One reconcile of one DroneService (`azure`: its Azure identity too)."""

    KIND: ClassVar[str] = KIND


@dataclass(frozen=True)
class Parsed:
    """The service understood: its spec, its platform, the peers its rendering depends on, the problems found."""

    svc: DroneService
    platform_body: dict[str, Any]
    platform: DeliveryPlatform
    peers: list[DroneService]
    problems: list[Problem]


@dataclass(frozen=True)
class IdentityStep:
    """What the Azure side concluded (or, on a Kubernetes-only pass, what the last Azure pass did)."""

    client_id: str | None
    problems: list[Problem]
    waiting: str | None
    failed_passes: int


async def reconcile(run: ServicePass) -> None:
    """One pass at a time per service (see Runtime.locks), timed and counted."""
    started = time.monotonic()
    neighbours = indexes.neighbourhood(run.body, run.indexes.services, run.indexes.callers, run.indexes.exposers)
    try:
        async with run.runtime.lock(run.owner):
            # The latest version seen (status included): another pass may have written it while this one waited.
            latest = run.indexes.service(run.namespace, run.name) or run.body
            result = await _reconcile(replace(run, body=latest), neighbours)
    except kopf.TemporaryError:
        raise  # waiting for Azure, or an object refused (counted as degraded)
    except Exception:
        RECONCILES.labels(KIND, "error").inc()
        raise
    finally:
        RECONCILE_SECONDS.labels(KIND).observe(time.monotonic() - started)
    RECONCILES.labels(KIND, result).inc()


async def _reconcile(run: ServicePass, neighbours: list[dict[str, Any]]) -> str:
    """parse → Azure → render → apply → report; a pass that cannot go on reports why and stops there."""
    runtime = run.runtime
    runtime.policies[run.owner] = cloud.policy(run.body, run.indexes.platform(_platform_name(run.body)))
    parsed = _parse(run, neighbours)
    if isinstance(parsed, LastReconcile):
        return await _blocked(run, parsed)
    identity = await _identity(run, parsed)
    apis = await runtime.discovery.monitoring(runtime.kube())
    objects = _render(parsed, identity, apis)
    policy = runtime.policies[run.owner]
    await detach.follow_policy(runtime.kube(), run.body, policy)
    outcome = LastReconcile(
        run.generation,
        [*parsed.problems, *identity.problems],
        False,
        endpoint(parsed.svc, platform=parsed.platform),
        waiting=identity.waiting,
        identity_client_id=identity.client_id,
        azure_failed_passes=identity.failed_passes,
        monitoring=service_monitoring_status(parsed.svc, platform=parsed.platform, apis=apis),
    )
    if policy == cloud.SKIP:
        return await _observed_only(run, outcome)
    applied = await _apply(run, parsed, objects, outcome)
    deployment = deployment_key(run.owner)
    await _report(run, outcome, applied.live_of(deployment) or runtime.deployments.get(deployment))
    if run.azure:
        await orphans.release_identity(runtime, run.body, parsed.svc, parsed.platform, parsed.platform_body)
    if identity.waiting and run.azure:
        raise kopf.TemporaryError(identity.waiting, delay=cloud.retry_in(identity.failed_passes, runtime.settings))
    return "applied" if applied.sent else "unchanged"


def _parse(run: ServicePass, neighbours: list[dict[str, Any]]) -> Parsed | LastReconcile:
    """The spec, its platform and peers, validated; a blocked verdict (the problems) when the pass cannot go on."""
    try:
        svc = run.runtime.models.service(run.body)
    except ValidationError as error:
        return LastReconcile(run.generation, [invalid_spec(error)], True)
    platform_body = run.indexes.platform(svc.spec.platform_ref.name)
    platform = run.runtime.models.platform(platform_body) if platform_body else None
    peers = run.runtime.models.peers(neighbours)
    found = validate_drone_service(svc, platform=platform, peers=peers)
    problems = [p.problem for p in found]
    if platform is None or platform_body is None or any(p.fatal for p in found):
        return LastReconcile(run.generation, problems, True)
    return Parsed(svc, platform_body, platform, peers, problems)


async def _identity(run: ServicePass, parsed: Parsed) -> IdentityStep:
    """The service's Azure identity: reconciled on an Azure pass, carried over from the last one otherwise."""
    # The identity's client id as last recorded: by this process (the status in the index may lag behind its own
    # last write, and a pass reading it there would take the client id off the ServiceAccount), else in the status;
    # none once the service or its platform no longer asks for one.
    svc, platform = parsed.svc, parsed.platform
    previous = run.runtime.outcomes.get(run.owner)
    remembered = previous.identity_client_id if previous is not None else None
    client_id = remembered or (run.body.get("status") or {}).get("identityClientId")
    if platform.spec.azure is None or not svc.spec.identity.azure:
        client_id = None
    skipped = run.runtime.policies[run.owner] == cloud.SKIP
    in_azure = platform.spec.azure is not None and svc.spec.identity.azure and not skipped
    failed_before = previous.azure_failed_passes if previous is not None else 0
    if in_azure and run.azure:
        client_id, found = await _reconcile_identity(run, svc, platform, client_id, failed_before)
        return IdentityStep(client_id, found.problems, found.waiting, found.failed_passes)
    if in_azure and previous is not None:
        carried, waiting = previous.azure_verdict()
        return IdentityStep(client_id, carried, waiting, failed_before)
    return IdentityStep(client_id, [], None, 0)


def _render(parsed: Parsed, identity: IdentityStep, apis: MonitoringApis) -> list[dict[str, Any]]:
    """The service's children, from its spec, platform and peers and what Azure, the clock and the API server's
    discovery say; what watches it (its alerts, scraping and dashboard) last."""
    svc, platform = parsed.svc, parsed.platform
    facts = ServiceFacts(
        identity_client_id=identity.client_id,
        environment=platform_environment(parsed.platform_body),
        azure_endpoints=platform_endpoints(parsed.platform_body),
        identity_name=naming.identity_name(platform.name, svc.namespace, svc.name),
        # The clock, read here: off_hours.py re-checks the services when the window opens or closes.
        off_hours=off_hours.active(platform.spec.cost.off_hours, datetime.now(UTC)),
    )
    objects = render_drone_service(svc, platform=platform, peers=parsed.peers, facts=facts)
    return objects + render_service_monitoring(svc, platform=platform, apis=apis)


async def _apply(
    run: ServicePass, parsed: Parsed, objects: list[dict[str, Any]], outcome: LastReconcile
) -> ApplyResult:
    """Sends what changed (remembering the intent first, so the drift watcher never reverts a change being made);
    a refusal is reported, then retried."""
    run.runtime.remember(run.owner, objects, outcome)
    try:
        await dev_secrets.ensure(run.runtime, parsed.svc, parsed.platform)
        applied = await run.apply(objects)
    except ApplyError as error:
        if error.reason == "KindNotServed":
            run.runtime.discovery.forget()  # a CRD removed meanwhile: the retry renders without its kind
        refused = LastReconcile(run.generation, [error.problem, *outcome.problems], True)
        run.runtime.outcomes[run.owner] = refused
        await _report(run, refused, None)
        RECONCILES.labels(KIND, "degraded").inc()
        raise kopf.TemporaryError(str(error), delay=RETRY_AFTER_REFUSAL) from error
    target = indexes.as_body(run.body)
    if applied.adopted:
        kopf.event(target, type="Normal", reason="Adopted", message=adoption_message(applied.adopted))
    if applied.sent:
        run.logger.info("applied %d of %d objects: %s", len(applied.sent), len(objects), ", ".join(applied.sent))
        kopf.event(
            target,
            type="Normal",
            reason="Applied",
            message=f"applied {len(applied.sent)} changed objects of {len(objects)}",
        )
    return applied


async def _reconcile_identity(
    run: ServicePass, svc: DroneService, platform: DeliveryPlatform, client_id: str | None, failed_before: int
) -> tuple[str | None, cloud.AzureVerdict]:
    """The managed identity, its federated credential and data-role grants: (client id, what it means)."""
    runtime = run.runtime
    await cloud.ensure_finalizer(runtime.kube(), run.body)
    identity = await reconcile_service_identity(svc, platform, runtime.azure.for_platform(platform))
    found = cloud.verdict(
        identity,
        failed_before,
        "the managed identity is still provisioning",
        after_passes=runtime.settings.azure_problem_after_passes,
    )
    if identity.degraded is not None:
        return identity.client_id or client_id, found
    if identity.removed:
        kopf.event(
            indexes.as_body(run.body),
            type="Normal",
            reason="AzureAccessRevoked",
            message="revoked grants spec.uses no longer needs: " + ", ".join(r.id for r in identity.removed),
        )
    if identity.changed:
        kopf.event(
            indexes.as_body(run.body),
            type="Normal",
            reason="IdentityProvisioned",
            message=f"managed identity {identity.client_id}",
        )
    return identity.client_id or client_id, found


async def _observed_only(run: ServicePass, outcome: LastReconcile) -> str:
    """`reconcile-policy: skip`: nothing is applied (nor reverted: no intent is remembered for the drift watcher),
    the status follows the Deployment as it is."""
    run.runtime.remember(run.owner, [], outcome)
    await _report(run, outcome, run.runtime.deployments.get(deployment_key(run.owner)))
    return "skipped"


async def _blocked(run: ServicePass, outcome: LastReconcile) -> str:
    run.runtime.remember(run.owner, [], outcome)
    await _report(run, outcome, None)
    return "degraded"


async def _report(run: ServicePass, outcome: LastReconcile, deployment: dict[str, Any] | None) -> None:
    """Writes the status when it changed, with an Event when a problem appears or changes."""
    before = _degraded_reason(run.body)
    if (
        await write_service_status(run.runtime.kube(), run.body, outcome, deployment, run.runtime.models)
        and outcome.problems
    ):
        first = outcome.problems[0]
        if first.reason != before:
            kopf.warn(indexes.as_body(run.body), reason=first.reason, message=first.message)


def _degraded_reason(body: dict[str, Any]) -> str | None:
    for condition in (body.get("status") or {}).get("conditions", []):
        if condition["type"] == "Degraded" and condition["status"] == "True":
            return str(condition["reason"])
    return None


def _platform_name(body: dict[str, Any]) -> str:
    return str(((body.get("spec") or {}).get("platformRef") or {}).get("name", ""))


@kopf.on.event(GROUP, VERSION, PLURAL, id="reconcile-policy")
async def reconcile_policy_changed(
    *, type: str, body: kopf.Body, namespace: str | None, name: str, logger: kopf.Logger, **kwargs: Any
) -> None:
    """The reconcile-policy annotation changed (to skip, back to manage, ...): reconciled now under the new one."""
    known = RUNTIME.policies.get((KIND, namespace or "", name))
    if type == "DELETED" or known is None:
        return
    snapshot = indexes.snapshot(body)
    current = cloud.policy(snapshot, indexes.one(kwargs["platforms"], _platform_name(snapshot)))
    if current != known:
        logger.info("reconcile-policy %s (was %s)", current, known)
        context = Context(RUNTIME, Indexes.of(kwargs), logger)
        await reconcile(ServicePass.of(context, snapshot, azure=True, lookup=Lookup.CACHED))


@kopf.on.event(GROUP, VERSION, PLURAL)
async def service_gone(
    *, type: str, body: kopf.Body, namespace: str | None, name: str, logger: kopf.Logger, **kwargs: Any
) -> None:
    """Drops the in-memory state of a deleted service and re-checks its neighbours in the dependency graph; the
    DELETED event comes with or without finalizers."""
    if type == "DELETED":
        RUNTIME.forget((KIND, namespace or "", name))
        RUNTIME.models.forget(str(body["metadata"]["uid"]))
        context = Context(RUNTIME, Indexes.of(kwargs), logger)
        await recheck_neighbours(context, indexes.snapshot(body), None)
        await _sync_redis_users(context, indexes.snapshot(body))


async def _sync_redis_users(context: Context, body: dict[str, Any]) -> None:
    """A team's service appeared, changed or went: its Redis ACL user follows (the bundled ones come with the
    platform's spec)."""
    spec = body.get("spec") or {}
    if spec.get("component", "custom") != "custom":
        return
    platform_body = context.indexes.platform(_platform_name(body))
    try:
        await redis_acl.sync(context.runtime, platform_body, context.indexes.services_by_platform)
    except ApplyError as error:
        kopf.warn(indexes.as_body(body), reason=error.reason, message=f"the Redis ACL users: {error}")


@kopf.on.event(GROUP, VERSION, PLURAL, id="detach-children", when=cloud.holds_detach_finalizer)
async def detach_children(*, type: str, body: kopf.Body, **kwargs: Any) -> None:
    """`reconcile-policy: detach-on-delete`: the children stay (no owner reference left for the garbage collector).

    An event handler on our own finalizer, not kopf's deletion handling: kopf adds its finalizer a moment after
    ours, and a deletion in between would never reach a deletion handler (the object stuck behind our finalizer)."""
    if type == "DELETED" or not body["metadata"].get("deletionTimestamp"):
        return
    snapshot = indexes.snapshot(body)
    policy = cloud.policy(snapshot, indexes.one(kwargs["platforms"], _platform_name(snapshot)))
    detached = await detach.on_delete(RUNTIME, snapshot, policy)
    if detached:
        kopf.event(
            body,
            type="Normal",
            reason="Detached",
            message=f"reconcile-policy detach-on-delete: left {len(detached)} objects in place: "
            + ", ".join(detached)[:900],
        )


@kopf.on.delete(GROUP, VERSION, PLURAL, when=cloud.holds_finalizer)
async def release_identity(*, body: kopf.Body, **kwargs: Any) -> None:
    """Children go with their owner (owner references); the Azure identity by the platform's policy, then our
    finalizer. Registered only for services holding it, so kopf guards just those with its own."""
    runtime = RUNTIME
    snapshot = indexes.snapshot(body)
    svc = runtime.models.service(snapshot)
    platform_body = indexes.one(kwargs["platforms"], svc.spec.platform_ref.name)
    platform = runtime.models.platform(platform_body) if platform_body else None
    if platform is None:
        kopf.warn(body, reason="PlatformGone", message="its platform is gone: the Azure identity may be left behind")
    elif orphans.platform_releases(platform, platform_body):
        raise kopf.TemporaryError(
            "waiting for the platform to release the identity", delay=runtime.settings.azure_retry_seconds
        )
    elif platform.spec.azure is not None and cloud.policy(snapshot, platform_body) != cloud.DETACH_ON_DELETE:
        result = await delete_service_identity(svc, platform, runtime.azure.for_platform(platform))
        if not result.ready:
            raise kopf.TemporaryError(
                "Azure has not confirmed the deletion of the identity yet", delay=runtime.settings.azure_retry_seconds
            )
    await cloud.remove_finalizer(runtime.kube(), snapshot)
