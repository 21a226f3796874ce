"""DeliveryPlatform: team namespaces and guard rails, the bundled DroneServices, Azure resources (the identity
reading the on-call key among them), the status."""

import time
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import kopf
from pydantic import ValidationError

from fabrikam.operator.api import GROUP, VERSION, DeliveryPlatform, Problem
from fabrikam.operator.apply.applier import ApplyError, ApplyResult, adoption_message
from fabrikam.operator.azure import (
    AzureOutcome,
    IdentityOutcome,
    assess,
    delete_on_call_reader,
    delete_platform,
    reconcile_on_call_reader,
    reconcile_platform,
    recovery_evidence,
    shortfall,
)
from fabrikam.operator.azure.desired import moved_on_call_reader, wants_on_call_reader
from fabrikam.operator.handlers import (
    cloud,
    cluster_events,
    detach,
    drone_service,
    indexes,
    orphans,
    redis_acl,
)
from fabrikam.operator.handlers.conditions import RECOVERY_TARGET_UNMET
from fabrikam.operator.handlers.context import Context, OwnerPass
from fabrikam.operator.handlers.facts import platform_endpoints, platform_environment
from fabrikam.operator.handlers.indexes import Indexes
from fabrikam.operator.handlers.parsing import invalid_spec, parse
from fabrikam.operator.handlers.runtime import RUNTIME, LastReconcile, Lookup, Runtime
from fabrikam.operator.handlers.status import write_platform_status
from fabrikam.operator.metrics import RECONCILE_SECONDS, RECONCILES
from fabrikam.operator.render import (
    expand_platform,
    platform_monitoring_status,
    render_platform_monitoring,
    validate_platform,
)
from fabrikam.operator.render.oncall import read_by

KIND = "DeliveryPlatform"
STATUS_INTERVAL = 3.0
PLURAL = "deliveryplatforms"


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def platform_changed(*, body: kopf.Body, name: str, logger: kopf.Logger, reason: str, **kwargs: Any) -> None:
    """A new or changed spec (or an operator start): Kubernetes objects and Azure resources."""
    context = Context(RUNTIME, Indexes.of(kwargs), logger)
    snapshot = indexes.snapshot(body)
    await _reconcile(PlatformPass.of(context, snapshot, azure=True, lookup=Lookup.of(reason)))
    old_spec = (kwargs.get("old") or {}).get("spec") or {}
    if reason == "update" and _grants_of(old_spec) != _grants_of(snapshot.get("spec") or {}):
        # A queue granted (or revoked) or a registry allowed: the teams' services are re-checked now, not at the
        # next resync (the bundled ones follow their own spec changes).
        logger.info("the platform's grants to its teams changed: re-checking its services")
        await drone_service.resync_each(context, context.indexes.services_of(name), azure=True)
    # What the spec stopped naming in Azure (a store, or spec.azure with all of it) goes as the last handled spec says.
    services = kwargs["services_by_platform"].get(name, [])
    await _release_on_call_reader(context.runtime, snapshot, kwargs.get("old"))
    await orphans.release_platform(context.runtime, snapshot, kwargs.get("old"), services, logger)


def _grants_of(spec: dict[str, Any]) -> tuple[Any, ...]:
    return (spec.get("allowedRegistries"), [(t.get("namespace"), t.get("queues")) for t in spec.get("teams") or []])


@kopf.timer(GROUP, VERSION, PLURAL, interval=RUNTIME.settings.resync_seconds, idle=10)
async def platform_resync(*, body: kopf.Body, name: str, logger: kopf.Logger, **kwargs: Any) -> None:
    """The idle re-check of the Kubernetes side; sends nothing when nothing drifted."""
    runtime = RUNTIME
    if not runtime.settled((KIND, "", name), body):
        return  # the change handler has not finished this generation yet; it does the work
    snapshot = indexes.snapshot(body)
    lookup = runtime.resync_lookup((KIND, "", name))
    await _reconcile(
        PlatformPass.of(Context(runtime, Indexes.of(kwargs), logger), snapshot, azure=False, lookup=lookup)
    )


