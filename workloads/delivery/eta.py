"""ETAs from where the drone is and how fast it flies (the reference implementation hard-codes them)."""

import math
from datetime import datetime, timedelta

EARTH_RADIUS_M = 6_371_000.0
# No drone flight lasts longer. A speed near zero (a drone registered at 5e-324 m/s, a report of one creeping)
# would otherwise put the arrival past the end of the calendar, and every read of the delivery would fail.
LONGEST_FLIGHT = timedelta(days=1)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def arrival(reported_at: datetime, metres: float, speed_mps: float) -> datetime:
    """When a drone seen at `reported_at`, `metres` away, flying at `speed_mps`, arrives (within a day)."""
    return reported_at + timedelta(seconds=min(metres / speed_mps, LONGEST_FLIGHT.total_seconds()))
