"""The drone fleet on real Redis: nearest capable drone, atomic under heavy concurrency, idempotent."""

import asyncio
import time

from redis.asyncio import Redis

from fabrikam.workloads.contracts import Location, PackageSize
from fabrikam.workloads.scheduler.fleet import DroneRegistration, Fleet

CENTRE = Location(latitude=47.60, longitude=-122.30)


def drone(latitude: float, size: PackageSize = PackageSize.large, battery: float = 90) -> DroneRegistration:
    return DroneRegistration(latitude=latitude, longitude=-122.30, battery=battery, payload_class=size, speed_mps=12)


def fleet(redis: Redis) -> Fleet:
    return Fleet(redis, radius_km=50, min_battery=30)


async def test_the_nearest_drone_able_to_carry_the_package_is_assigned(redis: Redis) -> None:
    drones = fleet(redis)
    await drones.register("near-small", drone(47.601, PackageSize.small))
    await drones.register("near-low-battery", drone(47.602, battery=10))
    await drones.register("medium", drone(47.605, PackageSize.medium))
    await drones.register("far-large", drone(47.65))
    assigned = await drones.assign("d-1", CENTRE, PackageSize.medium)
    assert assigned is not None
    assert (assigned.id, assigned.status, assigned.delivery_id) == ("medium", "assigned", "d-1")
    large = await drones.assign("d-2", CENTRE, PackageSize.large)
    assert large is not None
    assert large.id == "far-large"


async def test_assigning_the_same_delivery_twice_returns_the_same_drone(redis: Redis) -> None:
    drones = fleet(redis)
    for index in range(3):
        await drones.register(f"drone-{index}", drone(47.60 + index * 0.001))
    first = await drones.assign("d-1", CENTRE, PackageSize.small)
    second = await drones.assign("d-1", CENTRE, PackageSize.small)
    assert first is not None
    assert second is not None
    assert first.id == second.id
    assert await drones.available_count() == 2


async def test_release_returns_the_drone_and_a_late_assign_cannot_take_it_again(redis: Redis) -> None:
    drones = fleet(redis)
    await drones.register("drone-1", drone(47.60))
    assert await drones.assign("d-1", CENTRE, PackageSize.small) is not None
    assert await drones.release("d-1") == "drone-1"
    assert await drones.release("d-1") is None
    released = await drones.get("drone-1")
    assert released is not None
    assert (released.status, released.delivery_id) == ("available", None)
    assert await drones.assign("d-1", CENTRE, PackageSize.small) is None
    assert await drones.available_count() == 1


async def test_500_concurrent_assignments_never_double_assign_nor_deadlock(redis: Redis) -> None:
    drones = fleet(redis)
    for index in range(300):
        await drones.register(f"drone-{index:03d}", drone(47.60 + (index % 30) * 0.001))
    started = time.monotonic()
    results = await asyncio.wait_for(
        asyncio.gather(*(drones.assign(f"d-{n}", CENTRE, PackageSize.small) for n in range(500))), timeout=60
    )
    elapsed = time.monotonic() - started
    assigned = [result.id for result in results if result is not None]
    assert len(assigned) == 300
    assert len(set(assigned)) == 300
    assert results.count(None) == 200
    assert await drones.available_count() == 0
    assert elapsed < 60