@kopf.timer(GROUP, VERSION, PLURAL, interval=RUNTIME.settings.azure_recheck_seconds, initial_delay=60)
async def platform_azure_recheck(*, body: kopf.Body, logger: kopf.Logger, **kwargs: Any) -> None:
    """The periodic re-check of Azure: re-PUTs desired state where Azure drifted (costs GETs otherwise)."""
    if (body.get("spec") or {}).get("azure"):
        context = Context(RUNTIME, Indexes.of(kwargs), logger)
        await _reconcile(PlatformPass.of(context, indexes.snapshot(body), azure=True, lookup=Lookup.CACHED))


@kopf.timer(GROUP, VERSION, PLURAL, interval=RUNTIME.settings.resync_seconds, initial_delay=5)
async def resync_services(*, name: str, logger: kopf.Logger, **kwargs: Any) -> None:
    """Re-checks the platform's DroneServices one after the other (and their Azure identities every Azure
    re-check period): one timer per platform instead of one per service, which cost memory at scale. A service
    that fails is reported and does not stop the others. (A timer, not a daemon: kopf touches objects with
    daemons on every start, which would be writes on an idle restart.)"""
    context = Context(RUNTIME, Indexes.of(kwargs), logger)
    now = time.monotonic()
    rechecks = context.runtime.azure_rechecks
    azure = now - rechecks.get(name, now) >= context.runtime.settings.azure_recheck_seconds
    rechecks.setdefault(name, now)
    if azure:
        rechecks[name] = now
    await drone_service.resync_each(context, context.indexes.services_of(name), azure=azure)


@kopf.timer(GROUP, VERSION, PLURAL, interval=STATUS_INTERVAL)
async def refresh_platform_status(*, body: kopf.Body, **kwargs: Any) -> None:
    """Keeps "8/8" and Ready current as the DroneServices progress; reads the index, writes only on change."""
    await _report(RUNTIME, indexes.snapshot(body), kwargs["services_by_platform"])


@dataclass(frozen=True)
class PlatformPass(OwnerPass):
    """One reconcile of one platform (`azure`: its Azure resources too)."""

    KIND: ClassVar[str] = KIND


async def _reconcile(run: PlatformPass) -> None:
    """One pass at a time per platform: its change handler, its resync and its Azure re-check are separate kopf
    handlers and timers, which kopf does not serialise (see Runtime.locks)."""
    async with run.runtime.lock(run.owner):
        # The latest version seen (status included): another pass may have written it while this one waited.
        latest = replace(run, body=run.indexes.platform(run.name) or run.body)
        started = time.monotonic()
        try:
            result = await _steps(latest)
        except kopf.TemporaryError:
            raise  # waiting for Azure, or an object refused (counted as degraded)
        except Exception:
            RECONCILES.labels(KIND, "error").inc()
            raise
        finally:
            RECONCILE_SECONDS.labels(KIND).observe(time.monotonic() - started)
        RECONCILES.labels(KIND, result).inc()


async def _steps(run: PlatformPass) -> str:
    """parse → validate and render → apply → Azure → report; a pass that cannot go on reports why and stops."""
    runtime, services = run.runtime, run.indexes.services_by_platform
    runtime.policies[run.owner] = policy = cloud.policy(run.body)
    try:
        platform = run.runtime.models.platform(run.body)
    except ValidationError as error:
        runtime.remember(run.owner, [], LastReconcile(run.generation, [invalid_spec(error)], True))
        await _report(runtime, run.body, services)
        return "degraded"
    problems = [p.problem for p in validate_platform(platform)]
    previous = runtime.outcomes.get(run.owner)  # read before this pass remembers its own intent
    reader = await _on_call_reader(run, platform, previous, policy)
    apis = await runtime.discovery.monitoring(runtime.kube())
    objects = expand_platform(platform) + render_platform_monitoring(read_by(platform, reader.client_id), apis=apis)
    outcome = replace(
        _carried(run, platform, problems, previous),
        monitoring=platform_monitoring_status(platform, apis=apis),
        identity_client_id=reader.client_id,
    )
    if policy == cloud.SKIP:
        # Observe only: nothing applied, nothing reverted (no intent remembered), the status as things are.
        runtime.remember(run.owner, [], outcome)
        await _report(runtime, run.body, services)
        return "skipped"
    await detach.follow_policy(runtime.kube(), run.body, policy)
    applied = await _apply(run, objects, outcome)
    for problem in problems:
        await _post(run, type="Warning", reason=problem.reason, message=problem.message)
    if run.azure and platform.spec.azure is not None:
        outcome = await _reconcile_azure(run, platform, outcome, previous, reader)
    runtime.outcomes[run.owner] = outcome
    await _report(runtime, run.body, services)
    if outcome.waiting and run.azure:
        raise kopf.TemporaryError(outcome.waiting, delay=cloud.retry_in(outcome.azure_failed_passes, runtime.settings))
    return "applied" if applied.sent else "unchanged"


