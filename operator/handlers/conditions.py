"""Status conditions by the Kubernetes API conventions: Ready, Progressing, Degraded with observedGeneration, and
kstatus's Reconciling and Stalled beside them, so Flux (kstatus), Argo CD (docs/gitops.md) and `kubectl wait` read one
health.

Pure functions: the previous conditions in, the new ones out; lastTransitionTime only moves when status does.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from fabrikam.operator.api import Problem
from fabrikam.operator.azure.codes import THROTTLED, UNAVAILABLE

# The reason of a failure only a change of spec or permissions in Azure can fix (or a retriable one that lasted).
AZURE_ERROR = "AzureError"
# With the reasons of retriable failures that lasted several Azure passes (the Azure layer names them).
AZURE_REASONS = frozenset({AZURE_ERROR, THROTTLED, UNAVAILABLE})
# A data store short of spec.recovery's targets: Degraded, while Ready still follows the services.
RECOVERY_TARGET_UNMET = "RecoveryTargetUnmet"


# kstatus's "abnormal-true" conditions (sigs.k8s.io/cli-utils pkg/kstatus/status): either True decides the health
# Flux computes, before it looks at Ready.
RECONCILING = "Reconciling"
STALLED = "Stalled"


@dataclass(frozen=True)
class Verdict:
    type: str
    status: bool | None  # None: Unknown, not judged yet
    reason: str
    message: str

    @classmethod
    def of(cls, type: str, status: bool | None, problem: Problem) -> "Verdict":
        """The condition `type` saying what `problem` says."""
        return cls(type, status, problem.reason, problem.message)


# The Degraded condition's words while nothing is wrong.
AS_EXPECTED = Problem("AsExpected", "")


_STATUS = {True: "True", False: "False", None: "Unknown"}


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(previous: list[dict[str, Any]] | None, verdicts: list[Verdict], generation: int) -> list[dict[str, Any]]:
    before = {c.get("type"): c for c in previous or []}
    merged = []
    for verdict in verdicts:
        status = _STATUS[verdict.status]
        old = before.get(verdict.type, {})
        merged.append(
            {
                "type": verdict.type,
                "status": status,
                "reason": verdict.reason,
                "message": verdict.message,
                "observedGeneration": generation,
                "lastTransitionTime": old.get("lastTransitionTime") if old.get("status") == status else now(),
            }
        )
    return merged


def changed(previous: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether writing `new` would change the stored status (so an idle resync writes nothing)."""
    previous = previous or {}
    return any(previous.get(key) != value for key, value in new.items())


def rollout_failure(status: dict[str, Any]) -> Problem | None:
    """Why a rollout cannot go on, from the Deployment's own conditions: pods the API refuses to create (quota,
    admission), or no progress within its deadline. Without this the service showed only "RollingOut"."""
    found = {c.get("type"): c for c in status.get("conditions") or []}
    refused = found.get("ReplicaFailure")
    if refused is not None and refused.get("status") == "True":
        return Problem("PodsRefused", str(refused.get("message", "")))
    stalled = found.get("Progressing")
    if stalled is not None and stalled.get("status") == "False" and stalled.get("reason") == "ProgressDeadlineExceeded":
        return Problem("ProgressDeadlineExceeded", str(stalled.get("message", "")))
    return None


@dataclass(frozen=True)
class Availability:
    """What a service's readiness is judged against once its rollout completed.

    `floor` is the ready pods its disruption budget guarantees at its minimum size (minReplicas - maxUnavailable):
    a node drain evicting a pod, or an HPA scale-out waiting for new pods, is not an outage and must not flip Ready
    (nor the platform's Ready with it). `was_ready` says the service was Ready for this generation already; until
    then Ready waits for every pod, so "Ready" after an apply still means "rolled out"."""

    floor: int = 1
    was_ready: bool = False


