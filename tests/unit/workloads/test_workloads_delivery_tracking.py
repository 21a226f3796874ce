"""Delivery tracking: ETAs come from position and speed; positions move deliveries through their stages."""

from datetime import UTC, datetime, timedelta

import pytest

from fabrikam.workloads.contracts import Location
from fabrikam.workloads.delivery.eta import LONGEST_FLIGHT, arrival, distance_m
from fabrikam.workloads.delivery.model import DeliveryStage, Position, TrackedDelivery, advance, view

T0 = datetime(2030, 1, 1, 10, tzinfo=UTC)
PICKUP = Location(latitude=47.60, longitude=-122.30)
DROPOFF = Location(latitude=47.61, longitude=-122.30)


def tracked(stage: DeliveryStage = DeliveryStage.scheduled, *, confirmation: bool = False) -> TrackedDelivery:
    return TrackedDelivery(
        id="d-1",
        stage=stage,
        drone_id="drone-1",
        speed_mps=10.0,
        pickup=PICKUP,
        dropoff=DROPOFF,
        pickup_time=T0 - timedelta(hours=1),
        confirmation_required=confirmation,
        last_location=Position(latitude=47.59, longitude=-122.30, reported_at=T0),
    )


def test_one_hundredth_of_a_degree_of_latitude_is_about_1112_metres() -> None:
    assert distance_m(47.60, -122.30, 47.61, -122.30) == pytest.approx(1112, abs=2)


def test_arrival_is_distance_over_speed() -> None:
    assert arrival(T0, 1000, 10) == T0 + timedelta(seconds=100)


def test_a_speed_near_zero_gives_an_arrival_a_day_away_not_an_overflow() -> None:
    """A drone registered at 5e-324 m/s made every read of its delivery fail with OverflowError."""
    assert arrival(T0, 1000, 5e-324) == T0 + LONGEST_FLIGHT
    crawling = view(tracked().model_copy(update={"speed_mps": 5e-324}))
    assert (crawling.pickup_eta, crawling.delivery_eta) == (T0 + LONGEST_FLIGHT, T0 + 2 * LONGEST_FLIGHT)


def test_etas_follow_the_drone_position_and_speed() -> None:
    current = view(tracked())
    leg = distance_m(47.60, -122.30, 47.61, -122.30) / 10
    assert current.pickup_eta == T0 + timedelta(seconds=leg)
    assert current.delivery_eta is not None
    assert abs((current.delivery_eta - T0).total_seconds() - 2 * leg) < 0.001


def test_a_later_pickup_time_delays_the_pickup_eta() -> None:
    later = tracked().model_copy(update={"pickup_time": T0 + timedelta(hours=2)})
    assert view(later).pickup_eta == T0 + timedelta(hours=2)


def test_no_eta_once_the_delivery_is_over() -> None:
    finished = view(tracked(DeliveryStage.completed))
    assert (finished.pickup_eta, finished.delivery_eta) == (None, None)


def test_positions_walk_the_stages_and_complete_without_confirmation() -> None:
    delivery, events = advance(tracked(), Position(latitude=47.595, longitude=-122.30, reported_at=T0))
    assert delivery.stage == DeliveryStage.headed_to_pickup
    assert [event.kind for event in events] == ["position", "departed"]
    delivery, events = advance(delivery, Position(latitude=47.60, longitude=-122.30, reported_at=T0))
    assert delivery.stage == DeliveryStage.headed_to_dropoff
    assert view(delivery).pickup_eta is None
    delivery, events = advance(delivery, Position(latitude=47.61, longitude=-122.30, reported_at=T0))
    assert delivery.stage == DeliveryStage.completed
    assert [event.kind for event in events] == ["position", "arrived", "completed"]


def test_arrival_waits_for_a_confirmation_when_one_is_required() -> None:
    delivery = tracked(DeliveryStage.headed_to_dropoff, confirmation=True)
    delivery, events = advance(delivery, Position(latitude=47.61, longitude=-122.30, reported_at=T0))
    assert (delivery.stage, delivery.arrived) == (DeliveryStage.headed_to_dropoff, True)
    assert [event.kind for event in events] == ["position", "arrived"]
