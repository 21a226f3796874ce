"""Simulated flight along great circles: positions, headings, waypoints and battery."""

import pytest

from fabrikam.workloads.simulator.flight import Flight, Point, bearing, destination, interpolate, metres

BASE = Point(47.60, -122.33)
PICKUP = Point(47.61, -122.33)
DROPOFF = Point(47.61, -122.31)


def test_interpolation_stays_on_the_great_circle_and_splits_the_distance() -> None:
    halfway = interpolate(BASE, DROPOFF, 0.5)
    assert metres(BASE, halfway) == pytest.approx(metres(halfway, DROPOFF), rel=1e-9)
    assert metres(BASE, halfway) + metres(halfway, DROPOFF) == pytest.approx(metres(BASE, DROPOFF), rel=1e-9)
    assert interpolate(BASE, DROPOFF, 0.0) == pytest.approx(BASE)
    assert interpolate(BASE, BASE, 0.3) == BASE


def test_headings_are_compass_bearings() -> None:
    assert bearing(BASE, PICKUP) == pytest.approx(0.0, abs=1e-6)
    assert bearing(PICKUP, DROPOFF) == pytest.approx(90.0, abs=0.01)
    assert bearing(PICKUP, BASE) == pytest.approx(180.0, abs=1e-6)


def test_destination_inverts_distance_and_bearing() -> None:
    far = destination(BASE, 45.0, 2500.0)
    assert metres(BASE, far) == pytest.approx(2500.0, rel=1e-6)
    assert bearing(BASE, far) == pytest.approx(45.0, abs=0.01)


def test_a_flight_reaches_each_waypoint_at_its_time_and_drains_the_battery() -> None:
    flight = Flight([BASE, PICKUP, DROPOFF], speed_mps=15.0, battery=90.0)
    to_pickup, to_dropoff = flight.waypoint_times()
    assert to_pickup == pytest.approx(metres(BASE, PICKUP) / 15.0)
    assert flight.duration_s == pytest.approx(to_dropoff)
    assert flight.at(to_pickup / 2).leg == 0
    assert flight.at(to_pickup + 1).leg == 1
    landed = flight.at(flight.duration_s)
    assert (landed.leg, landed.point) == (2, DROPOFF)
    assert landed.battery == pytest.approx(90.0 - 1.5 * (metres(BASE, PICKUP) + metres(PICKUP, DROPOFF)) / 1000)
    assert flight.at(flight.duration_s * 10).point == DROPOFF


def test_floating_point_sums_never_leave_a_drone_just_short_of_the_dropoff() -> None:
    flight = Flight([BASE, Point(47.6012345, -122.3298765), Point(47.6098765, -122.3187654)], 300.0, 100.0)
    assert flight.at(flight.waypoint_times()[-1]).leg == 2
