"""What delivery announces with a change (written to its outbox in the same step), and the outbox encoding."""

from datetime import UTC, datetime

from fabrikam.workloads.contracts import Location
from fabrikam.workloads.delivery import announcements
from fabrikam.workloads.delivery.model import DeliveryStage, Position, TrackedDelivery, advance
from fabrikam.workloads.kit.messaging import outbox
from fabrikam.workloads.kit.messaging.message import Message

AT = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
PICKUP = Location(latitude=47.600, longitude=-122.300)
DROPOFF = Location(latitude=47.610, longitude=-122.300)


def delivery(stage: DeliveryStage, **changes: object) -> TrackedDelivery:
    return TrackedDelivery(
        id="d-1", stage=stage, drone_id="drone-1", speed_mps=10, pickup=PICKUP, dropoff=DROPOFF, **changes
    )


def test_a_flight_announces_each_stage_once_and_the_completion_to_the_workflow() -> None:
    tracked, sent = delivery(DeliveryStage.scheduled), []
    for latitude in (47.590, 47.600, 47.610):  # take off, over the pickup, over the drop-off
        updated, events = advance(tracked, Position(latitude=latitude, longitude=-122.300, reported_at=AT), 10)
        sent += [*announcements.stage_changes(updated, events), *announcements.completion(tracked, updated)]
        tracked = updated
    assert [(queue, message.id) for queue, message in sent] == [
        ("notification-events", "DeliveryStageChanged:d-1:headed_to_pickup"),
        ("notification-events", "DeliveryStageChanged:d-1:headed_to_dropoff"),
        ("notification-events", "DeliveryStageChanged:d-1:completed"),
        ("workflow-events", "DeliveryCompleted:d-1"),
    ]
    assert sent[2][1].body == {
        "deliveryId": "d-1",
        "stage": "completed",
        "at": "2030-05-01T12:00:00Z",
        "deliveryEta": None,
    }


def test_positions_and_arrivals_are_not_announced() -> None:
    tracked = delivery(DeliveryStage.headed_to_dropoff, confirmation_required=True)
    updated, events = advance(tracked, Position(latitude=47.610, longitude=-122.300, reported_at=AT), 10)
    assert [event.kind for event in events] == ["position", "arrived"]
    assert announcements.stage_changes(updated, events) == []
    assert announcements.completion(tracked, updated) == []


def test_completion_is_announced_only_by_the_change_that_completes() -> None:
    done = delivery(DeliveryStage.completed)
    assert announcements.completion(delivery(DeliveryStage.headed_to_dropoff), done) != []
    assert announcements.completion(done, done) == []


def test_scheduling_tells_the_workflow_under_a_deterministic_id() -> None:
    queue, message = announcements.scheduled(delivery(DeliveryStage.scheduled))
    assert (queue, message.id, message.type, message.body) == (
        "workflow-events",
        "DeliveryScheduled:d-1",
        "DeliveryScheduled",
        {"deliveryId": "d-1"},
    )


def test_an_outbox_entry_decodes_to_the_queue_and_the_same_message() -> None:
    message = Message("m-1", "DeliveryScheduled", {"deliveryId": "d-1"}, {"traceparent": "00-abc-def-01"})
    encoded = outbox.entries([("workflow-events", message)])
    assert list(encoded) == ["workflow-events/m-1"]
    assert outbox.parse(encoded["workflow-events/m-1"]) == ("workflow-events", message)
