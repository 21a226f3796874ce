"""kstatus's Reconciling and Stalled beside Ready, Progressing and Degraded: given this outcome, these conditions.

kstatus (what Flux computes health with) reads Reconciling=True as InProgress and Stalled=True as Failed before it
looks at Ready; so the two must say what Ready would, on every status the operator writes, from the first one."""

from typing import Any

import pytest

from fabrikam.operator.api import Problem
from fabrikam.operator.handlers import conditions
from fabrikam.operator.handlers.conditions import Verdict

TYPES = ["Ready", "Progressing", "Degraded", "Reconciling", "Stalled"]


def _deployment(ready: int, desired: int = 2, *, updated: int | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": 1},
        "spec": {"replicas": desired},
        "status": {
            "observedGeneration": 1,
            "replicas": desired,
            "readyReplicas": ready,
            "updatedReplicas": desired if updated is None else updated,
            **status,
        },
    }


def _service(**outcome: Any) -> dict[str, Verdict]:
    found, _, _ = conditions.service_conditions(
        problems=outcome.get("problems", []),
        blocking=outcome.get("blocking", False),
        waiting=outcome.get("waiting"),
        deployment=outcome.get("deployment"),
    )
    assert [v.type for v in found] == TYPES  # all five on every write, the first one included
    return {v.type: v for v in found}


def _platform(**outcome: Any) -> dict[str, Verdict]:
    found = conditions.platform_conditions(
        problems=outcome.get("problems", []),
        blocking=outcome.get("blocking", False),
        waiting=outcome.get("waiting"),
        ready=outcome.get("ready", 8),
        total=8,
        degraded_services=outcome.get("degraded_services", []),
        stalled_services=outcome.get("stalled_services", []),
    )
    assert [v.type for v in found] == TYPES
    return {v.type: v for v in found}


def _kstatus(found: dict[str, Verdict]) -> tuple[bool | None, bool | None]:
    return found["Reconciling"].status, found["Stalled"].status


_DEADLINE = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}
_QUOTA = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "exceeded quota"}


@pytest.mark.parametrize(
    ("outcome", "reconciling", "stalled", "reason"),
    [
        ({"deployment": _deployment(2)}, False, False, "Available"),
        ({"deployment": _deployment(1)}, True, False, "RollingOut"),
        ({"deployment": None}, True, False, "Creating"),
        # Retrying with Azure, even a lasting failure: the operator is still at work, it may clear by itself.
        ({"deployment": _deployment(2), "waiting": "the identity is provisioning"}, True, False, "AzureProvisioning"),
        (
            {"deployment": _deployment(2), "problems": [Problem("AzureThrottled", "429")], "waiting": "throttled"},
            True,
            False,
            "AzureThrottled",
        ),
        # The Deployment controller retries pods a quota refused (kstatus says InProgress of the Deployment too).
        ({"deployment": _deployment(2, updated=0, conditions=[_QUOTA])}, True, False, "RollingOut"),
        # Only a change clears these.
        (
            {"problems": [Problem("PlatformNotFound", "spec.platformRef.name: ...")], "blocking": True},
            False,
            True,
            None,
        ),
        ({"problems": [Problem("Forbidden", "Deployment t/x: 403")], "blocking": True}, False, True, None),
        ({"deployment": _deployment(2), "problems": [Problem("AzureError", "InvalidResourceName")]}, False, True, None),
        ({"deployment": _deployment(1, conditions=[_DEADLINE])}, False, True, None),
    ],
)
def test_a_service_is_reconciling_or_stalled_until_it_is_ready(
    outcome: dict[str, Any], reconciling: bool, stalled: bool, reason: str | None
) -> None:
    found = _service(**outcome)
    assert _kstatus(found) == (reconciling, stalled)
    assert found["Ready"].status is (not reconciling and not stalled)
    if reconciling:
        # kstatus prints the Reconciling message as the InProgress message: the same words as Ready's.
        assert (found["Reconciling"].reason, found["Reconciling"].message) == (reason, found["Ready"].message)


def test_stalled_says_what_to_change() -> None:
    found = _service(problems=[Problem("PlatformNotFound", "DeliveryPlatform 'x' does not exist")], blocking=True)
    assert (found["Stalled"].reason, found["Stalled"].message) == (
        "PlatformNotFound",
        "DeliveryPlatform 'x' does not exist",
    )
    assert found["Reconciling"].reason == "PlatformNotFound"
    found = _service(deployment=_deployment(1, conditions=[_DEADLINE]))
    assert (found["Stalled"].reason, found["Stalled"].message) == ("ProgressDeadlineExceeded", "timed out")
    found = _service(
        deployment=_deployment(2), problems=[Problem("CallNotAccepted", "..."), Problem("AzureError", "name taken")]
    )
    assert (found["Stalled"].reason, found["Stalled"].message) == ("AzureError", "name taken")


