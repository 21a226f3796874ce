"""The delivery saga as a pure state machine: (state, message) -> (new state, commands to send).

No I/O here, so every transition, compensation and duplicate is unit-tested as a table of cases. The
handler persists the state and sends the commands; a command's id is derived from the saga, so resending it
after a crash is dropped by the broker's duplicate detection.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field

from fabrikam.workloads.contracts import (
    DELIVERY_COMMANDS,
    PACKAGE_COMMANDS,
    SCHEDULER_COMMANDS,
    AssignDrone,
    CancelDelivery,
    CancelPackage,
    Contract,
    CreatePackage,
    DeliveryCancelled,
    DeliveryCompleted,
    DeliveryRequested,
    DeliveryRescheduled,
    DeliveryScheduled,
    DeliveryScoped,
    DroneAssigned,
    DroneSnapshot,
    DroneUnavailable,
    PackageCreated,
    PackageRejected,
    ReleaseDrone,
    RescheduleDelivery,
    ScheduleDelivery,
    StepTimedOut,
)


class Stage(StrEnum):
    awaiting_request = "awaiting_request"
    awaiting_package = "awaiting_package"
    awaiting_drone = "awaiting_drone"
    awaiting_schedule = "awaiting_schedule"
    scheduled = "scheduled"
    completed = "completed"
    cancelled = "cancelled"
    failed = "failed"


FINAL = {Stage.completed, Stage.cancelled, Stage.failed}
# Stages that wait for another service's reply to a command: each has a deadline.
WAITING = {Stage.awaiting_package, Stage.awaiting_drone, Stage.awaiting_schedule}


@dataclass(frozen=True)
class StepPolicy:
    """How long a step waits for its reply, and how many times its command is sent before the saga fails."""

    timeout_seconds: float = 60.0
    attempts: int = 3


class Command(BaseModel):
    """A message the saga sends; the recent ones stay in the saga (outbox) to be sent again after a crash."""

    queue: str
    message_id: str
    type: str
    body: dict[str, object]


class Saga(BaseModel):
    """Persisted orchestration state of one delivery."""

    delivery_id: str
    stage: Stage
    request: DeliveryRequested | None = None
    package_id: str | None = None
    drone: DroneSnapshot | None = None
    pickup_time: AwareDatetime | None = None
    deadline: AwareDatetime | None = None
    reason: str | None = None
    step_started_at: AwareDatetime | None = None
    step_attempt: int = 0
    # A reschedule arrived while ScheduleDelivery was in flight: sent once the delivery is scheduled.
    reschedule_pending: bool = False
    applied: list[str] = Field(default_factory=list)
    outbox: list[Command] = Field(default_factory=list)


@dataclass(frozen=True)
class Incoming:
    """A message after decoding: its id (for exactly-once) and its typed body."""

    message_id: str
    body: DeliveryScoped


def _command(queue: str, message_id: str, body: Contract) -> Command:
    return Command(
        queue=queue, message_id=message_id, type=type(body).__name__, body=body.model_dump(mode="json", by_alias=True)
    )


def _package_id(delivery_id: str) -> str:
    return f"package-{delivery_id}"


def _create_package(saga: Saga) -> Command:
    assert saga.request is not None
    body = CreatePackage(
        package_id=_package_id(saga.delivery_id), delivery_id=saga.delivery_id, package=saga.request.package
    )
    return _command(PACKAGE_COMMANDS, f"CreatePackage:{saga.delivery_id}", body)


def _assign_drone(saga: Saga) -> Command:
    assert saga.request is not None
    assign = AssignDrone(delivery_id=saga.delivery_id, pickup=saga.request.pickup, size=saga.request.package.size)
    return _command(SCHEDULER_COMMANDS, f"AssignDrone:{saga.delivery_id}", assign)


def _reschedule(saga: Saga) -> Command:
    """The saga's current pickup time and deadline, for a delivery the delivery service has scheduled."""
    assert saga.request is not None
    pickup_time = saga.pickup_time or saga.request.pickup_time
    deadline = saga.deadline or saga.request.deadline
    body = RescheduleDelivery(delivery_id=saga.delivery_id, pickup_time=pickup_time, deadline=deadline)
    return _command(DELIVERY_COMMANDS, f"RescheduleDelivery:{saga.delivery_id}:{len(saga.applied)}", body)


