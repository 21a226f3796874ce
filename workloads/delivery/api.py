"""Delivery routes: state with live ETAs, the tracking history, and recipient confirmations."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Path
from pydantic import Field
from sse_starlette.sse import EventSourceResponse

from fabrikam.workloads.contracts import Contract
from fabrikam.workloads.delivery import announcements
from fabrikam.workloads.delivery.handlers import DeliveryHandlers
from fabrikam.workloads.delivery.model import (
    ACTIVE,
    DeliveryStage,
    DeliveryView,
    TrackedDelivery,
    TrackingEvent,
    view,
)
from fabrikam.workloads.kit.documents import ConcurrentUpdate, Decision, Versioned, VersionedDocuments, Write
from fabrikam.workloads.kit.messaging import outbox

DELIVERY_ID = Path(pattern=r"^[A-Za-z0-9-]{1,64}$")
TRACK_REFRESH_SECONDS = 10.0
STAGE_ORDER = list(DeliveryStage)


class Confirmation(Contract):
    confirmed_by: str = Field(min_length=1, max_length=128)
    signature_ref: str | None = Field(default=None, max_length=256)


class NotConfirmable(Exception):
    def __init__(self, stage: DeliveryStage) -> None:
        super().__init__(f"delivery is {stage}; a confirmation needs the drone at the drop-off")


def progress(delivery: DeliveryView) -> tuple[int, datetime]:
    """How far a delivery has come: its stage first, then the time of its last known position."""
    located = delivery.last_location.reported_at if delivery.last_location else datetime.min.replace(tzinfo=UTC)
    return STAGE_ORDER.index(delivery.stage), located


def router(deliveries: VersionedDocuments[TrackedDelivery], handlers: DeliveryHandlers) -> APIRouter:
    api = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])

    async def load(delivery_id: str) -> TrackedDelivery:
        stored = await deliveries.load(delivery_id)
        if stored is None:
            raise HTTPException(404, f"no delivery {delivery_id}")
        return stored.document

    @api.get("/{delivery_id}", response_model=DeliveryView, summary="Stage, drone, location and ETAs")
    async def get_delivery(delivery_id: str = DELIVERY_ID) -> DeliveryView:
        return view(await load(delivery_id))

    @api.get("/{delivery_id}/events", response_model=list[TrackingEvent], summary="Tracking history")
    async def get_events(delivery_id: str = DELIVERY_ID) -> list[TrackingEvent]:
        await load(delivery_id)
        return [TrackingEvent.model_validate_json(row) for row in await deliveries.events(delivery_id)]

    @api.get(
        "/{delivery_id}/track",
        summary="Live tracking: server-sent events pushed on every position and stage change, with fresh ETAs",
    )
    async def track(delivery_id: str = DELIVERY_ID) -> EventSourceResponse:
        """The current state first, then one `delivery` event per change until the delivery is over.
        With no change for `TRACK_REFRESH_SECONDS` the state is re-read, so a missed update heals."""
        await load(delivery_id)
        queue = handlers.live.listen(delivery_id)

        async def updates() -> AsyncIterator[dict[str, str]]:
            try:
                current = view(await load(delivery_id))
                yield {"event": "delivery", "data": current.model_dump_json(by_alias=True)}
                while current.stage in ACTIVE:
                    try:
                        data = await asyncio.wait_for(queue.get(), TRACK_REFRESH_SECONDS)
                        update = DeliveryView.model_validate_json(data)
                    except TimeoutError:
                        update = view(await load(delivery_id))
                        data = update.model_dump_json(by_alias=True)
                    if progress(update) < progress(current):
                        continue  # handlers finish out of order: a client never sees the delivery go back
                    current = update
                    yield {"event": "delivery", "data": data}
            finally:
                handlers.live.leave(delivery_id, queue)

        return EventSourceResponse(updates(), ping=15)

    @api.get("/{delivery_id}/stream", summary="Server-sent events polled every second (prefer /track)")
    async def stream(delivery_id: str = DELIVERY_ID) -> EventSourceResponse:
        await load(delivery_id)

        async def updates() -> AsyncIterator[dict[str, str]]:
            while True:
                current = view(await load(delivery_id))
                yield {"event": "delivery", "data": current.model_dump_json(by_alias=True)}
                if current.stage not in ACTIVE:
                    return
                await asyncio.sleep(1)

        return EventSourceResponse(updates())

    @api.post("/{delivery_id}/confirmations", status_code=202, response_model=DeliveryView, summary="Confirm receipt")
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
            updated = tracked.model_copy(
                update={"stage": DeliveryStage.completed, "confirmed_by": confirmation.confirmed_by}
            )
            written.update(
                outbox.entries(
                    [*announcements.completion(tracked, updated), *announcements.stage_changes(updated, [event])]
                )
            )
            return Write(updated, [event.model_dump_json(by_alias=True)], written)

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
