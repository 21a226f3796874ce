"""Drone telemetry benchmark: reports/s that one telemetry process validates, stores and publishes.

2,000 drones report once per simulated second in batches of 100 (as the fleet simulator and a drone gateway
send them); every report is newer than its drone's last, so each one is stored and published. Checked:
published positions on the delivery-telemetry stream == accepted reports.
"""

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis

from fabrikam.devcluster.http_load import closed_loop
from fabrikam.devcluster.localstack import RedisServer, Service
from fabrikam.devcluster.machine_reference import measure, process_cpu_seconds

DRONES = 2_000
BATCH = 100
ROUNDS = 10
CONNECTIONS = 4


def batch(round_index: int, first: int, start: datetime) -> dict[str, object]:
    at = (start + timedelta(seconds=round_index)).isoformat()
    return {
        "reports": [
            {
                "droneId": f"drone-{index:05d}",
                "latitude": 47.6 + index * 1e-5 + round_index * 1e-4,
                "longitude": -122.3,
                "altitudeM": 60,
                "battery": 90 - round_index * 0.1,
                "speedMps": 15,
                "heading": 0,
                "flightMode": "cruise",
                "reportedAt": at,
            }
            for index in range(first, first + BATCH)
        ]
    }


async def load(url: str) -> tuple[int, float]:
    start = datetime.now(UTC) - timedelta(seconds=ROUNDS + 5)
    bodies = [batch(r, first, start) for r in range(ROUNDS) for first in range(0, DRONES, BATCH)]
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    accepted = 0

    async def connection(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        while not queue.empty():
            response = await client.post("/v1/telemetry", json=queue.get_nowait())
            response.raise_for_status()
            accepted += int(response.json()["published"])

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await client.post("/v1/telemetry", json=batch(-5, 0, start))  # warm-up, not counted
        started = time.perf_counter()
        await asyncio.gather(*(connection(client) for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    return accepted, elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        reference = measure(root / "reference", closed_loop)
        reference.print()
        server = RedisServer(root / "redis")
        server.start()
        service = Service(
            "drone-telemetry", root / "logs", {"FABRIKAM_REDIS_URL": server.url, "FABRIKAM_LOG_LEVEL": "WARNING"}
        )
        try:
            service.start()
            service.wait_ready()
            cpu_before = process_cpu_seconds(service.process.pid)
            accepted, elapsed = asyncio.run(load(service.url))
            cpu_ms = (process_cpu_seconds(service.process.pid) - cpu_before) * 1000 / max(accepted, 1)
            published = redis.Redis.from_url(server.url).xlen("queue:delivery-telemetry")
            print(f"load average before/after: {os.getloadavg()[0]:.2f}")
            print(
                f"telemetry, one process: {accepted:,} reports in {elapsed:.2f}s = {accepted / elapsed:,.0f} reports/s"
            )
            print(f"positions on the stream: {published - BATCH:,} (after the warm-up batch); accepted: {accepted:,}")
            requests_per_second = accepted / BATCH / elapsed
            print(
                f"vs the machine: {requests_per_second:,.0f} requests/s of {BATCH} reports = "
                f"{requests_per_second / reference.bare_requests_per_second:.4f} of the bare endpoint's req/s; "
                f"{cpu_ms:.4f} ms CPU per report = {cpu_ms / reference.bare_cpu_ms_per_request:.2f}x the bare "
                "endpoint's CPU per request"
            )
        finally:
            service.process.stop()
            server.stop()


if __name__ == "__main__":
    main()
