"""The drone fleet on real Redis: nearest capable drone, atomic under heavy concurrency, idempotent."""

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer
from fabrikam.workloads.contracts import Location, PackageSize
from fabrikam.workloads.scheduler.fleet import ALL, AVAILABLE, DRONE, RELEASED, DroneRegistration, Fleet

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


async def test_a_capable_drone_beyond_the_nearest_256_unsuitable_ones_is_still_found(redis: Redis) -> None:
    """The search looks at the nearest 256 drones first; 300 closer small drones must not hide a large one."""
    drones = fleet(redis)
    for index in range(300):
        await drones.register(f"small-{index:03d}", drone(47.60 + (index % 30) * 0.0001, PackageSize.small))
    await drones.register("large-far", drone(47.70))
    assigned = await drones.assign("d-large", CENTRE, PackageSize.large)
    assert assigned is not None
    assert (assigned.id, assigned.delivery_id) == ("large-far", "d-large")
    assert await drones.available_count() == 300
    assert await drones.assign("d-large-2", CENTRE, PackageSize.large) is None  # the only large one is taken


END_OF_RUN = "fleet-test-end-of-run"


@contextlib.asynccontextmanager
async def drone_writes(url: str, redis: Redis) -> AsyncIterator[list[list[str]]]:
    """Every write to a drone's hash, in the order Redis ran it (MONITOR shows the commands scripts run): the
    server's own serial order, which client-side timestamps cannot give under concurrency."""
    watcher = Redis.from_url(url, decode_responses=True)
    writes: list[list[str]] = []
    try:
        async with watcher.monitor() as monitor:

            async def read() -> None:
                while (command := (await monitor.next_command())["command"]) != f"ECHO {END_OF_RUN}":
                    if command.startswith(f"HSET {DRONE}"):
                        writes.append(command.split(" "))

            reader = asyncio.create_task(read())
            yield writes
            await redis.echo(END_OF_RUN)  # every command before it has run: the log is complete
            await asyncio.wait_for(reader, timeout=30)
    finally:
        await watcher.aclose()


@dataclass
class Holders:
    """Each drone's successive holders, and every moment a drone was handed to a delivery while another held it."""

    sequence: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    holding: dict[str, str] = field(default_factory=dict)
    double_assignments: list[str] = field(default_factory=list)

    def assigned(self, drone_id: str, delivery_id: str) -> None:
        if drone_id in self.holding:
            self.double_assignments.append(f"{drone_id} to {delivery_id} while {self.holding[drone_id]} held it")
        self.holding[drone_id] = delivery_id
        self.sequence[drone_id].append(delivery_id)

    def released(self, drone_id: str, delivery_id: str | None) -> None:
        holder = self.holding.pop(drone_id, None)
        if holder is None or (delivery_id is not None and holder != delivery_id):
            self.double_assignments.append(f"{drone_id} released by {delivery_id} while held by {holder}")


def replay(writes: list[list[str]]) -> Holders:
    """The holders as Redis recorded them: `HSET drone:<id> status assigned deliveryId <delivery>` takes a drone,
    `... status available deliveryId` (empty) gives it back."""
    holders = Holders()
    for command in writes:
        drone_id, fields = command[1].removeprefix(DRONE), dict(zip(command[2::2], command[3::2], strict=True))
        if fields.get("status") == "assigned":
            holders.assigned(drone_id, fields["deliveryId"])
        elif fields.get("status") == "available":
            holders.released(drone_id, None)
    return holders


