"""Delivery commands and drone positions: each updates one tracked delivery by compare-and-set, and writes
what it announces to other services into the outbox in the same step."""

from collections.abc import Mapping
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.trace import Span
from redis.asyncio import Redis

from fabrikam.workloads.contracts import (
    FROM_PEERS,
    CancelDelivery,
    DeliveryStageChanged,
    DronePositionReported,
    RescheduleDelivery,
    ScheduleDelivery,
)
from fabrikam.workloads.delivery import announcements
from fabrikam.workloads.delivery.live import LiveUpdates
from fabrikam.workloads.delivery.model import (
    ACTIVE,
    TRANSITIONS,
    DeliveryStage,
    Position,
    TrackedDelivery,
    TrackingEvent,
    advance,
    recorded,
    view,
)
from fabrikam.workloads.kit import tracing, turn_pipeline
from fabrikam.workloads.kit.documents import Decision, Versioned, VersionedDocuments, Write
from fabrikam.workloads.kit.messaging import outbox
from fabrikam.workloads.kit.messaging.message import Message
from fabrikam.workloads.kit.messaging.outbox import OutboxRelay
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.kit.metrics import DELIVERY_STAGE_TRANSITIONS
from fabrikam.workloads.kit.worker import Handler


def _events(events: list[TrackingEvent]) -> list[str]:
    return [event.model_dump_json(by_alias=True) for event in events]


def drone_key(drone_id: str) -> str:
    return f"delivery:by-drone:{drone_id}"


def _announced(
    before: TrackedDelivery, after: TrackedDelivery, events: list[TrackingEvent], changes: list[Span]
) -> list[announcements.Outgoing]:
    """What the stage changes of a drone's position announce, each change in a span of its own that it appends to
    `changes`: in the report's trace (the current one), linked to the trace that scheduled the delivery, and the
    parent of the messages announcing it, so that the notification it causes is in the report's trace too."""
    announced: list[announcements.Outgoing] = []
    for event in events:
        if event.kind not in TRANSITIONS:
            continue
        attributes = {"delivery.id": after.id, "delivery.stage": event.stage.value, "drone.id": after.drone_id or ""}
        span = tracing.linked_span(f"delivery {event.kind}", before.trace, attributes)
        changes.append(span)
        with trace.use_span(span):
            if event.stage == DeliveryStage.completed:
                announced += announcements.completion(before, after)
            announced += announcements.stage_changes(after, [event])
    return announced


