"""A tracked delivery, its stages, and the pure rules that move it along as positions arrive."""

from collections.abc import Sequence
from enum import StrEnum

from pydantic import AwareDatetime, Field
from pydantic.json_schema import SkipJsonSchema

from fabrikam.workloads.contracts import Contract, Location
from fabrikam.workloads.delivery.eta import arrival, distance_m

ARRIVAL_RADIUS_M = 30.0


class DeliveryStage(StrEnum):
    created = "created"
    scheduled = "scheduled"
    headed_to_pickup = "headed_to_pickup"
    headed_to_dropoff = "headed_to_dropoff"
    completed = "completed"
    cancelled = "cancelled"
    failed = "failed"


ACTIVE = {DeliveryStage.scheduled, DeliveryStage.headed_to_pickup, DeliveryStage.headed_to_dropoff}
# Tracking events that mark a stage change customers hear about.
TRANSITIONS = {"scheduled", "departed", "picked_up", "completed", "confirmed", "cancelled"}


class Position(Contract):
    latitude: float
    longitude: float
    reported_at: AwareDatetime


class TrackedDelivery(Contract):
    """Stored state; a CancelDelivery that arrives before ScheduleDelivery leaves a cancelled tombstone."""

    id: str
    stage: DeliveryStage
    package_id: str | None = None
    drone_id: str | None = None
    speed_mps: float | None = None
    pickup: Location | None = None
    dropoff: Location | None = None
    pickup_time: AwareDatetime | None = None
    deadline: AwareDatetime | None = None
    expedited: bool = False
    confirmation_required: bool = False
    scheduled_at: AwareDatetime | None = None
    arrived: bool = False
    left_pickup: bool = False
    last_location: Position | None = None
    confirmed_by: str | None = None
    events: int = Field(
        default=0, description="How many tracking events the delivery recorded: the number of its last one"
    )
    trace: dict[str, str] = Field(
        default_factory=dict,
        description="The trace context (traceparent) of the delivery's scheduling: a stage change that a drone's "
        "report causes is in the report's trace, linked to this one",
    )


class TrackingEvent(Contract):
    stage: DeliveryStage
    kind: str
    at: AwareDatetime
    latitude: float | None = None
    longitude: float | None = None
    detail: str = ""
    seq: int | None = Field(
        default=None, description="Its number in the delivery's history, from 1; the id of its server-sent event"
    )


def recorded(delivery: TrackedDelivery, events: Sequence[TrackingEvent]) -> tuple[TrackedDelivery, list[TrackingEvent]]:
    """The delivery counting `events` too, and the events numbered after those it recorded before. Written in
    one step, so the numbers are the history's positions: `/track` gives them as event ids, and a client that
    reconnects with the last one it saw (`Last-Event-ID`) is sent the events after it."""
    numbered = [event.model_copy(update={"seq": delivery.events + index}) for index, event in enumerate(events, 1)]
    return delivery.model_copy(update={"events": delivery.events + len(events)}), numbered


class DeliveryView(TrackedDelivery):
    """`GET /v1/deliveries/{id}`: the stored state plus ETAs computed now; the trace context is the services' own."""

    trace: SkipJsonSchema[dict[str, str]] = Field(default_factory=dict, exclude=True)
    pickup_eta: AwareDatetime | None = None
    delivery_eta: AwareDatetime | None = None


def _near(position: Position, place: Location) -> bool:
    return distance_m(position.latitude, position.longitude, place.latitude, place.longitude) <= ARRIVAL_RADIUS_M