async def _on_call_reader(
    run: PlatformPass, platform: DeliveryPlatform, previous: LastReconcile | None, policy: str
) -> IdentityOutcome:
    """The identity the operator keeps to read the on-call key, before rendering: its client id goes into the keys
    pods' ServiceAccount and SecretProviderClass. Reconciled on an Azure pass (the finalizer on first), which also
    deletes one the spec no longer wants (an identity of the user's named, onCall removed); otherwise, or when Azure
    did not answer, the client id the last pass found."""
    wanted = wants_on_call_reader(platform)
    remembered = previous.identity_client_id if previous is not None and wanted else None
    if platform.spec.azure is None or not run.azure or policy == cloud.SKIP:
        return IdentityOutcome(client_id=remembered)
    if wanted:
        await cloud.ensure_finalizer(run.runtime.kube(), run.body)
    reader = await reconcile_on_call_reader(platform, run.runtime.azure.for_platform(platform))
    return reader if reader.client_id is not None else replace(reader, client_id=remembered)


def _carried(
    run: PlatformPass, platform: DeliveryPlatform, problems: list[Problem], previous: LastReconcile | None
) -> LastReconcile:
    """This pass' verdict before it applies: its problems, and what the last Azure pass found, carried over by a
    Kubernetes-only pass (which knows nothing new of Azure) instead of forgotten until the next Azure pass."""
    # No `spec.azure` (any more): no Azure resources in the status either (orphans.py releases what was there).
    carried_azure = previous.azure if previous is not None and platform.spec.azure is not None else None
    carried_recovery = previous.recovery if previous is not None and platform.spec.recovery is not None else None
    outcome = LastReconcile(run.generation, problems, False, azure=carried_azure, recovery=carried_recovery)
    if platform.spec.azure is not None and not run.azure and previous is not None:
        carried, waiting = previous.azure_verdict()
        outcome = replace(
            outcome,
            problems=[*outcome.problems, *carried],
            waiting=waiting,
            azure_failed_passes=previous.azure_failed_passes,
        )
    return outcome


async def _apply(run: PlatformPass, objects: list[dict[str, Any]], outcome: LastReconcile) -> ApplyResult:
    """Sends what changed (the intent remembered first, so the drift watcher never reverts a change being made) and
    the in-cluster Redis's ACL users; a refusal is reported, then retried."""
    run.runtime.remember(run.owner, objects, outcome)
    try:
        applied = await run.apply(objects)
        acl_sent = await redis_acl.sync(run.runtime, run.body, run.indexes.services_by_platform)
    except ApplyError as error:
        if error.reason == "KindNotServed":
            run.runtime.discovery.forget()  # a CRD removed meanwhile: the retry renders without its kind
        run.runtime.outcomes[run.owner] = replace(outcome, problems=[error.problem, *outcome.problems], blocking=True)
        await _report(run.runtime, run.body, run.indexes.services_by_platform)
        await _post(run, type="Warning", reason=error.reason, message=str(error))
        RECONCILES.labels(KIND, "degraded").inc()
        raise kopf.TemporaryError(str(error), delay=30) from error
    if applied.adopted:
        await _post(run, type="Normal", reason="Adopted", message=adoption_message(applied.adopted))
    if acl_sent:
        run.logger.info("the in-cluster Redis's ACL users changed")
    if applied.sent:
        run.logger.info("applied %d of %d objects", len(applied.sent), len(objects))
        await _post(
            run,
            type="Normal",
            reason="Applied",
            message=f"applied {len(applied.sent)} changed objects of {len(objects)}",
        )
    return applied