class DeliveryHandlers:
    def __init__(
        self, deliveries: VersionedDocuments[TrackedDelivery], redis: Redis, broker: Broker, live: LiveUpdates
    ) -> None:
        self._deliveries = deliveries
        self._turn = turn_pipeline.shared(redis)  # drone-key writes of concurrent handlers share round trips
        self.live = live
        self.relay = OutboxRelay(redis, deliveries.outbox_key, broker)

    async def changed(self, tracked: TrackedDelivery, written: Mapping[str, str]) -> None:
        """Push the new state to live clients, then send what the write put in the outbox.

        Stage changes go to the notification service's own queue, so a slow or failing email provider never
        holds delivery up. Each one announced is counted: the outbox holds exactly the transitions the write
        made, so a redelivered command that changes nothing counts nothing."""
        for entry in written.values():
            _, message = outbox.parse(entry)
            if message.type == DeliveryStageChanged.__name__:
                DELIVERY_STAGE_TRANSITIONS.labels(message.body["stage"]).inc()
        await self.live.publish(tracked.id, view(tracked).model_dump_json(by_alias=True))
        await self.relay.send(written)

    async def schedule(self, message: Message) -> None:
        command = ScheduleDelivery.model_validate(message.body, context=FROM_PEERS)
        now = datetime.now(UTC)
        written: dict[str, str] = {}

        def decide(current: Versioned[TrackedDelivery] | None) -> Decision[TrackedDelivery]:
            written.clear()
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
                trace=tracing.inject({}),
            )
            created = TrackingEvent(stage=DeliveryStage.created, kind="created", at=now)
            scheduled = TrackingEvent(stage=DeliveryStage.scheduled, kind="scheduled", at=now, detail=drone.drone_id)
            tracked, events = recorded(tracked, [created, scheduled])
            written.update(
                outbox.entries([*announcements.stage_changes(tracked, [scheduled]), announcements.scheduled(tracked)])
            )
            return Write(tracked, _events(events), written)

        tracked = await self._deliveries.update(command.delivery_id, decide)
        if tracked is not None and tracked.stage in ACTIVE and tracked.drone_id:
            await self._turn.execute("SET", drone_key(tracked.drone_id), tracked.id)
            await self.changed(tracked, written)

    async def reschedule(self, message: Message) -> None:
        command = RescheduleDelivery.model_validate(message.body, context=FROM_PEERS)

        def decide(current: Versioned[TrackedDelivery] | None) -> Decision[TrackedDelivery]:
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
            updated, events = recorded(updated, [event])
            return updated, _events(events)

        await self._deliveries.update(command.delivery_id, decide)

    async def cancel(self, message: Message) -> None:
        command = CancelDelivery.model_validate(message.body, context=FROM_PEERS)
        written: dict[str, str] = {}

        def decide(current: Versioned[TrackedDelivery] | None) -> Decision[TrackedDelivery]:
            written.clear()
            event = TrackingEvent(stage=DeliveryStage.cancelled, kind="cancelled", at=datetime.now(UTC))
            if current is None:
                cancelled = TrackedDelivery(id=command.delivery_id, stage=DeliveryStage.cancelled)
            elif current.document.stage in ACTIVE:
                cancelled = current.document.model_copy(update={"stage": DeliveryStage.cancelled})
            else:
                return None
            cancelled, events = recorded(cancelled, [event])
            written.update(outbox.entries(announcements.stage_changes(cancelled, events)))
            return Write(cancelled, _events(events), written)

        tracked = await self._deliveries.update(command.delivery_id, decide)
        if tracked is not None and tracked.drone_id:
            await self._turn.execute("DEL", drone_key(tracked.drone_id))
        if tracked is not None and tracked.stage == DeliveryStage.cancelled:
            await self.changed(tracked, written)

    async def position(self, message: Message) -> None:
        report = DronePositionReported.model_validate(message.body, context=FROM_PEERS)
        delivery_id = await self._turn.execute("GET", drone_key(report.drone_id))
        if delivery_id is None:
            return
        position = Position(latitude=report.latitude, longitude=report.longitude, reported_at=report.reported_at)
        applied: list[TrackingEvent] = []
        written: dict[str, str] = {}
        changes: list[Span] = []

        def decide(current: Versioned[TrackedDelivery] | None) -> Decision[TrackedDelivery]:
            applied.clear()
            written.clear()
            changes.clear()  # a decision taken again drops the spans of the one before, unended and unsent
            if current is None or current.document.stage not in ACTIVE:
                return None
            scheduled_at = current.document.scheduled_at
            if scheduled_at is not None and report.reported_at < scheduled_at:
                return None  # the drone's previous flight, reported late: not this delivery's
            updated, events = recorded(*advance(current.document, position, report.speed_mps))
            applied.extend(events)
            written.update(outbox.entries(_announced(current.document, updated, events, changes)))
            return Write(updated, _events(events), written)

        tracked = await self._deliveries.update(str(delivery_id), decide)
        try:
            if tracked is None or not applied:
                return
            if tracked.stage == DeliveryStage.completed:
                await self.release_drone(tracked)
            await self.changed(tracked, written)
        finally:
            for span in changes:
                span.end()

    async def release_drone(self, tracked: TrackedDelivery) -> None:
        """Positions of this drone no longer belong to the finished delivery."""
        if tracked.drone_id:
            await self._turn.execute("DEL", drone_key(tracked.drone_id))

    def handlers(self) -> Mapping[str, Handler]:
        return {
            ScheduleDelivery.__name__: self.schedule,
            RescheduleDelivery.__name__: self.reschedule,
            CancelDelivery.__name__: self.cancel,
        }

    def telemetry_handlers(self) -> Mapping[str, Handler]:
        return {DronePositionReported.__name__: self.position}
