"""Event ids of live tracking: each write numbers its tracking events, and a reconnecting client is sent those
after the last id it saw."""

from datetime import UTC, datetime

import pytest

from fabrikam.workloads.delivery.model import DeliveryStage, TrackedDelivery, TrackingEvent, recorded, view
from fabrikam.workloads.delivery.replay import delivery_event, last_seen, missed, tracking_event

AT = datetime(2030, 1, 1, tzinfo=UTC)


def event(kind: str, stage: DeliveryStage = DeliveryStage.headed_to_pickup) -> TrackingEvent:
    return TrackingEvent(stage=stage, kind=kind, at=AT)


def test_each_write_numbers_its_events_after_those_recorded_before() -> None:
    delivery = TrackedDelivery(id="d", stage=DeliveryStage.scheduled)
    delivery, first = recorded(delivery, [event("created"), event("scheduled")])
    delivery, second = recorded(delivery, [event("position"), event("departed")])
    assert [e.seq for e in first + second] == [1, 2, 3, 4]
    assert delivery.events == 4
    assert view(delivery).events == 4


@pytest.mark.parametrize(
    ("header", "seen"),
    [(None, None), ("7", 7), (" 12 ", 12), ("", None), ("abc", None), ("-3", None), ("\u00b2", None), ("9" * 19, None)],
)
def test_only_a_number_of_ours_in_last_event_id_counts(header: str | None, seen: int | None) -> None:
    assert last_seen(header) == seen


def test_the_events_after_the_last_seen_up_to_the_state_sent_next_are_replayed_oldest_first() -> None:
    _, numbered = recorded(TrackedDelivery(id="d", stage=DeliveryStage.scheduled, events=2), [event("e")] * 5)
    history = [event("before numbering").model_dump_json(), *(e.model_dump_json(by_alias=True) for e in numbered)]
    assert [e.seq for e in missed(history, after=3, upto=6)] == [4, 5, 6]
    assert missed(history, after=7, upto=7) == []


def test_server_sent_events_carry_their_number_as_id() -> None:
    _, [numbered] = recorded(TrackedDelivery(id="d", stage=DeliveryStage.scheduled, events=4), [event("position")])
    assert (tracking_event(numbered)["event"], tracking_event(numbered)["id"]) == ("tracking", "5")
    state = view(TrackedDelivery(id="d", stage=DeliveryStage.headed_to_pickup, events=5))
    assert delivery_event(state) == {"event": "delivery", "id": "5", "data": state.model_dump_json(by_alias=True)}
    assert delivery_event(state, "{}")["data"] == "{}"
