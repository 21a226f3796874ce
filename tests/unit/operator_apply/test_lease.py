"""The Lease rules of leader election: who may take a lease, what a holder writes when it takes, renews or releases."""

from datetime import UTC, datetime

import pytest

from fabrikam.operator.apply.lease import LeaseTiming, free_for, held_spec, micro_time, released_spec

NOW = datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=UTC)
TIMING = LeaseTiming(duration=8, renew_deadline=6, retry_period=1)
HELD_BY_B = {
    "holderIdentity": "replica-b",
    "leaseDurationSeconds": 8,
    "acquireTime": "2026-11-30T07:00:00.000000Z",
    "renewTime": "2026-11-30T07:59:59.000000Z",
    "leaseTransitions": 3,
}


def test_a_lease_nobody_holds_or_that_is_ours_may_be_taken_at_once() -> None:
    assert free_for(None, "replica-a", unchanged_for=0)
    assert free_for({**HELD_BY_B, "holderIdentity": None}, "replica-a", unchanged_for=0)
    assert free_for(HELD_BY_B, "replica-b", unchanged_for=0)


def test_another_holders_lease_is_free_only_once_seen_unchanged_for_its_duration() -> None:
    # Judged by how long this replica has seen the record unchanged, never by the holder's renewTime (clock skew).
    assert not free_for(HELD_BY_B, "replica-a", unchanged_for=7.9)
    assert free_for(HELD_BY_B, "replica-a", unchanged_for=8.0)


def test_taking_counts_a_transition_and_renewing_keeps_the_acquire_time() -> None:
    taken = held_spec(HELD_BY_B, "replica-a", TIMING, NOW)
    assert taken == {
        "holderIdentity": "replica-a",
        "leaseDurationSeconds": 8,
        "acquireTime": "2026-11-30T08:00:00.123456Z",
        "renewTime": "2026-11-30T08:00:00.123456Z",
        "leaseTransitions": 4,
    }
    renewed = held_spec(HELD_BY_B, "replica-b", TIMING, NOW)
    assert renewed["acquireTime"] == HELD_BY_B["acquireTime"]
    assert renewed["leaseTransitions"] == 3
    assert renewed["renewTime"] == micro_time(NOW)
    assert held_spec(None, "replica-a", TIMING, NOW)["leaseTransitions"] == 1


def test_a_released_lease_names_no_holder_and_expires_at_once() -> None:
    released = released_spec(HELD_BY_B, NOW)
    assert released["holderIdentity"] is None
    assert released["leaseDurationSeconds"] == 1
    assert free_for(released, "replica-a", unchanged_for=0)


@pytest.mark.parametrize(("duration", "deadline", "retry"), [(8, 8, 1), (8, 6, 6), (4, 6, 1)])
def test_timing_must_renew_before_the_lease_runs_out(duration: float, deadline: float, retry: float) -> None:
    with pytest.raises(ValueError, match="retry_period < renew_deadline < duration"):
        LeaseTiming(duration=duration, renew_deadline=deadline, retry_period=retry)