def advance(
    delivery: TrackedDelivery, position: Position, speed_mps: float = 0.0
) -> tuple[TrackedDelivery, list[TrackingEvent]]:
    """Apply a drone position: move through the stages it implies and, unless a newer position is already
    known (positions of one drone may be handled out of order), update the location and the speed the ETAs
    use (a hovering drone's 0 keeps the last one). A passed waypoint counts whenever its report arrives."""
    assert delivery.pickup is not None
    assert delivery.dropoff is not None
    stage, arrived = delivery.stage, delivery.arrived
    events = [TrackingEvent(stage=stage, kind="position", at=position.reported_at, **_coordinates(position))]
    if stage == DeliveryStage.scheduled:
        stage = DeliveryStage.headed_to_pickup
        events.append(TrackingEvent(stage=stage, kind="departed", at=position.reported_at))
    if stage == DeliveryStage.headed_to_pickup and _near(position, delivery.pickup):
        stage = DeliveryStage.headed_to_dropoff
        events.append(TrackingEvent(stage=stage, kind="picked_up", at=position.reported_at))
    if stage == DeliveryStage.headed_to_dropoff and not arrived and _near(position, delivery.dropoff):
        arrived = True
        events.append(TrackingEvent(stage=stage, kind="arrived", at=position.reported_at))
        if not delivery.confirmation_required:
            stage = DeliveryStage.completed
            events.append(TrackingEvent(stage=stage, kind="completed", at=position.reported_at))
    changes: dict[str, object] = {"stage": stage, "arrived": arrived}
    previous = delivery.last_location
    if previous is None or position.reported_at >= previous.reported_at:
        changes["last_location"] = position
        changes["speed_mps"] = speed_mps if speed_mps > 0 else delivery.speed_mps
        if stage == DeliveryStage.headed_to_dropoff and not delivery.left_pickup:
            changes["left_pickup"] = _leaving(delivery.pickup, previous, position)
    return delivery.model_copy(update=changes), events


def _leaving(pickup: Location, previous: Position | None, position: Position) -> bool:
    """Past the pickup once outside its radius or moving away from it: the stage turns within the radius,
    before the drone has reached the pickup, and ETAs must not jump down and back up meanwhile."""
    now = distance_m(position.latitude, position.longitude, pickup.latitude, pickup.longitude)
    if now > ARRIVAL_RADIUS_M:
        return True
    if previous is None:
        return False
    before = distance_m(previous.latitude, previous.longitude, pickup.latitude, pickup.longitude)
    return now > before


def _coordinates(position: Position) -> dict[str, float]:
    return {"latitude": position.latitude, "longitude": position.longitude}


def view(delivery: TrackedDelivery) -> DeliveryView:
    """ETAs from the last known position (at first, the drone's at assignment) and the drone's speed."""
    pickup_eta = delivery_eta = None
    position = delivery.last_location
    if delivery.stage in ACTIVE and position and delivery.speed_mps and delivery.pickup and delivery.dropoff:
        speed, pickup, dropoff = delivery.speed_mps, delivery.pickup, delivery.dropoff
        leg = distance_m(pickup.latitude, pickup.longitude, dropoff.latitude, dropoff.longitude)
        if delivery.stage == DeliveryStage.headed_to_dropoff and delivery.left_pickup:
            to_dropoff = distance_m(position.latitude, position.longitude, dropoff.latitude, dropoff.longitude)
            delivery_eta = arrival(position.reported_at, to_dropoff, speed)
        elif delivery.stage == DeliveryStage.headed_to_dropoff:
            to_pickup = distance_m(position.latitude, position.longitude, pickup.latitude, pickup.longitude)
            delivery_eta = arrival(position.reported_at, to_pickup + leg, speed)
        else:
            to_pickup = distance_m(position.latitude, position.longitude, pickup.latitude, pickup.longitude)
            pickup_eta = arrival(position.reported_at, to_pickup, speed)
            if delivery.stage == DeliveryStage.scheduled and delivery.pickup_time:
                pickup_eta = max(pickup_eta, delivery.pickup_time)
            delivery_eta = arrival(pickup_eta, leg, speed)
    return DeliveryView(**delivery.model_dump(), pickup_eta=pickup_eta, delivery_eta=delivery_eta)
