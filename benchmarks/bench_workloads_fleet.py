"""Drone fleet benchmark: concurrent assignments and releases on one Redis, and proof that none shared a drone.

1,000 deliveries ask for a drone at once from a fleet of 100 (seed known issue: the scheduler deadlocked under
concurrent load). Each releases its drone as soon as it has it; a delivery told "none available" waits for the
next release and asks again, so every drone serves about ten deliveries while the others are still asking.
Several rounds, fresh deliveries each. Reported: elapsed, assignments/s, the latency of one assign call and the
wait for a drone (p50/p99), Redis commands and redis-server CPU per assignment, and assignments/s as a ratio to
this machine's redis SET/s. Exits non-zero when a drone was handed to a delivery while another held it, or when
the fleet is not all available again afterwards.

Standalone (never a timed unit test): `make bench-workloads`. redis-server as the services run it (AOF, fsync
always); the fleet on the services' bounded pool and turn pipeline.
"""

import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from fabrikam.devcluster.http_load import percentile
from fabrikam.devcluster.localstack import RedisServer
from fabrikam.devcluster.machine_reference import (
    cpu_model,
    process_cpu_seconds,
    redis_command_counts,
    redis_set_per_second,
)
from fabrikam.workloads.contracts import Location, PackageSize
from fabrikam.workloads.kit.resilience import redis_client
from fabrikam.workloads.kit.settings import ServiceSettings
from fabrikam.workloads.scheduler.fleet import DroneRegistration, Fleet

DELIVERIES = 1_000
DRONES = 100
ROUNDS = 5
CENTRE = Location(latitude=47.6062, longitude=-122.3321)


@dataclass
class Round:
    """What one round measured, and every hand-over that broke the one-holder rule."""

    seconds: float = 0.0
    assign_seconds: list[float] = field(default_factory=list)
    wait_seconds: list[float] = field(default_factory=list)
    holding: dict[str, str] = field(default_factory=dict)
    double_assignments: list[str] = field(default_factory=list)
    mismatched_releases: list[str] = field(default_factory=list)


async def run_round(fleet: Fleet, prefix: str) -> Round:
    """1,000 concurrent deliveries, each holding its drone from the moment assign answers until it calls release."""
    measured = Round()
    released = asyncio.Semaphore(0)  # one permit per drone given back: one waiting delivery asks again

    async def deliver(index: int) -> None:
        delivery_id = f"{prefix}-{index:04d}"
        first_asked = time.perf_counter()
        while True:
            asked = time.perf_counter()
            drone = await fleet.assign(delivery_id, CENTRE, PackageSize.small)
            measured.assign_seconds.append(time.perf_counter() - asked)
            if drone is not None:
                break
            await released.acquire()
        measured.wait_seconds.append(time.perf_counter() - first_asked)
        if (holder := measured.holding.get(drone.id)) is not None:
            measured.double_assignments.append(f"{drone.id} to {delivery_id} while {holder} held it")
        measured.holding[drone.id] = delivery_id
        await asyncio.sleep(0)  # hold it for a loop turn, while others ask
        if measured.holding.pop(drone.id, None) != delivery_id:  # from here on it may go to another delivery
            measured.double_assignments.append(f"{drone.id} was taken from {delivery_id} while it held it")
        given_back = await fleet.release(delivery_id)
        released.release()
        if given_back != drone.id:
            measured.mismatched_releases.append(f"{delivery_id} held {drone.id}, release gave back {given_back}")

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(deliver(index) for index in range(DELIVERIES))), timeout=120)
    measured.seconds = time.perf_counter() - started
    return measured


async def fleet_at_rest_problems(client: Redis, fleet: Fleet) -> list[str]:
    """Every drone available and indexed with no delivery on it."""
    problems = []
    if (available := await fleet.available_count()) != DRONES:
        problems.append(f"{available} drones available, not {DRONES}")
    for drone in await fleet.page(0, DRONES):
        if (drone.status, drone.delivery_id) != ("available", None):
            problems.append(f"{drone.id} left {drone.status} for {drone.delivery_id}")
    return problems