async def _reconcile_azure(
    run: PlatformPass,
    platform: DeliveryPlatform,
    outcome: LastReconcile,
    previous: LastReconcile | None,
    reader: IdentityOutcome,
) -> LastReconcile:
    """`previous`: what the last pass concluded (read before this pass remembered its own intent); `reader`: this
    pass' on-call reader, reported and judged with the stores."""
    runtime = run.runtime
    await cloud.ensure_finalizer(runtime.kube(), run.body)
    stores = await reconcile_platform(platform, runtime.azure.for_platform(platform))
    result = AzureOutcome(stores.resources + reader.resources, removed=stores.removed + reader.removed)
    statuses = [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in result.statuses()]
    found = cloud.verdict(
        result,
        previous.azure_failed_passes if previous else 0,
        "Azure resources are still provisioning",
        after_passes=runtime.settings.azure_problem_after_passes,
    )
    for problem in found.problems:
        await _post(run, type="Warning", reason=problem.reason, message=problem.message)
    if result.changed and result.degraded is None:
        await _post(
            run,
            type="Normal",
            reason="AzureProvisioned",
            message="Azure resources created or brought back to the spec",
        )
    if result.removed:
        await _post(
            run,
            type="Normal",
            reason="AzureRemoved",
            message="deleted what the spec no longer lists: " + ", ".join(r.id for r in result.removed),
        )
    recovery, short = await _recovery(run, platform, result, previous)
    return replace(
        outcome,
        problems=[*outcome.problems, *found.problems, *short],
        azure=statuses,
        recovery=recovery,
        waiting=found.waiting,
        azure_failed_passes=found.failed_passes,
    )


async def _recovery(
    run: PlatformPass, platform: DeliveryPlatform, result: AzureOutcome, previous: LastReconcile | None
) -> tuple[list[dict[str, Any]] | None, list[Problem]]:
    """status.recovery from recovery.assess, and Degraded RecoveryTargetUnmet while a store falls short for a reason
    a person must act on (not while it is still being provisioned); an Event when that changes."""
    if platform.spec.recovery is None:
        return None, []
    assessed = assess(platform, recovery_evidence(result))
    statuses = [s.as_status().model_dump(mode="json", by_alias=True, exclude_none=True) for s in assessed]
    short = shortfall(assessed)
    problems = [Problem(RECOVERY_TARGET_UNMET, short.message)] if short is not None else []
    before = [p for p in (previous.problems if previous else []) if p.reason == RECOVERY_TARGET_UNMET]
    targets = f"RPO {platform.spec.recovery.rpo}, RTO {platform.spec.recovery.rto}"
    if short is not None and problems != before:
        stores = ", ".join(short.stores)
        message = f"{stores} short of the recovery targets ({targets}): see status.recovery"
        await _post(run, type="Warning", reason=RECOVERY_TARGET_UNMET, message=message)
    elif short is None and before:
        await _post(
            run,
            type="Normal",
            reason="RecoveryTargetsMet",
            message=f"no store falls short of the recovery targets ({targets}) any more",
        )
    return statuses, problems


async def _post(run: PlatformPass, *, type: str, reason: str, message: str) -> None:
    """An Event about the platform that `kubectl describe` shows (see cluster_events)."""
    await cluster_events.post(run.runtime.kube(), run.body, type=type, reason=reason, message=message)