async def test_1000_concurrent_assignments_with_concurrent_releases_never_share_a_drone_nor_deadlock(
    redis: Redis, redis_server: RedisServer
) -> None:
    """1,000 deliveries ask for a drone at once from a fleet of 50; each holds its drone for a few loop turns and
    releases it while the others are still asking, so every drone serves many deliveries. Every 10th delivery sends
    its AssignDrone twice at once, and every 7th once more after its release (late duplicates)."""
    deliveries, fleet_size = 1_000, 50
    drones = fleet(redis)
    for index in range(fleet_size):
        await drones.register(f"drone-{index:02d}", drone(47.60 + (index % 10) * 0.001))
    seen_by_callers = Holders()
    released_drones: asyncio.Semaphore = asyncio.Semaphore(0)  # one permit per drone given back: a waiter retries
    drones_per_duplicate_pair: list[int] = []
    late_answers: list[object] = []
    assign_calls = 0

    async def assign(delivery_id: str) -> str | None:
        nonlocal assign_calls
        assign_calls += 1
        assigned = await drones.assign(delivery_id, CENTRE, PackageSize.small)
        if assigned is None:
            return None
        assert (assigned.status, assigned.delivery_id) == ("assigned", delivery_id)
        return assigned.id

    async def deliver(index: int) -> tuple[str, str | None, int]:
        delivery_id, attempts = f"d-{index:04d}", 0
        while True:
            attempts += 1
            if index % 10 == 0:
                pair = {answer for answer in await asyncio.gather(assign(delivery_id), assign(delivery_id)) if answer}
                drones_per_duplicate_pair.append(len(pair))
                drone_id = min(pair, default=None)
            else:
                drone_id = await assign(delivery_id)
            if drone_id is not None:
                break
            await released_drones.acquire()
        seen_by_callers.assigned(drone_id, delivery_id)
        for _ in range(index % 4):
            await asyncio.sleep(0)
        seen_by_callers.released(drone_id, delivery_id)  # before the call: from here on the drone may be retaken
        released = await drones.release(delivery_id)
        released_drones.release()
        if index % 7 == 0:
            late_answers.append(await drones.assign(delivery_id, CENTRE, PackageSize.small))
        return drone_id, released, attempts

    started = time.monotonic()
    async with drone_writes(redis_server.url, redis) as writes:
        outcomes = await asyncio.wait_for(asyncio.gather(*(deliver(index) for index in range(deliveries))), timeout=60)
    elapsed = time.monotonic() - started

    # The callers: each delivery got exactly one drone, gave that one back, and no two held a drone at once.
    assert seen_by_callers.double_assignments == []
    assert seen_by_callers.holding == {}
    assert [released for _, released, _ in outcomes] == [drone_id for drone_id, _, _ in outcomes]
    assert sum(len(holders) for holders in seen_by_callers.sequence.values()) == deliveries
    assert len(seen_by_callers.sequence) == fleet_size  # every drone flew, 20 times on average
    assert max(drones_per_duplicate_pair) == 1  # two AssignDrone of one delivery never got two drones
    assert drones_per_duplicate_pair.count(1) == deliveries // 10
    assert late_answers == [None] * len(range(0, deliveries, 7))  # a late duplicate AssignDrone takes no drone
    retries = sum(attempts - 1 for _, _, attempts in outcomes)  # answered "none available", waited, asked again
    assert retries > 0
    pairs_attempts = sum(attempts for index, (_, _, attempts) in enumerate(outcomes) if index % 10 == 0)
    assert assign_calls == deliveries + retries + pairs_attempts  # pairs: two AssignDrone per attempt

    # Redis, in its own order: each drone alternated assigned/available, held by the same deliveries in the same
    # order as the callers saw, and never taken while held.
    assert len(writes) == 2 * deliveries  # one assignment and one release per delivery, nothing else
    in_redis = replay(writes)
    assert in_redis.double_assignments == []
    assert in_redis.holding == {}
    assert dict(in_redis.sequence) == dict(seen_by_callers.sequence)

    # The fleet at rest: every drone available and indexed, no delivery left on one, every delivery tombstoned.
    drone_ids = sorted(f"drone-{index:02d}" for index in range(fleet_size))
    assert await drones.available_count() == fleet_size
    assert sorted(await redis.zrange(AVAILABLE, 0, -1)) == drone_ids
    assert sorted(await redis.smembers(ALL)) == drone_ids
    for drone_id in drone_ids:
        state = await drones.get(drone_id)
        assert state is not None
        assert (state.status, state.delivery_id) == ("available", None)
    assignment_keys = [key async for key in redis.scan_iter("drones:assignment:*", count=1000)]
    assert len(assignment_keys) == deliveries
    assert set(await redis.mget(assignment_keys)) == {RELEASED}
    assert elapsed < 60
