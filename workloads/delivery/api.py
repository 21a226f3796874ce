"""Delivery routes: state with live ETAs, the tracking history, and recipient confirmations."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import APIRouter, Header, HTTPException, Path
from pydantic import Field
from sse_starlette.sse import EventSourceResponse

from fabrikam.workloads.contracts import FROM_PEERS, Contract
from fabrikam.workloads.delivery import announcements, replay
from fabrikam.workloads.delivery.handlers import DeliveryHandlers
from fabrikam.workloads.delivery.model import (
    ACTIVE,
    DeliveryStage,
    DeliveryView,
    TrackedDelivery,
    TrackingEvent,
    recorded,
    view,
)
from fabrikam.workloads.kit.documents import ConcurrentUpdate, Decision, Versioned, VersionedDocuments, Write
from fabrikam.workloads.kit.messaging import outbox
from fabrikam.workloads.kit.openapi import EVENT_STREAM, declared

DELIVERY_ID = Path(pattern=r"^[A-Za-z0-9-]{1,64}$")
TRACK_REFRESH_SECONDS = 10.0
LAST_EVENT_ID = Header(
    default=None,
    alias="Last-Event-ID",
    description="The id of the last event received before reconnecting: the events recorded since come first",
)


class Confirmation(Contract):
    confirmed_by: str = Field(min_length=1, max_length=128)
    signature_ref: str | None = Field(default=None, max_length=256)


class NotConfirmable(Exception):
    def __init__(self, stage: DeliveryStage) -> None:
        super().__init__(f"delivery is {stage}; a confirmation needs the drone at the drop-off")


def router(deliveries: VersionedDocuments[TrackedDelivery], handlers: DeliveryHandlers) -> APIRouter:
    api = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])

    async def load(delivery_id: str) -> TrackedDelivery:
        stored = await deliveries.load(delivery_id)
        if stored is None:
            raise HTTPException(404, f"no delivery {delivery_id}")
        return stored.document

    async def missed(delivery_id: str, last_event_id: str | None, current: DeliveryView) -> list[TrackingEvent]:
        """What a reconnecting client has not seen, up to the state it is sent next; nothing on a first visit."""
        seen = replay.last_seen(last_event_id)
        if seen is None or seen >= current.events:
            return []
        return replay.missed(await deliveries.events(delivery_id), seen, current.events)

    @api.get(
        "/{delivery_id}",
        response_model=DeliveryView,
        responses=declared(404),
        summary="Stage, drone, location and ETAs",
    )
    async def get_delivery(delivery_id: str = DELIVERY_ID) -> DeliveryView:
        return view(await load(delivery_id))

    @api.get(
        "/{delivery_id}/events", response_model=list[TrackingEvent], responses=declared(404), summary="Tracking history"
    )
    async def get_events(delivery_id: str = DELIVERY_ID) -> list[TrackingEvent]:
        await load(delivery_id)
        rows = await deliveries.events(delivery_id)
        return [TrackingEvent.model_validate_json(row, context=FROM_PEERS) for row in rows]

    @api.get(
        "/{delivery_id}/track",
        response_class=EventSourceResponse,
        responses={**EVENT_STREAM, **declared(404)},
        summary="Live tracking: server-sent events pushed on every position and stage change, with fresh ETAs",
    )
    async def track(delivery_id: str = DELIVERY_ID, last_event_id: str | None = LAST_EVENT_ID) -> EventSourceResponse:
        """The current state first, then one `delivery` event per change until the delivery is over; after a
        reconnection (`Last-Event-ID`), first the `tracking` events recorded since (`replay.py`). With no change
        for `TRACK_REFRESH_SECONDS` the state is re-read, so a missed update heals."""
        await load(delivery_id)
        queue = handlers.live.listen(delivery_id)

        async def updates() -> AsyncIterator[dict[str, str]]:
            try:
                current = view(await load(delivery_id))
                for event in await missed(delivery_id, last_event_id, current):
                    yield replay.tracking_event(event)
                yield replay.delivery_event(current)
                while current.stage in ACTIVE:
                    try:
                        data = await asyncio.wait_for(queue.get(), TRACK_REFRESH_SECONDS)
                        update = DeliveryView.model_validate_json(data, context=FROM_PEERS)
                    except TimeoutError:
                        update = view(await load(delivery_id))
                        data = update.model_dump_json(by_alias=True)
                    if update.events <= current.events:
                        continue  # handlers finish out of order: a client never sees the delivery go back
                    current = update
                    yield replay.delivery_event(current, data)
            finally:
                handlers.live.leave(delivery_id, queue)

        return EventSourceResponse(updates(), ping=15)

    @api.get(
        "/{delivery_id}/stream",
        response_class=EventSourceResponse,
        responses={**EVENT_STREAM, **declared(404)},
        summary="Server-sent events polled every second (prefer /track)",
    )
    async def stream(delivery_id: str = DELIVERY_ID, last_event_id: str | None = LAST_EVENT_ID) -> EventSourceResponse:
        await load(delivery_id)

        async def updates() -> AsyncIterator[dict[str, str]]:
            current = view(await load(delivery_id))
            for event in await missed(delivery_id, last_event_id, current):
                yield replay.tracking_event(event)
            while True:
                yield replay.delivery_event(current)
                if current.stage not in ACTIVE:
                    return
                await asyncio.sleep(1)
                current = view(await load(delivery_id))

        return EventSourceResponse(updates())

    @api.post(
        "/{delivery_id}/confirmations",
        status_code=202,
        response_model=DeliveryView,
        responses=declared(404, 409),
        summary="Confirm receipt",
    )
    async def confirm(confirmation: Confirmation, delivery_id: str = DELIVERY_ID) -> DeliveryView:
        """Completes a delivery whose drone is at the drop-off; confirming again is accepted and harmless."""
        written: dict[str, str] = {}

        def decide(current: Versioned[TrackedDelivery] | None) -> Decision[TrackedDelivery]:
            written.clear()
            if current is None:
                raise HTTPException(404, f"no delivery {delivery_id}")
            tracked = current.document
            if tracked.stage == DeliveryStage.completed:
                return None
            if tracked.stage != DeliveryStage.headed_to_dropoff or not tracked.arrived:
                raise NotConfirmable(tracked.stage)
            now = datetime.now(UTC)
            event = TrackingEvent(
                stage=DeliveryStage.completed, kind="confirmed", at=now, detail=confirmation.confirmed_by
            )
            completed = {"stage": DeliveryStage.completed, "confirmed_by": confirmation.confirmed_by}
            updated, events = recorded(tracked.model_copy(update=completed), [event])
            written.update(
                outbox.entries(
                    [*announcements.completion(tracked, updated), *announcements.stage_changes(updated, events)]
                )
            )
            return Write(updated, [event.model_dump_json(by_alias=True) for event in events], written)

        try:
            tracked = await deliveries.update(delivery_id, decide)
        except NotConfirmable as error:
            raise HTTPException(409, str(error)) from error
        except ConcurrentUpdate as error:
            raise HTTPException(503, str(error), headers={"Retry-After": "1"}) from error
        assert tracked is not None
        await handlers.release_drone(tracked)
        await handlers.changed(tracked, written)
        return view(tracked)

    return api
