"""The delivery saga as a table: given this state and this message, this state and these commands."""

from datetime import UTC, datetime, timedelta

import pytest

from fabrikam.workloads.contracts import (
    DeliveryCancelled,
    DeliveryCompleted,
    DeliveryRequested,
    DeliveryRescheduled,
    DeliveryScheduled,
    DroneAssigned,
    DroneSnapshot,
    DroneUnavailable,
    Location,
    PackageCreated,
    PackageInfo,
    PackageRejected,
    PackageSize,
    StepTimedOut,
)
from fabrikam.workloads.workflow.saga import Incoming, Saga, Stage, StepPolicy, decide, step_deadline

DELIVERY = "d-1"
PACKAGE = f"package-{DELIVERY}"
REQUEST = DeliveryRequested(
    delivery_id=DELIVERY,
    owner="acme",
    pickup=Location(latitude=47.6, longitude=-122.3, address="a"),
    dropoff=Location(latitude=47.7, longitude=-122.4, address="b"),
    pickup_time=datetime(2030, 1, 1, 10, tzinfo=UTC),
    deadline=datetime(2030, 1, 1, 12, tzinfo=UTC),
    expedited=False,
    confirmation_required=True,
    package=PackageInfo(size=PackageSize.medium, weight_kg=3, tag="t"),
    requested_at=datetime(2029, 12, 31, tzinfo=UTC),
)
DRONE = DroneSnapshot(drone_id="drone-7", latitude=47.6, longitude=-122.3, speed_mps=12)
T0 = datetime(2029, 12, 31, 8, tzinfo=UTC)
POLICY = StepPolicy(timeout_seconds=60, attempts=3)


def step(saga: Saga | None, message_id: str, body: object, now: datetime = T0) -> tuple[Saga, list[tuple[str, str]]]:
    decided = decide(saga, Incoming(message_id, body), now, POLICY)  # type: ignore[arg-type]
    assert decided is not None, f"{message_id} should change the saga"
    new, commands = decided
    return new, [(command.type, command.message_id) for command in commands]


def run_to(stage: Stage) -> Saga:
    saga, _ = step(None, "m-request", REQUEST)
    if stage == Stage.awaiting_package:
        return saga
    saga, _ = step(saga, "m-package", PackageCreated(delivery_id=DELIVERY, package_id=PACKAGE))
    if stage == Stage.awaiting_drone:
        return saga
    saga, _ = step(saga, "m-drone", DroneAssigned(delivery_id=DELIVERY, drone=DRONE))
    if stage == Stage.awaiting_schedule:
        return saga
    saga, _ = step(saga, "m-scheduled", DeliveryScheduled(delivery_id=DELIVERY))
    assert saga.stage == stage
    return saga


def test_happy_path_creates_package_then_assigns_drone_then_schedules() -> None:
    saga, commands = step(None, "m-request", REQUEST)
    assert (saga.stage, commands) == (Stage.awaiting_package, [("CreatePackage", f"CreatePackage:{DELIVERY}")])
    saga, commands = step(saga, "m-package", PackageCreated(delivery_id=DELIVERY, package_id=PACKAGE))
    assert (saga.stage, commands) == (Stage.awaiting_drone, [("AssignDrone", f"AssignDrone:{DELIVERY}")])
    saga, commands = step(saga, "m-drone", DroneAssigned(delivery_id=DELIVERY, drone=DRONE))
    assert (saga.stage, commands) == (Stage.awaiting_schedule, [("ScheduleDelivery", f"ScheduleDelivery:{DELIVERY}")])
    assert saga.outbox[-1].body["drone"]["droneId"] == "drone-7"
    saga, commands = step(saga, "m-scheduled", DeliveryScheduled(delivery_id=DELIVERY))
    assert (saga.stage, commands) == (Stage.scheduled, [])
    saga, commands = step(saga, "m-done", DeliveryCompleted(delivery_id=DELIVERY))
    assert (saga.stage, commands) == (Stage.completed, [("ReleaseDrone", f"ReleaseDrone:{DELIVERY}")])


