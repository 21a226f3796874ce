"""Delivery commands and drone positions: each updates one tracked delivery by compare-and-set."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from redis.asyncio import Redis

from fabrikam.workloads.contracts import (
    NOTIFICATION_EVENTS,
    WORKFLOW_EVENTS,
    CancelDelivery,
    DeliveryCompleted,
    DeliveryScheduled,
    DeliveryStageChanged,
    DronePositionReported,
    RescheduleDelivery,
    ScheduleDelivery,
)
from fabrikam.workloads.delivery.live import LiveUpdates
from fabrikam.workloads.delivery.model import (
    ACTIVE,
    TRANSITIONS,
    DeliveryStage,
    Position,
    TrackedDelivery,
    TrackingEvent,
    advance,
    view,
)
from fabrikam.workloads.kit.documents import Versioned, VersionedDocuments
from fabrikam.workloads.kit.messaging.message import Message, outgoing
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.worker import Handler

Decision = tuple[TrackedDelivery, Sequence[str]] | None


def _events(*events: TrackingEvent) -> list[str]:
    return [event.model_dump_json(by_alias=True) for event in events]


def drone_key(drone_id: str) -> str:
    return f"delivery:by-drone:{drone_id}"


class DeliveryHandlers:
    def __init__(
        self, deliveries: VersionedDocuments[TrackedDelivery], redis: Redis, broker: Broker, live: LiveUpdates
    ) -> None:
        self._deliveries = deliveries
        self._redis = redis
        self._broker = broker
        self.live = live

    async def changed(self, tracked: TrackedDelivery, events: Sequence[TrackingEvent]) -> None:
        """Push the new state to live clients and tell the notification service about stage transitions.

        Notification has its own queue, so a slow or failing email provider never holds delivery up."""
        current = view(tracked)
        await self.live.publish(tracked.id, current.model_dump_json(by_alias=True))
        for event in events:
            if event.kind in TRANSITIONS:
                changed = DeliveryStageChanged(
                    delivery_id=tracked.id, stage=event.stage.value, at=event.at, delivery_eta=current.delivery_eta
                )
                message_id = f"DeliveryStageChanged:{tracked.id}:{event.stage.value}"
                await self._broker.publish(NOTIFICATION_EVENTS, outgoing(message_id, changed))

    async def schedule(self, message: Message) -> None:
        command = ScheduleDelivery.model_validate(message.body)
        now = datetime.now(UTC)
        created_events: list[TrackingEvent] = []

        def decide(current: Versioned[TrackedDelivery] | None) -> Decision:
            created_events.clear()
            if current is not None:
                return None
            drone = command.drone
            tracked = TrackedDelivery(
                id=command.delivery_id,
                stage=DeliveryStage.scheduled,
                package_id=command.package_id,
                drone_id=drone.drone_id,
                speed_mps=drone.speed_mps,
                pickup=command.pickup,
                dropoff=command.dropoff,
                pickup_time=command.pickup_time,
                deadline=command.deadline,
                expedited=command.expedited,
                confirmation_required=command.confirmation_required,
                scheduled_at=now,
                last_location=Position(latitude=drone.latitude, longitude=drone.longitude, reported_at=now),
            )
            created = TrackingEvent(stage=DeliveryStage.created, kind="created", at=now)
            scheduled = TrackingEvent(stage=DeliveryStage.scheduled, kind="scheduled", at=now, detail=drone.drone_id)
            created_events.extend((created, scheduled))
            return tracked, _events(created, scheduled)

        tracked = await self._deliveries.update(command.delivery_id, decide)
        if tracked is not None and tracked.stage in ACTIVE and tracked.drone_id:
            await self._redis.set(drone_key(tracked.drone_id), tracked.id)
            await self.changed(tracked, created_events)
            scheduled = DeliveryScheduled(delivery_id=tracked.id)
            await self._broker.publish(WORKFLOW_EVENTS, outgoing(f"DeliveryScheduled:{tracked.id}", scheduled))

    async def reschedule(self, message: Message) -> None:
        command = RescheduleDelivery.model_validate(message.body)

        def decide(current: Versioned[TrackedDelivery] | None) -> Decision:
            if current is None or current.document.stage not in ACTIVE:
                return None
            tracked = current.document
            updated = tracked.model_copy(update={"pickup_time": command.pickup_time, "deadline": command.deadline})
            event = TrackingEvent(
                stage=tracked.stage,
                kind="rescheduled",
                at=datetime.now(UTC),
                detail=f"pickup {command.pickup_time.isoformat()}, deadline {command.deadline.isoformat()}",
            )
            return updated, _events(event)

        await self._deliveries.update(command.delivery_id, decide)

    async def cancel(self, message: Message) -> None:
        command = CancelDelivery.model_validate(message.body)

        def decide(current: Versioned[TrackedDelivery] | None) -> Decision:
            event = TrackingEvent(stage=DeliveryStage.cancelled, kind="cancelled", at=datetime.now(UTC))
            if current is None:
                return TrackedDelivery(id=command.delivery_id, stage=DeliveryStage.cancelled), _events(event)
            if current.document.stage not in ACTIVE:
                return None
            return current.document.model_copy(update={"stage": DeliveryStage.cancelled}), _events(event)

        tracked = await self._deliveries.update(command.delivery_id, decide)
        if tracked is not None and tracked.drone_id:
            await self._redis.delete(drone_key(tracked.drone_id))
        if tracked is not None and tracked.stage == DeliveryStage.cancelled:
            await self.changed(tracked, [TrackingEvent(stage=tracked.stage, kind="cancelled", at=datetime.now(UTC))])

    async def position(self, message: Message) -> None:
        report = DronePositionReported.model_validate(message.body)
        delivery_id = await self._redis.get(drone_key(report.drone_id))
        if delivery_id is None:
            return
        position = Position(latitude=report.latitude, longitude=report.longitude, reported_at=report.reported_at)
        applied: list[TrackingEvent] = []

        def decide(current: Versioned[TrackedDelivery] | None) -> Decision:
            applied.clear()
            if current is None or current.document.stage not in ACTIVE:
                return None
            scheduled_at = current.document.scheduled_at
            if scheduled_at is not None and report.reported_at < scheduled_at:
                return None  # the drone's previous flight, reported late: not this delivery's
            updated, events = advance(current.document, position, report.speed_mps)
            applied.extend(events)
            return updated, _events(*events)

        tracked = await self._deliveries.update(str(delivery_id), decide)
        if tracked is None or not applied:
            return
        if tracked.stage == DeliveryStage.completed:
            await self.announce_completion(tracked)
        await self.changed(tracked, [event for event in applied if event.kind != "completed"])

    async def announce_completion(self, tracked: TrackedDelivery) -> None:
        """Tell the workflow (which releases the drone); sending twice is one message to the broker."""
        if tracked.drone_id:
            await self._redis.delete(drone_key(tracked.drone_id))
        completed = DeliveryCompleted(delivery_id=tracked.id)
        await self._broker.publish(WORKFLOW_EVENTS, outgoing(f"DeliveryCompleted:{tracked.id}", completed))
        at = tracked.last_location.reported_at if tracked.last_location else datetime.now(UTC)
        await self.changed(tracked, [TrackingEvent(stage=DeliveryStage.completed, kind="completed", at=at)])

    def handlers(self) -> Mapping[str, Handler]:
        return {
            ScheduleDelivery.__name__: self.schedule,
            RescheduleDelivery.__name__: self.reschedule,
            CancelDelivery.__name__: self.cancel,
        }

    def telemetry_handlers(self) -> Mapping[str, Handler]:
        return {DronePositionReported.__name__: self.position}