async def bench(server: RedisServer) -> tuple[list[Round], dict[str, int], float, list[str]]:
    client = redis_client(ServiceSettings(redis_url=server.url))
    try:
        fleet = Fleet(client, radius_km=50, min_battery=30)
        for index in range(DRONES):
            registration = DroneRegistration(
                latitude=CENTRE.latitude + (index % 10) * 0.002,
                longitude=CENTRE.longitude + (index // 10) * 0.002,
                battery=100,
                payload_class=PackageSize.large,
                speed_mps=15,
            )
            await fleet.register(f"drone-{index:03d}", registration)
        await run_round(fleet, "warm-up")  # loads the scripts, fills the pool; not counted
        before, cpu_before = redis_command_counts(server.url), process_cpu_seconds(server.process.pid)
        rounds = [await run_round(fleet, f"round-{number}") for number in range(ROUNDS)]
        cpu = process_cpu_seconds(server.process.pid) - cpu_before
        after = redis_command_counts(server.url)
        commands = {name: after[name] - before.get(name, 0) for name in after if after[name] > before.get(name, 0)}
        return rounds, commands, cpu, await fleet_at_rest_problems(client, fleet)
    finally:
        await client.aclose()


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        load_before = os.getloadavg()[0]
        set_per_second = redis_set_per_second(root)
        server = RedisServer(root / "redis")
        server.start()
        try:
            rounds, commands, cpu, problems = asyncio.run(bench(server))
        finally:
            server.stop()
    assignments = DELIVERIES * ROUNDS
    seconds = sorted(measured.seconds for measured in rounds)
    median_seconds = statistics.median(seconds)
    per_second = DELIVERIES / median_seconds
    assign_latencies = [latency for measured in rounds for latency in measured.assign_seconds]
    waits = [wait for measured in rounds for wait in measured.wait_seconds]
    client_commands = commands.get("evalsha", 0)
    all_commands = sum(count for name, count in commands.items() if name != "info")
    answered_none = len(assign_latencies) - assignments
    print("machine reference (same run):")
    print(f"  CPU             {cpu_model()}, {os.cpu_count()} cores, load average {load_before:.2f} before")
    print(f"  redis SET       {set_per_second:,.0f} /s (redis-benchmark, 16 connections, AOF fsync always)")
    print(f"fleet: {DELIVERIES:,} concurrent deliveries on {DRONES} drones, assign + release, {ROUNDS} rounds")
    print(f"  elapsed         {' '.join(f'{s:.3f}' for s in seconds)} s per round (median {median_seconds:.3f} s)")
    print(f"  throughput      {per_second:,.0f} assignments/s (each with its release), median round")
    print(
        f"  assign call     p50 {percentile(assign_latencies, 0.5) * 1000:.2f} ms, "
        f"p99 {percentile(assign_latencies, 0.99) * 1000:.2f} ms "
        f"({len(assign_latencies):,} calls, {answered_none:,} answered none available)"
    )
    print(f"  wait for drone  p50 {percentile(waits, 0.5) * 1000:.2f} ms, p99 {percentile(waits, 0.99) * 1000:.2f} ms")
    print(
        f"  redis commands  {client_commands / assignments:.2f} sent (EVALSHA), "
        f"{all_commands / assignments:.2f} run incl. the scripts' own, per assignment + release"
    )
    print(f"  redis CPU       {cpu * 1000 / assignments:.3f} ms per assignment + release (redis-server)")
    print(
        f"  vs the machine  {per_second / set_per_second:.3f} assignments per redis SET "
        f"({per_second * 1000 / set_per_second:.1f} per 1,000 SETs); load average after {os.getloadavg()[0]:.2f}"
    )
    double = [problem for measured in rounds for problem in measured.double_assignments]
    mismatched = [problem for measured in rounds for problem in measured.mismatched_releases]
    at_rest = "; ".join(problems) or "every drone available"
    print(f"  double assignments {len(double)}, releases of another drone {len(mismatched)}, fleet at rest: {at_rest}")
    if double or mismatched or problems:
        sys.exit(f"the fleet broke its one-holder rule: {(double + mismatched + problems)[:5]}")


if __name__ == "__main__":
    main()
