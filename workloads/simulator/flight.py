"""Great-circle flight: base → pickup → drop-off at a constant ground speed, battery draining with distance.

Pure: given the time since take-off, where the drone is. The engine turns that into telemetry.
"""

import math
from dataclasses import dataclass, field

from fabrikam.workloads.delivery.eta import EARTH_RADIUS_M, distance_m

# A small delivery drone uses about 1.5% of its battery per kilometre.
DRAIN_PERCENT_PER_KM = 1.5


@dataclass(frozen=True)
class Point:
    latitude: float
    longitude: float


def _vector(point: Point) -> tuple[float, float, float]:
    phi, lam = math.radians(point.latitude), math.radians(point.longitude)
    return math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)


def interpolate(start: Point, end: Point, fraction: float) -> Point:
    """The point `fraction` of the way along the great circle from `start` to `end` (slerp)."""
    a, b = _vector(start), _vector(end)
    dot = max(-1.0, min(1.0, sum(x * y for x, y in zip(a, b, strict=True))))
    omega = math.acos(dot)
    if omega < 1e-12:
        return start
    wa, wb = math.sin((1 - fraction) * omega) / math.sin(omega), math.sin(fraction * omega) / math.sin(omega)
    x, y, z = (wa * p + wb * q for p, q in zip(a, b, strict=True))
    return Point(math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x)))


def bearing(start: Point, end: Point) -> float:
    """Initial heading from `start` to `end`, degrees clockwise from north in [0, 360)."""
    phi1, phi2 = math.radians(start.latitude), math.radians(end.latitude)
    dlam = math.radians(end.longitude - start.longitude)
    y = math.sin(dlam) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlam)
    return math.degrees(math.atan2(y, x)) % 360.0


def metres(start: Point, end: Point) -> float:
    return distance_m(start.latitude, start.longitude, end.latitude, end.longitude)


@dataclass(frozen=True)
class Fix:
    """Where the drone is at one instant of its flight."""

    point: Point
    heading: float
    leg: int  # 0: to pickup, 1: to drop-off, 2: arrived
    battery: float
    flown_m: float


@dataclass
class Flight:
    waypoints: list[Point]
    speed_mps: float
    battery: float
    legs_m: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.legs_m = [metres(a, b) for a, b in zip(self.waypoints, self.waypoints[1:], strict=False)]

    @property
    def duration_s(self) -> float:
        return sum(self.legs_m) / self.speed_mps

    def waypoint_times(self) -> list[float]:
        """Seconds after take-off at which each waypoint after the base is reached."""
        times, total = [], 0.0
        for leg in self.legs_m:
            total += leg / self.speed_mps
            times.append(total)
        return times

    def at(self, seconds: float) -> Fix:
        flown = min(max(seconds, 0.0) * self.speed_mps, sum(self.legs_m))
        remaining = flown
        battery = max(0.0, self.battery - DRAIN_PERCENT_PER_KM * flown / 1000)
        arrived = flown >= sum(self.legs_m) - 1e-6  # floating sums must not leave a drone 1 ulp short forever
        for index, leg in enumerate(self.legs_m):
            start, end = self.waypoints[index], self.waypoints[index + 1]
            if remaining < leg and not arrived:
                point = interpolate(start, end, remaining / leg if leg else 1.0)
                return Fix(point, bearing(start, end), index, battery, flown)
            remaining -= leg
        last = len(self.legs_m) - 1
        heading = bearing(self.waypoints[last], self.waypoints[last + 1]) if self.legs_m else 0.0
        return Fix(self.waypoints[-1], heading, len(self.legs_m), battery, flown)


def destination(start: Point, bearing_degrees: float, distance: float) -> Point:
    """The point `distance` metres from `start` on the initial heading (for spreading requests around)."""
    delta = distance / EARTH_RADIUS_M
    theta = math.radians(bearing_degrees)
    phi1, lam1 = math.radians(start.latitude), math.radians(start.longitude)
    phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta))
    lam2 = lam1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * math.sin(phi2)
    )
    return Point(math.degrees(phi2), (math.degrees(lam2) + 540) % 360 - 180)