async def _report(runtime: Runtime, body: dict[str, Any], services_by_platform: Any) -> None:
    name = body["metadata"]["name"]
    teams = [(t["name"], t["namespace"]) for t in body.get("spec", {}).get("teams", [])]
    services = list(services_by_platform.get(name, []))
    await write_platform_status(runtime.kube(), body, runtime.outcomes.get((KIND, "", name)), services, teams)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def platform_gone(*, type: str, body: kopf.Body, name: str, **_: Any) -> None:
    """Drops the in-memory state of a deleted platform; the DELETED event comes with or without finalizers."""
    if type == "DELETED":
        RUNTIME.forget_platform(name, str(body["metadata"]["uid"]))


@kopf.on.event(GROUP, VERSION, PLURAL, id="reconcile-policy")
async def reconcile_policy_changed(
    *, type: str, body: kopf.Body, name: str, logger: kopf.Logger, **kwargs: Any
) -> None:
    """The reconcile-policy annotation changed: the platform, and its services (which inherit it), now."""
    known = RUNTIME.policies.get((KIND, "", name))
    if type == "DELETED" or known is None:
        return
    snapshot = indexes.snapshot(body)
    if cloud.policy(snapshot) == known:
        return
    logger.info("reconcile-policy %s (was %s)", cloud.policy(snapshot), known)
    context = Context(RUNTIME, Indexes.of(kwargs), logger)
    await _reconcile(PlatformPass.of(context, snapshot, azure=True, lookup=Lookup.CACHED))
    await drone_service.resync_each(context, context.indexes.services_of(name), azure=True)


@kopf.on.event(GROUP, VERSION, PLURAL, id="endpoints-to-services")
async def endpoints_reach_services(
    *, type: str, body: kopf.Body, name: str, logger: kopf.Logger, **kwargs: Any
) -> None:
    """Azure endpoints that appear or change in the platform's status reach its services' environment now. Service
    Bus Premium takes many minutes to provision, the services' identities seconds: without this, a service rendered
    before the endpoint existed kept `FABRIKAM_BROKER=servicebus` without a namespace until its next resync
    (5 minutes by default). kopf updates the `platforms` index before handlers run, so the re-check sees the status."""
    if type == "DELETED":
        return
    snapshot = indexes.snapshot(body)
    environment = platform_environment(snapshot) | platform_endpoints(snapshot)
    previous = RUNTIME.service_environments.get(name)
    RUNTIME.service_environments[name] = environment
    if previous is None or previous == environment:
        return  # first sight (each service's own start-up handler renders it) or nothing new for the services
    changed = sorted(key for key in environment.keys() | previous.keys() if environment.get(key) != previous.get(key))
    logger.info("Azure endpoints changed (%s): re-checking the platform's services", ", ".join(changed))
    context = Context(RUNTIME, Indexes.of(kwargs), logger)
    await drone_service.resync_each(context, context.indexes.services_of(name), azure=False)


@kopf.on.event(GROUP, VERSION, PLURAL, id="detach-children", when=cloud.holds_detach_finalizer)
async def detach_children(*, type: str, body: kopf.Body, **_: Any) -> None:
    """`reconcile-policy: detach-on-delete`: namespaces, team objects and DroneServices stay (the services then
    report their platform missing), and so does everything in Azure. On our finalizer (see drone_service's)."""
    if type == "DELETED" or not body["metadata"].get("deletionTimestamp"):
        return
    snapshot = indexes.snapshot(body)
    detached = await detach.on_delete(RUNTIME, snapshot, cloud.policy(snapshot))
    if detached:
        await cluster_events.post(
            RUNTIME.kube(),
            snapshot,
            type="Normal",
            reason="Detached",
            message=f"reconcile-policy detach-on-delete: left {len(detached)} objects in place: "
            + ", ".join(detached)[:900],
        )


