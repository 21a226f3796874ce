"""What delivery tells other services about a change, decided with the change itself so that both are written
in one atomic step (the outbox) and a crash in between cannot lose a notification or a completion.

Message ids are deterministic (one per delivery and stage), so a message sent twice is one to the broker.
"""

from collections.abc import Iterable

from fabrikam.workloads.contracts import (
    NOTIFICATION_EVENTS,
    WORKFLOW_EVENTS,
    DeliveryCompleted,
    DeliveryScheduled,
    DeliveryStageChanged,
)
from fabrikam.workloads.delivery.model import TRANSITIONS, DeliveryStage, TrackedDelivery, TrackingEvent, view
from fabrikam.workloads.kit.messaging.message import Message, outgoing

Outgoing = tuple[str, Message]


def stage_changes(tracked: TrackedDelivery, events: Iterable[TrackingEvent]) -> list[Outgoing]:
    """One `DeliveryStageChanged` per transition customers hear about, for the notification service."""
    eta = view(tracked).delivery_eta
    return [
        (
            NOTIFICATION_EVENTS,
            outgoing(
                f"DeliveryStageChanged:{tracked.id}:{event.stage.value}",
                DeliveryStageChanged(delivery_id=tracked.id, stage=event.stage.value, at=event.at, delivery_eta=eta),
            ),
        )
        for event in events
        if event.kind in TRANSITIONS
    ]


def scheduled(tracked: TrackedDelivery) -> Outgoing:
    """Tells the workflow that delivery tracks it from now on."""
    return WORKFLOW_EVENTS, outgoing(f"DeliveryScheduled:{tracked.id}", DeliveryScheduled(delivery_id=tracked.id))


def completion(before: TrackedDelivery, after: TrackedDelivery) -> list[Outgoing]:
    """`DeliveryCompleted` for the workflow (which releases the drone), once, when this change completed it."""
    if before.stage == DeliveryStage.completed or after.stage != DeliveryStage.completed:
        return []
    return [(WORKFLOW_EVENTS, outgoing(f"DeliveryCompleted:{after.id}", DeliveryCompleted(delivery_id=after.id)))]
