"""How per-resource results add up to what the handlers report: Ready, Degraded (with Azure's words), requeue."""

from __future__ import annotations

import pytest

from fabrikam.operator.api import Problem
from fabrikam.operator.azure import (
    THROTTLED,
    UNAVAILABLE,
    AzureOutcome,
    ResourceResult,
    lasting_problem,
    next_failed_passes,
)


def _result(state: str, *, code: str | None = None, retriable: bool = False) -> ResourceResult:
    return ResourceResult(
        kind="RedisCache",
        name="redis-prod",
        id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/redis/redis-prod",
        provisioning_state=state,
        error_code=code,
        error_message=f"{code} happened" if code else None,
        retriable=retriable,
    )


def test_ready_when_everything_succeeded_deleted_or_retained() -> None:
    outcome = AzureOutcome.of([_result("Succeeded"), _result("Deleted"), _result("Retained")])

    assert outcome.ready
    assert outcome.degraded is None
    assert not outcome.requeue


def test_an_empty_outcome_is_ready() -> None:
    assert AzureOutcome().ready


def test_a_permanent_failure_is_degraded_with_azures_code_and_message() -> None:
    outcome = AzureOutcome.of([_result("Succeeded"), _result("Failed", code="NameNotAvailable")])

    assert not outcome.ready
    assert not outcome.requeue
    assert outcome.degraded is not None
    assert (outcome.degraded.error_code, outcome.degraded.error_message) == (
        "NameNotAvailable",
        "NameNotAvailable happened",
    )


def test_in_flight_pending_or_transient_failures_ask_for_a_requeue_not_degraded() -> None:
    for result in (
        _result("Creating"),
        _result("Pending"),
        _result("Failed", code="ServiceUnavailable", retriable=True),
    ):
        outcome = AzureOutcome.of([result])
        assert outcome.requeue
        assert outcome.degraded is None
        assert not outcome.ready


def test_results_become_status_entries() -> None:
    [status] = AzureOutcome.of([_result("Succeeded")]).statuses()

    assert (status.kind, status.name, status.state) == ("RedisCache", "redis-prod", "Succeeded")
    assert status.id is not None
    assert status.id.endswith("/redis/redis-prod")


def _failed(code: str, status: int | None, *, name: str = "redis-prod") -> ResourceResult:
    return ResourceResult(
        kind="RedisCache",
        name=name,
        id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/redis/{name}",
        provisioning_state="Failed",
        error_code=code,
        error_message=f"{code} happened",
        retriable=True,
        error_status=status,
    )


@pytest.mark.parametrize(
    ("code", "status", "reason", "says"),
    [
        ("SubscriptionRequestsThrottled", 429, THROTTLED, "throttles the operator's requests"),
        ("ServiceUnavailable", 503, UNAVAILABLE, "Azure is failing or unreachable"),
        ("NetworkError", None, UNAVAILABLE, "Azure is failing or unreachable"),
        ("InternalServerError", None, UNAVAILABLE, "Azure is failing or unreachable"),  # a failed operation
        ("AuthorizationFailed", 403, "AuthorizationFailed", "RedisCache redis-prod: AuthorizationFailed: "),
        ("ResourceNotFound", 404, "ResourceNotFound", "RedisCache redis-prod: ResourceNotFound: "),
    ],
)
def test_a_retriable_failure_is_a_problem_named_by_what_a_person_reads(
    code: str, status: int | None, reason: str, says: str
) -> None:
    outcome = AzureOutcome.of([_result("Succeeded"), _failed(code, status)])

    assert outcome.degraded is None
    assert outcome.requeue
    assert outcome.problem is not None
    assert outcome.problem.reason == reason
    assert says in outcome.problem.message
    assert f"{code} happened" in outcome.problem.message


def test_a_permission_to_grant_is_shown_before_throttling_or_an_outage() -> None:
    outcome = AzureOutcome.of(
        [
            _failed("TooManyRequests", 429, name="a"),
            _failed("ServiceUnavailable", 503, name="b"),
            _failed("AuthorizationFailed", 403, name="c"),
        ]
    )

    assert outcome.problem == Problem(
        "AuthorizationFailed", "RedisCache c: AuthorizationFailed: AuthorizationFailed happened"
    )


def test_no_problem_without_a_retriable_failure() -> None:
    assert AzureOutcome.of([_result("Succeeded"), _result("Creating")]).problem is None
    assert AzureOutcome.of([_result("Failed", code="NameNotAvailable")]).problem is None


@pytest.mark.parametrize(
    ("passes", "after", "reported"),
    [(1, 5, False), (4, 5, False), (5, 5, True), (9, 5, True), (1, 1, True)],
)
def test_a_problem_is_reported_once_it_lasted_enough_passes(passes: int, after: int, reported: bool) -> None:
    outcome = AzureOutcome.of([_failed("TooManyRequests", 429)])

    problem = lasting_problem(outcome, passes, after_passes=after)

    assert (problem is not None) == reported
    assert problem is None or problem.reason == THROTTLED


def test_consecutive_failed_passes_count_up_and_reset_on_a_clean_pass() -> None:
    failing = AzureOutcome.of([_failed("ServiceUnavailable", 503)])
    provisioning = AzureOutcome.of([_result("Creating")])
    count = 0
    history = []
    for outcome in (failing, failing, failing, provisioning, failing):
        count = next_failed_passes(count, outcome)
        history.append(count)

    assert history == [1, 2, 3, 0, 1]
    assert lasting_problem(failing, 0, after_passes=1) is None