@kopf.on.delete(GROUP, VERSION, PLURAL, when=cloud.holds_finalizer)
async def release_azure_resources(*, body: kopf.Body, name: str, logger: kopf.Logger, **kwargs: Any) -> None:
    """Kubernetes children go by owner references; Azure resources by their deletionPolicy, then the finalizer.

    Services holding Azure identities are deleted (those the platform owns) and awaited first: their cleanup
    needs the platform's Azure coordinates, so the platform goes last."""
    runtime = RUNTIME
    snapshot = indexes.snapshot(body)
    if cloud.policy(snapshot) == cloud.DETACH_ON_DELETE:
        # Everything in Azure stays, and the services are not deleted first (detach_children leaves them).
        await cloud.remove_finalizer(runtime.kube(), snapshot)
        return
    await _release_on_call_reader(runtime, snapshot, kwargs.get("old"))
    if await orphans.release_platform(
        runtime, snapshot, kwargs.get("old"), kwargs["services_by_platform"].get(name, []), logger
    ):
        return  # spec.azure had been dropped: released with the coordinates of the last handled spec
    holding = [
        s
        for s in kwargs["services_by_platform"].get(name, [])
        if cloud.FINALIZER in s["metadata"].get("finalizers", [])
    ]
    for service in holding:
        owned = any(r.get("uid") == snapshot["metadata"]["uid"] for r in service["metadata"].get("ownerReferences", []))
        if owned and not service["metadata"].get("deletionTimestamp"):
            await runtime.kube().delete(service)
    if holding:
        names = ", ".join(f"{s['metadata']['namespace']}/{s['metadata']['name']}" for s in holding)
        raise kopf.TemporaryError(
            f"waiting for DroneServices to release their Azure identities first: {names}",
            delay=runtime.settings.azure_retry_seconds,
        )
    if snapshot.get("spec", {}).get("azure") and cloud.policy(snapshot) != cloud.DETACH_ON_DELETE:
        platform = runtime.models.platform(snapshot)
        clients = runtime.azure.for_platform(platform)
        reader = await delete_on_call_reader(platform, clients)
        stores = await delete_platform(platform, clients)
        result = AzureOutcome(reader.resources + stores.resources)
        if not result.ready:
            waiting = result.degraded or next((r for r in result.resources if not r.ok), None)
            detail = (
                f"{waiting.kind} {waiting.name}: {waiting.error_message or waiting.provisioning_state}"
                if waiting
                else ""
            )
            raise kopf.TemporaryError(
                f"Azure has not confirmed the deletion yet: {detail}", delay=runtime.settings.azure_retry_seconds
            )
        logger.info("Azure resources deleted or retained per deletionPolicy")
    await cloud.remove_finalizer(runtime.kube(), snapshot)


async def _release_on_call_reader(runtime: Runtime, body: dict[str, Any], old: dict[str, Any] | None) -> None:
    """The on-call reader the last handled spec (`old`) had where the spec no longer looks (spec.azure gone or
    moved) goes as on the platform's deletion, unless `reconcile-policy: detach-on-delete`. Raises
    kopf.TemporaryError until Azure confirmed, so kopf keeps `old` (see orphans.py, which releases the stores the
    same way)."""
    old_spec = (old or {}).get("spec") or {}
    if not old_spec.get("azure") or cloud.policy(body) == cloud.DETACH_ON_DELETE:
        return
    try:
        previous = parse(DeliveryPlatform, {**body, "spec": old_spec})
        current = runtime.models.platform(body)
    except ValidationError:
        return  # reported by the reconcile; nothing is decided on a spec that does not parse
    if not moved_on_call_reader(previous, current):
        return
    result = await delete_on_call_reader(previous, runtime.azure.for_platform(previous))
    if not result.ready:
        waiting = result.degraded or next(r for r in result.resources if not r.ok)
        raise kopf.TemporaryError(
            f"Azure has not confirmed the release of the on-call reader yet: {waiting.kind} {waiting.name}: "
            f"{waiting.error_message or waiting.provisioning_state}",
            delay=runtime.settings.azure_retry_seconds,
        )
    deleted = [r.id for r in result.resources if r.changed]
    if deleted:
        message = "the on-call reader where spec.azure no longer points; deleted " + ", ".join(deleted)
        await cluster_events.post(runtime.kube(), body, type="Normal", reason="AzureReleased", message=message[:1000])