def service_verdicts(
    *,
    problems: list[Problem],
    blocking: bool,
    deployment: dict[str, Any] | None,
    availability: Availability | None = None,
) -> tuple[list[Verdict], int | None, int | None]:
    """Conditions of a DroneService from the reconcile outcome and its Deployment; also ready/desired replicas."""
    degraded = Verdict.of("Degraded", bool(problems), problems[0] if problems else AS_EXPECTED)
    if blocking:
        first = problems[0]
        return (
            [Verdict.of("Ready", False, first), Verdict("Progressing", False, first.reason, ""), degraded],
            None,
            None,
        )
    if deployment is None:
        waiting = "the Deployment does not exist yet"
        return (
            [Verdict("Ready", False, "Creating", waiting), Verdict("Progressing", True, "Creating", ""), degraded],
            None,
            None,
        )
    availability = availability or Availability()
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    failure = rollout_failure(status)
    if failure is not None and not problems:
        degraded = Verdict.of("Degraded", True, failure)
    desired = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas", 0))
    updated = int(status.get("updatedReplicas", 0))
    current = status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
    rolled_out = current and updated >= desired
    # Every pod that exists runs the current template, only fewer than desired: pods being replaced, not a new spec
    # rolling out. An eviction takes its pod out of `replicas` and `updatedReplicas` at once; read as a rollout
    # ("1/2 pods ready, 1 updated"), it flipped Ready for a moment, and the hysteresis kept it off until every pod
    # was back (seen on real pods during a drain, issue #13).
    replacing = current and updated >= int(status.get("replicas", 0))
    complete = rolled_out and ready >= desired and int(status.get("replicas", 0)) == desired
    progress = f"{ready}/{desired} pods ready, {updated} updated"
    if complete:
        ready_verdict = Verdict("Ready", True, "Available", progress)
        progressing = Verdict("Progressing", False, "RolloutComplete", progress)
    elif (
        (rolled_out or replacing or not current)
        and availability.was_ready
        and ready >= max(1, min(desired, availability.floor))
    ):
        # `not current`: the Deployment controller has not yet observed its latest spec. An HPA scale bumps the
        # Deployment's generation too; with a controller busy with a drain, that is the likely cause of a service
        # reported RollingOut for 10 s while it kept serving (issue #13). A real new template still shows as soon
        # as it is observed (updatedReplicas below replicas).
        ready_verdict = Verdict("Ready", True, "Available", f"{progress}; within the disruption budget")
        progressing = Verdict("Progressing", True, "ReplacingPods", progress)
    else:
        ready_verdict = Verdict("Ready", False, "RollingOut", progress)
        progressing = Verdict("Progressing", True, "RollingOut", progress)
    azure_error = _azure_error(problems)
    if azure_error is not None:
        # Pods that run without the Azure access they need (an identity, a grant) are not a working service.
        ready_verdict = Verdict.of("Ready", False, azure_error)
    return [ready_verdict, progressing, degraded], ready, desired


def _azure_error(problems: list[Problem]) -> Problem | None:
    return next((p for p in problems if p.reason in AZURE_REASONS), None)


def platform_verdicts(
    *,
    problems: list[Problem],
    blocking: bool,
    waiting: str | None,
    ready: int,
    total: int,
    degraded_services: list[str],
) -> list[Verdict]:
    """The platform's conditions from its own reconcile outcome and its services: Ready only when nothing blocks,
    Azure neither failed nor is still provisioning, and every service is Ready; Degraded names the first problem,
    its own before its services'."""
    all_problems = problems + [Problem("ServiceDegraded", "; ".join(degraded_services))] * bool(degraded_services)
    all_ready = not blocking and total > 0 and ready == total
    summary = f"{ready}/{total} services ready"
    azure_error = _azure_error(problems)
    if blocking:
        ready_verdict = Verdict.of("Ready", False, problems[0])
    elif azure_error is not None:
        ready_verdict = Verdict.of("Ready", False, azure_error)
    elif waiting:
        ready_verdict = Verdict("Ready", False, "AzureProvisioning", waiting)
    else:
        ready_verdict = Verdict("Ready", all_ready, "AllServicesReady" if all_ready else "ServicesNotReady", summary)
    return [
        ready_verdict,
        Verdict("Progressing", (not all_ready or bool(waiting)) and not blocking, "Reconciling", summary),
        Verdict.of("Degraded", bool(all_problems), all_problems[0] if all_problems else AS_EXPECTED),
    ]