def test_a_redelivered_message_changes_nothing() -> None:
    saga = run_to(Stage.awaiting_drone)
    assert decide(saga, Incoming("m-package", PackageCreated(delivery_id=DELIVERY, package_id=PACKAGE)), T0) is None
    assert decide(saga, Incoming("m-request", REQUEST), T0) is None


def test_a_reply_in_the_wrong_stage_is_ignored() -> None:
    saga = run_to(Stage.scheduled)
    assert decide(saga, Incoming("m-other", DroneAssigned(delivery_id=DELIVERY, drone=DRONE)), T0) is None


@pytest.mark.parametrize(
    ("stage", "compensations"),
    [
        (Stage.awaiting_package, ["CancelPackage"]),
        (Stage.awaiting_drone, ["ReleaseDrone", "CancelPackage"]),
        (Stage.awaiting_schedule, ["CancelDelivery", "ReleaseDrone", "CancelPackage"]),
        (Stage.scheduled, ["CancelDelivery", "ReleaseDrone", "CancelPackage"]),
    ],
)
def test_cancel_compensates_every_started_step_in_reverse(stage: Stage, compensations: list[str]) -> None:
    saga, commands = step(run_to(stage), "m-cancel", DeliveryCancelled(delivery_id=DELIVERY))
    assert saga.stage == Stage.cancelled
    assert [kind for kind, _ in commands] == compensations


def test_cancel_before_the_request_leaves_a_tombstone_the_request_cannot_revive() -> None:
    saga, commands = step(None, "m-cancel", DeliveryCancelled(delivery_id=DELIVERY))
    assert (saga.stage, commands) == (Stage.cancelled, [])
    saga, commands = step(saga, "m-request", REQUEST)
    assert (saga.stage, commands) == (Stage.cancelled, [])


def test_replies_that_arrive_after_a_cancel_are_compensated() -> None:
    cancelled, _ = step(run_to(Stage.awaiting_drone), "m-cancel", DeliveryCancelled(delivery_id=DELIVERY))
    _, commands = step(cancelled, "m-late-drone", DroneAssigned(delivery_id=DELIVERY, drone=DRONE))
    assert commands == [("ReleaseDrone", f"ReleaseDrone:{DELIVERY}:late")]


def test_no_drone_fails_the_saga_and_cancels_the_package() -> None:
    saga, commands = step(
        run_to(Stage.awaiting_drone), "m-none", DroneUnavailable(delivery_id=DELIVERY, reason="none in range")
    )
    assert saga.stage == Stage.failed
    assert saga.reason == "no drone: none in range"
    assert commands == [("CancelPackage", f"CancelPackage:{DELIVERY}")]


def test_a_rejected_package_fails_the_saga_with_the_reason() -> None:
    saga, commands = step(
        run_to(Stage.awaiting_package),
        "m-rejected",
        PackageRejected(delivery_id=DELIVERY, package_id=PACKAGE, reason="too heavy"),
    )
    assert (saga.stage, saga.reason, commands) == (Stage.failed, "package rejected: too heavy", [])


def test_reschedule_before_scheduling_is_used_when_the_delivery_is_scheduled() -> None:
    new_pickup = datetime(2030, 1, 2, 9, tzinfo=UTC)
    saga, commands = step(
        run_to(Stage.awaiting_drone), "m-resched", DeliveryRescheduled(delivery_id=DELIVERY, pickup_time=new_pickup)
    )
    assert commands == []
    saga, _ = step(saga, "m-drone", DroneAssigned(delivery_id=DELIVERY, drone=DRONE))
    assert saga.outbox[-1].body["pickupTime"] == "2030-01-02T09:00:00Z"
    assert saga.outbox[-1].body["deadline"] == "2030-01-01T12:00:00Z"


