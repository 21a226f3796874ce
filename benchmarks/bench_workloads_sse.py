"""Live tracking benchmark: SSE clients one delivery process holds while pushing every position to them.

100 deliveries in flight, 10 clients following each (1,000 connections), 10 rounds of positions for every
drone at one round a second. Reported: connections held, updates delivered / expected, and the latency from
the drone's report time to the client reading the update (p50/p99). Raw HTTP/1.1 clients keep the load
generator cheap; every server is real and local.
"""

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fabrikam.devcluster.http_load import closed_loop
from fabrikam.devcluster.localstack import RedisServer, Service
from fabrikam.devcluster.machine_reference import measure, process_cpu_seconds
from fabrikam.workloads.contracts import (
    DELIVERY_COMMANDS,
    DELIVERY_TELEMETRY,
    DronePositionReported,
    DroneSnapshot,
    Location,
    ScheduleDelivery,
)
from fabrikam.workloads.kit.messaging.message import outgoing
from fabrikam.workloads.kit.messaging.redis_streams import RedisStreamsBroker
from fabrikam.workloads.kit.resilience import redis_client
from fabrikam.workloads.kit.settings import ServiceSettings

DELIVERIES = 100
CLIENTS_PER_DELIVERY = int(os.environ.get("BENCH_SSE_CLIENTS_PER_DELIVERY", "10"))
ROUNDS = 10


async def poll(check: Callable[[], Awaitable[bool]], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)


async def follow(
    port: int, delivery_id: str, latencies: list[float], connected: list[int], since: list[datetime]
) -> None:
    """Counts pushed updates for positions reported once the rounds started (not the state re-reads)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(f"GET /v1/deliveries/{delivery_id}/track HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    await writer.drain()
    if b" 200 " not in await reader.readline():
        raise RuntimeError(f"track {delivery_id} refused")
    connected.append(1)
    first = True
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"data:"):
                if first:  # the current state on connection, not a pushed update
                    first = False
                    continue
                update = json.loads(line[5:])
                reported = datetime.fromisoformat(update["lastLocation"]["reportedAt"])
                if not since or reported < since[0]:
                    continue
                latencies.append((datetime.now(UTC) - reported).total_seconds())
    finally:
        writer.close()


async def bench(redis_url: str, port: int) -> int:
    redis = redis_client(ServiceSettings(redis_url=redis_url))
    broker = RedisStreamsBroker(redis, "bench", lock_seconds=30, max_delivery_count=10, duplicate_window_seconds=600)
    now = datetime.now(UTC)
    for index in range(DELIVERIES):
        command = ScheduleDelivery(
            delivery_id=f"bench-{index}",
            package_id=f"p-{index}",
            drone=DroneSnapshot(drone_id=f"drone-{index}", latitude=47.5, longitude=-122.3, speed_mps=15),
            pickup=Location(latitude=48.0, longitude=-122.3),
            dropoff=Location(latitude=48.1, longitude=-122.3),
            pickup_time=now,
            deadline=now + timedelta(hours=2),
            expedited=False,
            confirmation_required=False,
        )
        await broker.publish(DELIVERY_COMMANDS, outgoing(f"schedule-{index}", command))

    async def scheduled() -> bool:
        return bool(await redis.exists(f"delivery:bench-{DELIVERIES - 1}"))

    await poll(scheduled, 60)
    latencies: list[float] = []
    connected: list[int] = []
    since: list[datetime] = []
    clients = [
        asyncio.create_task(follow(port, f"bench-{index % DELIVERIES}", latencies, connected, since))
        for index in range(DELIVERIES * CLIENTS_PER_DELIVERY)
    ]

    async def all_connected() -> bool:
        return len(connected) == len(clients)

    await poll(all_connected, 60)
    await asyncio.sleep(1.0)
    started = time.perf_counter()
    since.append(datetime.now(UTC))
    for round_index in range(ROUNDS):
        tick = time.perf_counter()
        at = datetime.now(UTC)
        for index in range(DELIVERIES):
            report = DronePositionReported(
                drone_id=f"drone-{index}",
                latitude=47.5 + 0.001 * (round_index + 1),
                longitude=-122.3,
                speed_mps=15,
                reported_at=at,
            )
            await broker.publish(DELIVERY_TELEMETRY, outgoing(f"p-{index}-{round_index}", report))
        await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
    expected = ROUNDS * len(connected)

    async def all_delivered() -> bool:
        return len(latencies) >= expected

    await poll(all_delivered, 10)
    elapsed = time.perf_counter() - started
    for client in clients:
        client.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    await redis.aclose()
    ordered = sorted(latencies)
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print(f"SSE clients held by one delivery process: {len(connected):,}")
    rate = len(latencies) / elapsed
    print(f"updates delivered: {len(latencies):,} of {expected:,} in {elapsed:.1f}s ({rate:,.0f}/s)")
    if ordered:
        p99 = ordered[int(len(ordered) * 0.99) - 1]
        print(f"report → client latency: p50 {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    return len(latencies)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        reference = measure(root / "reference", closed_loop)
        reference.print()
        server = RedisServer(root / "redis")
        server.start()
        env = {"FABRIKAM_REDIS_URL": server.url, "FABRIKAM_LOG_LEVEL": "WARNING", "FABRIKAM_POOL_SIZE": "128"}
        service = Service("delivery", root / "logs", env)
        try:
            service.start()
            service.wait_ready()
            cpu_before = process_cpu_seconds(service.process.pid)
            delivered = asyncio.run(bench(server.url, service.port))
            cpu_ms = (process_cpu_seconds(service.process.pid) - cpu_before) * 1000 / max(delivered, 1)
            print(
                f"delivery CPU: {cpu_ms:.3f} ms per update delivered (the whole run, connections included) = "
                f"{cpu_ms / reference.bare_cpu_ms_per_request:.1f}x the bare endpoint's CPU per request"
            )
        finally:
            service.process.stop()
            server.stop()


if __name__ == "__main__":
    main()
