"""Delivery ETAs around the pickup: the stage turns within the pickup radius, the ETA keeps counting down."""

import itertools
from datetime import UTC, datetime, timedelta

from fabrikam.workloads.contracts import Location
from fabrikam.workloads.delivery.model import DeliveryStage, Position, TrackedDelivery, advance, view

START = datetime(2030, 1, 1, tzinfo=UTC)
PICKUP = Location(latitude=47.600, longitude=-122.300)
DROPOFF = Location(latitude=47.600, longitude=-122.280)


def tracked() -> TrackedDelivery:
    return TrackedDelivery(
        id="d",
        stage=DeliveryStage.scheduled,
        drone_id="x",
        speed_mps=10,
        pickup=PICKUP,
        dropoff=DROPOFF,
        last_location=Position(latitude=47.598, longitude=-122.300, reported_at=START),
    )


def test_remaining_time_only_decreases_from_approach_through_pickup_to_dropoff() -> None:
    # 10 m/s north to the pickup in 1e-4° (≈11 m) steps, then east towards the drop-off.
    path = [(47.5990 + i * 1e-4, -122.300) for i in range(11)] + [(47.600, -122.300 + i * 1.5e-4) for i in range(1, 40)]
    delivery, remaining, stages = tracked(), [], []
    for step, (latitude, longitude) in enumerate(path):
        at = START + timedelta(seconds=step * 1.11)
        delivery, _ = advance(delivery, Position(latitude=latitude, longitude=longitude, reported_at=at), 10.0)
        current = view(delivery)
        assert current.delivery_eta is not None
        remaining.append((current.delivery_eta - at).total_seconds())
        stages.append(delivery.stage)
    assert DeliveryStage.headed_to_dropoff in stages
    assert all(later <= earlier + 1e-6 for earlier, later in itertools.pairwise(remaining))


def test_an_older_position_turns_a_stage_but_never_moves_the_drone_back() -> None:
    delivery, _ = advance(
        tracked(), Position(latitude=47.6005, longitude=-122.299, reported_at=START + timedelta(60)), 10
    )
    late_waypoint = Position(latitude=47.600, longitude=-122.300, reported_at=START + timedelta(seconds=30))
    delivery, events = advance(delivery, late_waypoint, 10.0)
    assert delivery.stage == DeliveryStage.headed_to_dropoff
    assert "picked_up" in [event.kind for event in events]
    assert delivery.last_location is not None
    assert delivery.last_location.longitude == -122.299