def test_reschedule_after_scheduling_sends_reschedule_delivery() -> None:
    new_deadline = datetime(2030, 1, 1, 18, tzinfo=UTC)
    saga, commands = step(
        run_to(Stage.scheduled), "m-resched", DeliveryRescheduled(delivery_id=DELIVERY, deadline=new_deadline)
    )
    assert saga.stage == Stage.scheduled
    assert [kind for kind, _ in commands] == ["RescheduleDelivery"]
    assert saga.outbox[-1].body["deadline"] == "2030-01-01T18:00:00Z"


def test_reschedule_while_scheduling_waits_for_the_schedule_then_sends_reschedule_delivery() -> None:
    """A RescheduleDelivery sent while ScheduleDelivery is in flight could reach the delivery service first and
    change nothing (the e2e test saw the old pickup time now and then): it waits for DeliveryScheduled."""
    new_pickup = datetime(2030, 1, 2, 9, tzinfo=UTC)
    saga, commands = step(
        run_to(Stage.awaiting_schedule),
        "m-resched",
        DeliveryRescheduled(delivery_id=DELIVERY, pickup_time=new_pickup),
    )
    assert (saga.stage, commands, saga.reschedule_pending) == (Stage.awaiting_schedule, [], True)
    saga, commands = step(saga, "m-scheduled", DeliveryScheduled(delivery_id=DELIVERY))
    assert (saga.stage, [kind for kind, _ in commands], saga.reschedule_pending) == (
        Stage.scheduled,
        ["RescheduleDelivery"],
        False,
    )
    assert saga.outbox[-1].body["pickupTime"] == "2030-01-02T09:00:00Z"
    assert saga.outbox[-1].body["deadline"] == "2030-01-01T12:00:00Z"


def test_nothing_moves_a_finished_saga() -> None:
    saga, _ = step(run_to(Stage.scheduled), "m-done", DeliveryCompleted(delivery_id=DELIVERY))
    assert decide(saga, Incoming("m-cancel", DeliveryCancelled(delivery_id=DELIVERY)), T0) is None


def test_the_outbox_keeps_recent_commands_so_a_redelivery_can_send_them_again() -> None:
    saga = run_to(Stage.awaiting_schedule)
    assert [command.type for command in saga.outbox] == ["CreatePackage", "AssignDrone", "ScheduleDelivery"]