def _schedule(saga: Saga) -> Command:
    request, drone = saga.request, saga.drone
    assert request is not None
    assert drone is not None
    assert saga.package_id is not None
    body = ScheduleDelivery(
        delivery_id=saga.delivery_id,
        package_id=saga.package_id,
        drone=drone,
        pickup=request.pickup,
        dropoff=request.dropoff,
        pickup_time=saga.pickup_time or request.pickup_time,
        deadline=saga.deadline or request.deadline,
        expedited=request.expedited,
        confirmation_required=request.confirmation_required,
    )
    return _command(DELIVERY_COMMANDS, f"ScheduleDelivery:{saga.delivery_id}", body)


def _cancel_package(saga: Saga, suffix: str = "") -> Command:
    body = CancelPackage(package_id=_package_id(saga.delivery_id), delivery_id=saga.delivery_id)
    return _command(PACKAGE_COMMANDS, f"CancelPackage:{saga.delivery_id}{suffix}", body)


def _release_drone(saga: Saga, suffix: str = "") -> Command:
    return _command(
        SCHEDULER_COMMANDS, f"ReleaseDrone:{saga.delivery_id}{suffix}", ReleaseDrone(delivery_id=saga.delivery_id)
    )


def _cancel_delivery(saga: Saga, suffix: str = "") -> Command:
    body = CancelDelivery(delivery_id=saga.delivery_id)
    return _command(DELIVERY_COMMANDS, f"CancelDelivery:{saga.delivery_id}{suffix}", body)


def _step_command(saga: Saga) -> Command:
    """The command the saga's current step waits on."""
    if saga.stage == Stage.awaiting_package:
        return _create_package(saga)
    if saga.stage == Stage.awaiting_drone:
        return _assign_drone(saga)
    return _schedule(saga)


def step_deadline(saga: Saga, policy: StepPolicy) -> datetime | None:
    """When the current step gives up waiting for its reply; None when the saga waits for no reply."""
    if saga.stage not in WAITING or saga.step_started_at is None:
        return None
    return saga.step_started_at + timedelta(seconds=policy.timeout_seconds)


def _compensations(saga: Saga) -> list[Command]:
    """Undo, in reverse order, every step that was started: a step in flight may still complete."""
    stage = saga.stage
    commands: list[Command] = []
    if stage in (Stage.awaiting_schedule, Stage.scheduled):
        commands.append(_cancel_delivery(saga))
    if stage in (Stage.awaiting_drone, Stage.awaiting_schedule, Stage.scheduled):
        commands.append(_release_drone(saga))
    if stage in (Stage.awaiting_package, Stage.awaiting_drone, Stage.awaiting_schedule, Stage.scheduled):
        commands.append(_cancel_package(saga))
    return commands


def decide(
    saga: Saga | None, incoming: Incoming, now: datetime, policy: StepPolicy = StepPolicy()
) -> tuple[Saga, list[Command]] | None:
    """The next state and the commands to send, or None when the message changes nothing.

    `now` stamps the start of a step; a step timing out is just another message (`StepTimedOut`).
    """
    body = incoming.body
    if saga is None:
        saga = Saga(delivery_id=body.delivery_id, stage=Stage.awaiting_request)
    if incoming.message_id in saga.applied:
        return None
    transition = _timed_out(saga, now, policy) if isinstance(body, StepTimedOut) else _transition(saga, body)
    if transition is None:
        return None
    stage, changes, commands = transition
    if stage != saga.stage:  # a new step starts its clock; a saga that waits for nothing has none
        changes = {
            "step_started_at": now if stage in WAITING else None,
            "step_attempt": int(stage in WAITING),
        } | changes
    updated = saga.model_copy(
        update={
            **changes,
            "stage": stage,
            "applied": [*saga.applied, incoming.message_id][-32:],
            "outbox": [*saga.outbox, *commands][-16:],
        }
    )
    return updated, commands


