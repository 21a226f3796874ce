"""What provisioning did, as values: per resource its id, state, endpoint or Azure's error, and the summary the
handlers turn into conditions (Ready, Progressing, Degraded) and the status' list of Azure resources."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fabrikam.operator.api import Problem
from fabrikam.operator.api.platform import AzureResourceStatus
from fabrikam.operator.azure.codes import THROTTLED, UNAVAILABLE, symptom

SUCCEEDED = "Succeeded"
FAILED = "Failed"
DELETED = "Deleted"
RETAINED = "Retained"
# Left as Azure has it until a person acts, the platform working meanwhile: a disaster-recovery link Azure refused or
# the operator may not re-create yet (after a failover); `recovery.assess` reports why.
HELD = "Held"
# Waiting on something else: a parent not ready yet, an identity without a principal id yet.
PENDING = "Pending"
# Azure's own non-terminal provisioning states, plus ours for an LRO still running when the deadline passed.
IN_PROGRESS = "InProgress"
_AZURE_TERMINAL = frozenset({"succeeded", "failed", "canceled"})


def is_terminal(provisioning_state: str | None) -> bool:
    """Resources without a provisioningState (queues, credentials, assignments) are done once they exist."""
    return provisioning_state is None or provisioning_state.casefold() in _AZURE_TERMINAL


@dataclass(frozen=True)
class ResourceResult:
    """One Azure resource after a reconcile or delete step."""

    kind: str
    name: str
    id: str
    provisioning_state: str
    endpoint: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    # Retrying later can help (throttling, outage, a scope or permission not there yet); false: the spec must change.
    retriable: bool = False
    # Azure's HTTP answer to the failed call; None without one (network) or for a long-running operation that failed.
    error_status: int | None = None
    # A PUT or DELETE was sent in this step.
    changed: bool = False
    # Values other objects need, e.g. an identity's clientId and principalId.
    outputs: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def ok(self) -> bool:
        return self.error_code is None and self.provisioning_state in (SUCCEEDED, DELETED, RETAINED, HELD)

    @property
    def failed(self) -> bool:
        return self.error_code is not None

    def describe_failure(self) -> str:
        """`<kind> <name>: <Azure's code>: <Azure's message>`, for a Degraded condition and its Event."""
        return f"{self.kind} {self.name}: {self.error_code}: {self.error_message}"

    @property
    def problem(self) -> Problem | None:
        """A retriable failure as a person should read it if it lasts (None when not failed, or not retriable):
        `reason` is AzureThrottled, AzureUnavailable or Azure's own code (e.g. AuthorizationFailed: a missing
        permission stays visible while it is retried), `message` says which resource."""
        if self.error_code is None or not self.retriable:
            return None
        reason = symptom(self.error_code, self.error_status)
        return Problem(reason, f"{_PREFIX.get(reason, '')}{self.describe_failure()}")

    def as_status(self) -> AzureResourceStatus:
        """The entry of the owner's `status.azureResources`."""
        return AzureResourceStatus(
            kind=self.kind,
            name=self.name,
            id=self.id,
            state=self.provisioning_state,
            endpoint=self.endpoint,
            error_code=self.error_code,
            message=(self.error_message or "")[:1024] or None,
        )


_PREFIX = {
    THROTTLED: "Azure Resource Manager throttles the operator's requests; retrying with backoff. ",
    UNAVAILABLE: "Azure is failing or unreachable; retrying with backoff. ",
}


@dataclass(frozen=True)
class AzureOutcome:
    """Every resource of one owner (a platform or a service) after one reconcile or delete pass."""

    resources: tuple[ResourceResult, ...] = ()
    # Removed in this pass because the spec no longer wants them (grants, queues); not part of the status.
    removed: tuple[ResourceResult, ...] = ()

    @classmethod
    def of(cls, results: Iterable[ResourceResult]) -> AzureOutcome:
        return cls(tuple(results))

    @property
    def ready(self) -> bool:
        """Everything exists as desired (or, after a delete, is gone or deliberately retained)."""
        return all(r.ok for r in self.resources)

    @property
    def degraded(self) -> ResourceResult | None:
        """The first failure retrying cannot fix (the spec must change: a name taken, a bad value): the Degraded reason
        and message."""
        return next((r for r in self.resources if r.failed and not r.retriable), None)

    @property
    def requeue(self) -> bool:
        """Something is in flight or failed transiently: reconcile again soon rather than at the next timer."""
        return any(not r.ok and (r.retriable or not r.failed) for r in self.resources)

    @property
    def problem(self) -> Problem | None:
        """The retriable failure to show if it lasts; one a person can act on (a permission, a registration) comes
        before throttling and outages, which only time fixes."""
        problems = [p for p in (r.problem for r in self.resources) if p is not None]
        actionable = [p for p in problems if p.reason not in (THROTTLED, UNAVAILABLE)]
        return next(iter(actionable or problems), None)

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.resources)

    def endpoint(self, kind: str) -> str | None:
        return next((r.endpoint for r in self.resources if r.kind == kind and r.endpoint), None)

    def statuses(self) -> list[AzureResourceStatus]:
        return [r.as_status() for r in self.resources]


@dataclass(frozen=True)
class IdentityOutcome(AzureOutcome):
    """A service's identity, credential and grants; `client_id` goes on its ServiceAccount."""

    client_id: str | None = None
    principal_id: str | None = None


def lasting_problem(outcome: AzureOutcome, failed_passes: int, *, after_passes: int) -> Problem | None:
    """The problem to report as a condition once `failed_passes` consecutive Azure passes (this one included) ended
    in a retriable failure: one throttled or failed call is routine, a run of them is what a person must see."""
    problem = outcome.problem
    return problem if problem is not None and failed_passes >= after_passes else None


def next_failed_passes(previous: int, outcome: AzureOutcome) -> int:
    """The count `lasting_problem` takes: one more after a pass with a retriable failure, else back to zero."""
    return previous + 1 if outcome.problem is not None else 0