def after(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def timeout(saga: Saga, seconds: float) -> tuple[Saga, list[tuple[str, str]]]:
    """The timer's message, `seconds` after T0."""
    return step(
        saga, f"m-timeout-{seconds}", StepTimedOut(delivery_id=DELIVERY, deadline=after(seconds)), after(seconds)
    )


def test_each_step_that_waits_for_a_reply_has_a_deadline_and_the_others_none() -> None:
    assert step_deadline(run_to(Stage.awaiting_package), POLICY) == after(60)
    assert step_deadline(run_to(Stage.awaiting_drone), POLICY) == after(60)
    assert step_deadline(run_to(Stage.scheduled), POLICY) is None
    cancelled, _ = step(run_to(Stage.awaiting_drone), "m-cancel", DeliveryCancelled(delivery_id=DELIVERY))
    assert step_deadline(cancelled, POLICY) is None


def test_a_reply_starts_the_next_step_clock_at_its_own_time() -> None:
    saga, _ = step(
        run_to(Stage.awaiting_package), "m-package", PackageCreated(delivery_id=DELIVERY, package_id=PACKAGE), after(10)
    )
    assert (saga.stage, saga.step_started_at, saga.step_attempt) == (Stage.awaiting_drone, after(10), 1)


def test_a_timeout_before_the_deadline_changes_nothing() -> None:
    saga = run_to(Stage.awaiting_drone)
    early = Incoming("m-early", StepTimedOut(delivery_id=DELIVERY, deadline=after(59)))
    assert decide(saga, early, after(59), POLICY) is None


def test_timeouts_retry_the_step_then_fail_it_and_undo_what_was_started() -> None:
    saga = run_to(Stage.awaiting_drone)
    saga, commands = timeout(saga, 60)
    assert (saga.stage, saga.step_attempt, saga.step_started_at) == (Stage.awaiting_drone, 2, after(60))
    assert commands == [("AssignDrone", f"AssignDrone:{DELIVERY}:attempt2")]
    assert saga.outbox[-1].body == saga.outbox[-2].body  # the same command, under a new id
    assert (
        decide(saga, Incoming("m-early", StepTimedOut(delivery_id=DELIVERY, deadline=after(60))), after(100), POLICY)
        is None
    )
    saga, commands = timeout(saga, 120)
    assert commands == [("AssignDrone", f"AssignDrone:{DELIVERY}:attempt3")]
    saga, commands = timeout(saga, 180)
    assert saga.stage == Stage.failed
    assert saga.reason == "timed out: no answer to AssignDrone after 3 attempts"
    assert commands == [("ReleaseDrone", f"ReleaseDrone:{DELIVERY}"), ("CancelPackage", f"CancelPackage:{DELIVERY}")]
    assert step_deadline(saga, POLICY) is None


@pytest.mark.parametrize(
    ("stage", "retried", "compensations"),
    [
        (Stage.awaiting_package, "CreatePackage", ["CancelPackage"]),
        (Stage.awaiting_schedule, "ScheduleDelivery", ["CancelDelivery", "ReleaseDrone", "CancelPackage"]),
    ],
)
def test_every_waiting_step_retries_its_own_command(stage: Stage, retried: str, compensations: list[str]) -> None:
    saga, commands = timeout(run_to(stage), 60)
    assert commands == [(retried, f"{retried}:{DELIVERY}:attempt2")]
    saga, _ = timeout(saga, 120)
    saga, commands = timeout(saga, 180)
    assert saga.stage == Stage.failed
    assert [kind for kind, _ in commands] == compensations


def test_a_reply_after_a_retry_moves_the_saga_on() -> None:
    saga, _ = timeout(run_to(Stage.awaiting_package), 60)
    saga, commands = step(saga, "m-package", PackageCreated(delivery_id=DELIVERY, package_id=PACKAGE), after(61))
    assert (saga.stage, saga.step_attempt, commands) == (
        Stage.awaiting_drone,
        1,
        [("AssignDrone", f"AssignDrone:{DELIVERY}")],
    )
    assert (
        decide(saga, Incoming("m-stale", StepTimedOut(delivery_id=DELIVERY, deadline=after(120))), after(120), POLICY)
        is None
    )


def test_replies_that_arrive_after_a_timeout_failed_the_saga_are_compensated() -> None:
    failed = run_to(Stage.awaiting_schedule)
    for seconds in (60, 120, 180):
        failed, _ = timeout(failed, seconds)
    assert failed.stage == Stage.failed
    _, commands = step(failed, "m-late-package", PackageCreated(delivery_id=DELIVERY, package_id=PACKAGE), after(200))
    assert commands == [("CancelPackage", f"CancelPackage:{DELIVERY}:late")]
    _, commands = step(failed, "m-late-drone", DroneAssigned(delivery_id=DELIVERY, drone=DRONE), after(200))
    assert commands == [("ReleaseDrone", f"ReleaseDrone:{DELIVERY}:late")]
    _, commands = step(failed, "m-late-scheduled", DeliveryScheduled(delivery_id=DELIVERY), after(200))
    assert commands == [("CancelDelivery", f"CancelDelivery:{DELIVERY}:late")]
    late = Incoming("m-late-rejected", PackageRejected(delivery_id=DELIVERY, package_id=PACKAGE, reason="cancelled"))
    assert decide(failed, late, after(200), POLICY) is None


def test_a_cancelled_saga_ignores_timeouts() -> None:
    cancelled, _ = step(run_to(Stage.awaiting_drone), "m-cancel", DeliveryCancelled(delivery_id=DELIVERY))
    assert (
        decide(cancelled, Incoming("m-t", StepTimedOut(delivery_id=DELIVERY, deadline=after(60))), after(60), POLICY)
        is None
    )
