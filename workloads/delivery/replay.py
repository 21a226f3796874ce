"""The server-sent events of a delivery's live tracking, with ids, and what a client that reconnects missed.

Each event's id is the number of the delivery's last tracking event it reflects (`TrackedDelivery.events`;
the history numbers its events from 1, `TrackingEvent.seq`). A client that reconnects sends the last id it got
as `Last-Event-ID`, as the SSE specification has browsers do, and is sent first the tracking events recorded
after that one (from the delivery's history, which keeps the last 1,000), each as a `tracking` event with its
number as id, then the current state as a `delivery` event: the changes in between, not only where it ended.
"""

import re
from collections.abc import Iterable

from fabrikam.workloads.contracts import FROM_PEERS
from fabrikam.workloads.delivery.model import DeliveryView, TrackingEvent

_ID = re.compile(r"[0-9]{1,18}")


def last_seen(header: str | None) -> int | None:
    """The number in `Last-Event-ID`; None on a first connection or for an id that is not one of ours."""
    if header is None or not _ID.fullmatch(header.strip()):
        return None
    return int(header.strip())


def missed(history: Iterable[str], after: int, upto: int) -> list[TrackingEvent]:
    """The history's events numbered after `after`, up to `upto` (the state sent next), oldest first. Events
    recorded before numbering began have no number and are not replayed."""
    events = (TrackingEvent.model_validate_json(row, context=FROM_PEERS) for row in history)
    return [event for event in events if event.seq is not None and after < event.seq <= upto]


def tracking_event(event: TrackingEvent) -> dict[str, str]:
    return {"event": "tracking", "id": str(event.seq), "data": event.model_dump_json(by_alias=True)}


def delivery_event(state: DeliveryView, data: str | None = None) -> dict[str, str]:
    """`data` is the state's JSON when the caller already has it (a live update arrives as JSON)."""
    return {"event": "delivery", "id": str(state.events), "data": data or state.model_dump_json(by_alias=True)}