def test_a_ready_service_within_its_disruption_budget_is_not_reconciling() -> None:
    """A drained pod being replaced keeps Ready (issue #13): Flux must keep it Current as Argo CD keeps it Healthy."""
    found, _, _ = conditions.service_conditions(
        problems=[],
        blocking=False,
        waiting=None,
        deployment=_deployment(1),
        availability=conditions.Availability(floor=1, was_ready=True),
    )
    by_type = {v.type: v for v in found}
    assert (by_type["Ready"].status, by_type["Progressing"].reason) == (True, "ReplacingPods")
    assert _kstatus(by_type) == (False, False)


def test_the_existing_conditions_do_not_change() -> None:
    """The kstatus pair is added beside them: Ready, Progressing and Degraded are what service_verdicts says."""
    deployment = _deployment(2, updated=0, conditions=[_QUOTA])
    before, _, _ = conditions.service_verdicts(problems=[], blocking=False, deployment=deployment)
    assert list(_service(deployment=deployment).values())[:3] == before


@pytest.mark.parametrize(
    ("outcome", "reconciling", "stalled", "reason"),
    [
        ({}, False, False, "AllServicesReady"),
        ({"ready": 7}, True, False, "ServicesNotReady"),
        ({"waiting": "Azure resources are still provisioning"}, True, False, "AzureProvisioning"),
        ({"problems": [Problem("AzureUnavailable", "503")], "waiting": "retrying"}, True, False, "AzureUnavailable"),
        ({"problems": [Problem("RecoveryTargetUnmet", "ServiceBus: ...")]}, False, False, "AllServicesReady"),
        ({"problems": [Problem("InvalidSpec", "spec.teams: ...")], "blocking": True}, False, True, "InvalidSpec"),
        ({"problems": [Problem("KindNotServed", "...")], "blocking": True, "ready": 0}, False, True, "KindNotServed"),
        ({"problems": [Problem("AzureError", "quota")], "ready": 7}, False, True, "AzureError"),
        ({"ready": 7, "stalled_services": ["t/a: ImageNotAllowed", "t/b: Forbidden"]}, False, True, "ServiceStalled"),
        # Azure still provisioning does not hide a service that will not come.
        (
            {"ready": 7, "waiting": "provisioning", "stalled_services": ["t/a: Forbidden"]},
            False,
            True,
            "ServiceStalled",
        ),
    ],
)
def test_a_platform_is_reconciling_or_stalled_until_it_is_ready(
    outcome: dict[str, Any], reconciling: bool, stalled: bool, reason: str
) -> None:
    found = _platform(**outcome)
    assert _kstatus(found) == (reconciling, stalled)
    assert found["Ready"].status is (not reconciling and not stalled)
    assert (found["Stalled"] if stalled else found["Reconciling"]).reason == reason


def test_a_platform_names_its_stalled_services() -> None:
    found = _platform(ready=6, stalled_services=["t/a: ImageNotAllowed", "t/b: Forbidden"])
    assert found["Stalled"].message == "t/a: ImageNotAllowed; t/b: Forbidden"
    # Hundreds stalled at once (a registry no longer allowed) still fit a condition's message.
    many = [f"t/s{i:03}: ImageNotAllowed" for i in range(500)]
    message = _platform(ready=0, stalled_services=many)["Stalled"].message
    assert message.startswith("t/s000: ImageNotAllowed; t/s001: ImageNotAllowed;")
    assert message.endswith("t/s009: ImageNotAllowed; and 490 more")
    # Its own problem comes first.
    found = _platform(
        problems=[Problem("InvalidSpec", "spec.teams[0]")], blocking=True, stalled_services=["t/a: Forbidden"]
    )
    assert (found["Stalled"].reason, found["Stalled"].message) == ("InvalidSpec", "spec.teams[0]")


def test_before_the_first_reconcile_everything_is_unknown_but_the_work_due() -> None:
    found = conditions.not_reconciled_conditions("the operator has not reconciled this platform yet")
    written = conditions.merge(None, found, generation=3)
    assert [(c["type"], c["status"]) for c in written] == [
        ("Ready", "Unknown"),
        ("Progressing", "Unknown"),
        ("Degraded", "Unknown"),
        ("Reconciling", "True"),
        ("Stalled", "Unknown"),
    ]
    assert all(c["reason"] and c["observedGeneration"] == 3 for c in written)


def test_stalled_moves_its_transition_time_only_when_it_flips() -> None:
    rolling = conditions.merge(None, list(_service(deployment=_deployment(1)).values()), generation=1)
    rolling = [{**c, "lastTransitionTime": "2000-01-01T00:00:00Z"} for c in rolling]
    still = conditions.merge(rolling, list(_service(deployment=_deployment(0)).values()), generation=1)
    assert {c["type"]: c["lastTransitionTime"] for c in still} == {t: "2000-01-01T00:00:00Z" for t in TYPES}
    stuck = conditions.merge(rolling, list(_service(deployment=_deployment(1, conditions=[_DEADLINE])).values()), 1)
    moved = {c["type"] for c in stuck if c["lastTransitionTime"] != "2000-01-01T00:00:00Z"}
    assert moved == {"Reconciling", "Stalled", "Degraded"}
