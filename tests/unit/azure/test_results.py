"""How per-resource results add up to what the handlers report: Ready, Degraded (with Azure's words), requeue."""

from __future__ import annotations

from fabrikam.operator.azure import AzureOutcome, ResourceResult


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
