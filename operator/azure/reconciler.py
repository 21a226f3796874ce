"""Create-or-update and delete of one Azure resource, ending in a value, never an exception Azure caused.

ensure: GET; when Azure already holds the desired body (and is not mid-operation) nothing is sent, so the periodic
re-check costs reads only; otherwise PUT (a PATCH of an existing resource whose PUT would replace it) and wait for
the long-running operation up to the configured deadline.
delete: honours the resource's deletion policy and reports Deleted only once a GET confirms the resource is gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from azure.core.exceptions import ResourceNotFoundError
from typing_extensions import TypeIs

from fabrikam.operator.api.platform import DeletionPolicy
from fabrikam.operator.azure.adapters import Adapter, Json, Patchable, adapter
from fabrikam.operator.azure.clients import AzureClients
from fabrikam.operator.azure.codes import AzureFailure
from fabrikam.operator.azure.desired import DesiredResource, Kind
from fabrikam.operator.azure.drift import differences
from fabrikam.operator.azure.errors import classify
from fabrikam.operator.azure.metrics import track
from fabrikam.operator.azure.results import (
    DELETED,
    FAILED,
    IN_PROGRESS,
    RETAINED,
    SUCCEEDED,
    ResourceResult,
    is_terminal,
)

T = TypeVar("T")

# A grant that already exists under another name is the goal reached, not a failure.
_ALREADY_GRANTED = frozenset({"RoleAssignmentExists"})
# What ARM answers a change of a property fixed at creation; reported without sending the request.
PROPERTY_CHANGE_NOT_ALLOWED = "PropertyChangeNotAllowed"


# A flexible server reports no provisioningState, only its `state`; these are the ones of a finished operation.
_SERVER_SETTLED = frozenset({"ready", "stopped", "disabled"})


def provisioning_state(actual: Json) -> str | None:
    """The resource's provisioningState; for a PostgreSQL flexible server, its `state` read as one (Ready is
    Succeeded, Updating or Starting an operation still running, never to be written over)."""
    properties = actual.get("properties", {})
    state = properties.get("provisioningState")
    if state is None and str(actual.get("type", "")).casefold() == "microsoft.dbforpostgresql/flexibleservers":
        server = properties.get("state")
        if server is not None:
            return "Succeeded" if str(server).casefold() in _SERVER_SETTLED else str(server)
    return str(state) if state is not None else None


def _failed(res: DesiredResource, failure: AzureFailure, *, changed: bool) -> ResourceResult:
    return ResourceResult(
        kind=res.kind,
        name=res.name,
        id=res.id,
        provisioning_state=FAILED,
        error_code=failure.code,
        error_message=failure.message,
        retriable=failure.retriable,
        error_status=failure.status,
        changed=changed,
    )


def _fixed(ops: Patchable, res: DesiredResource, drifted: Sequence[str]) -> AzureFailure | None:
    """Drift the PATCH cannot carry (a cache's zones): a person must re-create the resource, no request can fix it."""
    fixed = sorted({path.split(".", 1)[0].split("[", 1)[0] for path in drifted} - ops.patchable)
    if not fixed:
        return None
    message = (
        f"{', '.join(fixed)} of the existing {res.kind} {res.name} cannot change in place (the update operation does "
        "not take them); delete the resource to have it re-created with the spec's values, or restore them in the spec"
    )
    return AzureFailure(PROPERTY_CHANGE_NOT_ALLOWED, message, retriable=False)


class _TimedOut:
    """The call outlived the deadline; Azure keeps going and the next pass observes the result."""


Answer = Json | AzureFailure | _TimedOut | None


def _answered(answer: Answer) -> TypeIs[Json | None]:
    """Azure answered with the resource (or, for a GET or DELETE, that it is gone)."""
    return not isinstance(answer, AzureFailure | _TimedOut)


def _unanswered(res: DesiredResource, answer: AzureFailure | _TimedOut, *, changed: bool) -> ResourceResult:
    """A call that ran past the deadline (Azure keeps going: the next pass observes it) or failed."""
    if isinstance(answer, _TimedOut):
        return ResourceResult(kind=res.kind, name=res.name, id=res.id, provisioning_state=IN_PROGRESS, changed=changed)
    return _failed(res, answer, changed=changed)


class Reconciler:
    """Drives single resources through the SDK adapters with the deadlines and metrics of one subscription."""

    def __init__(self, clients: AzureClients) -> None:
        self.clients = clients

    async def _call(self, res: DesiredResource, verb: str, call: Any) -> Answer:
        """One adapter call under metrics and the LRO deadline; None is a 404 of a GET or DELETE (already gone)."""
        async with track(f"{res.kind}.{verb}") as outcome:
            try:
                return await asyncio.wait_for(call, self.clients.settings.lro_timeout)
            except ResourceNotFoundError as error:
                if verb in ("put", "update"):
                    # A missing parent or scope: the platform is still being provisioned.
                    failure = classify(error)
                    outcome.result = failure.category
                    return failure
                outcome.result = "not_found"
                return None
            except TimeoutError:
                outcome.result = "timeout"
                return _TimedOut()
            except Exception as error:
                failure = classify(error)  # re-raises what is not an Azure failure
                outcome.result = failure.category
                return failure

    async def list(self, kind: Kind, call: Awaitable[list[Json]]) -> list[Json] | AzureFailure | None:
        """A listing under metrics and the deadline; None when the scope (or the deadline) is not there yet."""
        return await self.read(f"{kind}.list", call)

    async def read(self, operation: str, call: Awaitable[T]) -> T | AzureFailure | None:
        """A read (a listing, an account's connection strings) under metrics and the deadline; None when the scope
        (or the deadline) is not there yet."""
        async with track(operation) as outcome:
            try:
                return await asyncio.wait_for(call, self.clients.settings.lro_timeout)
            except ResourceNotFoundError:
                outcome.result = "not_found"
                return None
            except TimeoutError:
                outcome.result = "timeout"
                return None
            except Exception as error:
                failure = classify(error)  # re-raises what is not an Azure failure
                outcome.result = failure.category
                return failure

    @staticmethod
    def _state(res: DesiredResource, state: str, *, changed: bool) -> ResourceResult:
        return ResourceResult(kind=res.kind, name=res.name, id=res.id, provisioning_state=state, changed=changed)

    @staticmethod
    def _observed(ops: Adapter, res: DesiredResource, actual: Json, *, changed: bool) -> ResourceResult:
        state = provisioning_state(actual)
        if state is not None and state.casefold() == "failed":
            failure = AzureFailure("ProvisioningFailed", f"Azure reports provisioningState {state}", retriable=True)
            return _failed(res, failure, changed=changed)
        return ResourceResult(
            kind=res.kind,
            name=res.name,
            id=str(actual.get("id") or res.id),
            provisioning_state=SUCCEEDED if is_terminal(state) else str(state),
            endpoint=ops.endpoint(actual),
            changed=changed,
            outputs=ops.outputs(actual),
        )

    async def observe(self, res: DesiredResource) -> ResourceResult | None:
        """The resource as Azure has it, without changing anything; None when it does not exist."""
        ops = adapter(self.clients, res.kind)
        actual = await self._call(res, "get", ops.get(res))
        if not _answered(actual):
            return _unanswered(res, actual, changed=False)
        return None if actual is None else self._observed(ops, res, actual, changed=False)

    async def ensure(self, res: DesiredResource) -> ResourceResult:
        """Makes Azure hold `res.body`; writes only when the resource is missing, failed or drifted."""
        ops = adapter(self.clients, res.kind)
        actual = await self._call(res, "get", ops.get(res))
        if not _answered(actual):
            return _unanswered(res, actual, changed=False)
        if actual is not None:
            state = provisioning_state(actual)
            if not is_terminal(state):
                # An operation (ours from an earlier pass, or someone else's) is still running: never PUT over it.
                return self._state(res, str(state), changed=False)
            drifted = differences(res.compared_body(), actual)
            failed = (state or "").casefold() == "failed"
            if not failed and not drifted:
                return self._observed(ops, res, actual, changed=False)
            if not failed and isinstance(ops, Patchable):
                return await self._update(ops, res, drifted)
        return self._written(ops, res, await self._call(res, "put", ops.put(res)))

    async def _update(self, ops: Patchable, res: DesiredResource, drifted: Sequence[str]) -> ResourceResult:
        fixed = _fixed(ops, res, drifted)
        if fixed is not None:
            return _failed(res, fixed, changed=False)
        return self._written(ops, res, await self._call(res, "update", ops.update(res)))

    @classmethod
    def _written(cls, ops: Adapter, res: DesiredResource, written: Answer) -> ResourceResult:
        """The result of a PUT or PATCH: what Azure answered once the operation ended, or that it is still running."""
        if isinstance(written, AzureFailure) and written.code in _ALREADY_GRANTED:
            return cls._state(res, SUCCEEDED, changed=True)
        if not _answered(written):
            return _unanswered(res, written, changed=True)
        if written is None:
            raise AssertionError("a PUT or PATCH never answers 404 without raising")
        return cls._observed(ops, res, written, changed=True)

    async def delete(self, res: DesiredResource) -> ResourceResult:
        """Deletes per policy; Deleted only after Azure answers 404, else InProgress for the next pass."""
        if res.deletion_policy is DeletionPolicy.RETAIN:
            return self._state(res, RETAINED, changed=False)
        ops = adapter(self.clients, res.kind)
        seen = await self._call(res, "get", ops.get(res))
        if not _answered(seen):
            return _unanswered(res, seen, changed=False)
        if seen is None:
            return self._state(res, DELETED, changed=False)
        if (provisioning_state(seen) or "").casefold() != "deleting":
            sent = await self._call(res, "delete", ops.delete(res))
            if not _answered(sent):
                return _unanswered(res, sent, changed=True)
        confirmed = await self._call(res, "get", ops.get(res))
        if not _answered(confirmed):
            return _unanswered(res, confirmed, changed=True)
        if confirmed is None:
            return self._state(res, DELETED, changed=True)
        return self._state(res, provisioning_state(confirmed) or IN_PROGRESS, changed=True)