Transition = tuple[Stage, dict[str, object], list[Command]]


def _timed_out(saga: Saga, now: datetime, policy: StepPolicy) -> Transition | None:
    """Send the step's command again while attempts remain, then fail and undo what was started.

    A retry gets a new message id, so the broker's duplicate detection does not drop it; the services'
    handlers are idempotent, so a command handled twice has one effect, and its replies share one id.
    """
    deadline = step_deadline(saga, policy)
    if deadline is None or now < deadline:
        return None  # the step was answered, or restarted, since this timer was set
    command = _step_command(saga)
    if saga.step_attempt < policy.attempts:
        attempt = saga.step_attempt + 1
        retry = command.model_copy(update={"message_id": f"{command.message_id}:attempt{attempt}"})
        return saga.stage, {"step_started_at": now, "step_attempt": attempt}, [retry]
    reason = f"timed out: no answer to {command.type} after {saga.step_attempt} attempts"
    return Stage.failed, {"reason": reason}, _compensations(saga)


def _transition(saga: Saga, body: DeliveryScoped) -> Transition | None:
    stage = saga.stage
    match body:
        case DeliveryRequested() if saga.request is None:
            if stage == Stage.cancelled:
                return stage, {"request": body}, []
            with_request = saga.model_copy(update={"request": body})
            return Stage.awaiting_package, {"request": body}, [_create_package(with_request)]
        case DeliveryCancelled() if stage not in FINAL:
            return Stage.cancelled, {"reason": body.reason}, _compensations(saga)
        case DeliveryRescheduled() if stage not in FINAL:
            changes: dict[str, object] = {
                "pickup_time": body.pickup_time or saga.pickup_time,
                "deadline": body.deadline or saga.deadline,
            }
            if stage == Stage.awaiting_schedule:
                # ScheduleDelivery is on its way with the old times, and a RescheduleDelivery sent now could reach
                # the delivery service first and find nothing to change: send it once the schedule is confirmed.
                return stage, {**changes, "reschedule_pending": True}, []
            if stage != Stage.scheduled or saga.request is None:
                return stage, changes, []
            return stage, changes, [_reschedule(saga.model_copy(update=changes))]
        case PackageCreated() if stage == Stage.awaiting_package:
            return Stage.awaiting_drone, {"package_id": body.package_id}, [_assign_drone(saga)]
        case PackageCreated() if stage in (Stage.cancelled, Stage.failed):
            return stage, {}, [_cancel_package(saga, ":late")]
        case PackageRejected() if stage == Stage.awaiting_package:
            return Stage.failed, {"reason": f"package rejected: {body.reason}"}, []
        case DroneAssigned() if stage == Stage.awaiting_drone:
            with_drone = saga.model_copy(update={"drone": body.drone})
            return Stage.awaiting_schedule, {"drone": body.drone}, [_schedule(with_drone)]
        case DroneAssigned() if stage in (Stage.cancelled, Stage.failed):
            return stage, {}, [_release_drone(saga, ":late")]
        case DroneUnavailable() if stage == Stage.awaiting_drone:
            return Stage.failed, {"reason": f"no drone: {body.reason}"}, [_cancel_package(saga)]
        case DeliveryScheduled() if stage == Stage.awaiting_schedule and saga.reschedule_pending:
            return Stage.scheduled, {"reschedule_pending": False}, [_reschedule(saga)]
        case DeliveryScheduled() if stage == Stage.awaiting_schedule:
            return Stage.scheduled, {}, []
        case DeliveryScheduled() if stage in (Stage.cancelled, Stage.failed) and saga.drone is not None:
            return stage, {}, [_cancel_delivery(saga, ":late")]
        case DeliveryCompleted() if stage in (Stage.scheduled, Stage.awaiting_schedule):
            return Stage.completed, {}, [_release_drone(saga)]
    return None