def kstatus_verdicts(ready: Verdict, stall: Problem | None) -> list[Verdict]:
    """Reconciling and Stalled from the final Ready and what, if anything, keeps it from coming: exactly one is True
    until Ready is, so kstatus says Current when Ready is True, Failed when stalled and InProgress otherwise."""
    if ready.status is None:
        return [Verdict(RECONCILING, True, ready.reason, ready.message), Verdict(STALLED, None, ready.reason, "")]
    if ready.status:
        return [Verdict(RECONCILING, False, ready.reason, ""), Verdict(STALLED, False, ready.reason, "")]
    if stall is not None:
        return [Verdict(RECONCILING, False, stall.reason, ""), Verdict.of(STALLED, True, stall)]
    return [Verdict(RECONCILING, True, ready.reason, ready.message), Verdict(STALLED, False, ready.reason, "")]


def _stall(problems: list[Problem], *, blocking: bool, waiting: str | None) -> Problem | None:
    """What only a change can clear: a blocking problem (an invalid spec, a bad reference, an object the API server
    refused) or a failure Azure will not get past on a retry. A retriable one, even a lasting one, comes with
    `waiting`: the operator is still retrying and it may clear by itself."""
    if blocking:
        return problems[0]
    if waiting is None:
        return _azure_error(problems)
    return None


def service_conditions(
    *,
    problems: list[Problem],
    blocking: bool,
    waiting: str | None,
    deployment: dict[str, Any] | None,
    availability: Availability | None = None,
) -> tuple[list[Verdict], int | None, int | None]:
    """Every condition of a DroneService's status, in the order written; also ready/desired replicas. `waiting`: an
    Azure pass still provisioning or retrying."""
    verdicts, ready, desired = service_verdicts(
        problems=problems, blocking=blocking, deployment=deployment, availability=availability
    )
    if waiting and not blocking and verdicts[0].reason not in AZURE_REASONS:
        # Still provisioning, or retrying what may clear by itself; a retry that lasted says so itself.
        verdicts = [Verdict("Ready", False, "AzureProvisioning", waiting), *verdicts[1:]]
    stall = _stall(problems, blocking=blocking, waiting=waiting)
    failure = rollout_failure((deployment or {}).get("status") or {})
    if stall is None and failure is not None and failure.reason == "ProgressDeadlineExceeded":
        # The Deployment controller gave up on this rollout (kstatus calls the Deployment itself Failed); a quota
        # refusal is retried by it, so that one stays in progress, as kstatus says of the Deployment too.
        stall = failure
    return [*verdicts, *kstatus_verdicts(verdicts[0], stall)], ready, desired


def platform_conditions(
    *,
    problems: list[Problem],
    blocking: bool,
    waiting: str | None,
    ready: int,
    total: int,
    degraded_services: list[str],
    stalled_services: list[str],
) -> list[Verdict]:
    """Every condition of a platform's status, in the order written. A stalled service stalls the platform too:
    its Ready waits for every service, so it cannot come without that service changing."""
    verdicts = platform_verdicts(
        problems=problems,
        blocking=blocking,
        waiting=waiting,
        ready=ready,
        total=total,
        degraded_services=degraded_services,
    )
    stall = _stall(problems, blocking=blocking, waiting=waiting)
    if stall is None and stalled_services:
        # The first few by name: a message holds 32 KiB, and a registry taken off the allowed list stalls them all.
        named = stalled_services[:_NAMED_SERVICES]
        more = len(stalled_services) - len(named)
        stall = Problem("ServiceStalled", "; ".join(named) + (f"; and {more} more" if more else ""))
    return [*verdicts, *kstatus_verdicts(verdicts[0], stall)]


_NAMED_SERVICES = 10


def not_reconciled_conditions(message: str) -> list[Verdict]:
    """Before the first reconcile (a status refresh can come first): nothing is known but that work is due."""
    unknown = [Verdict(kind, None, "Reconciling", message) for kind in ("Ready", "Progressing", "Degraded")]
    return [*unknown, *kstatus_verdicts(unknown[0], None)]
