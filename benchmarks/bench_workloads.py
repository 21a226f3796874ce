"""Workloads benchmark: ingestion requests/s and latency, then end-to-end deliveries/s.

Standalone (never a timed unit test): `make bench-workloads`. Every server is real and local: redis-server
with fsync-always AOF, FerretDB on SQLite, the services as separate processes on uvloop/httptools.
The load generator speaks raw HTTP/1.1 keep-alive so that it costs the server's CPU as little as possible.
"""

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis

from fabrikam.devcluster.http_load import closed_loop as load
from fabrikam.devcluster.http_load import percentile
from fabrikam.devcluster.localstack import RedisServer, Service, Stack, seed_fleet
from fabrikam.devcluster.machine_reference import Reference, measure, process_cpu_seconds, redis_command_counts

INGESTION_REQUESTS = 20_000
INGESTION_CONNECTIONS = 16
PIPELINE_DELIVERIES = 2_000
FAST_ENV = {"FABRIKAM_RATE_LIMIT_PER_SECOND": "1000000", "FABRIKAM_RATE_LIMIT_BURST": "1000000"}


def bench_ingestion(directory: Path, reference: Reference) -> None:
    redis_server = RedisServer(directory / "redis")
    redis_server.start()
    service = Service("ingestion", directory / "logs", {"FABRIKAM_REDIS_URL": redis_server.url, **FAST_ENV})
    try:
        service.start()
        service.wait_ready()
        asyncio.run(load(service.port, 1_000, INGESTION_CONNECTIONS))  # warm-up, counted below too
        pids = [service.process.pid, redis_server.process.pid]
        cpu_before = cpu_seconds(pids)
        seconds, latencies, statuses = asyncio.run(load(service.port, INGESTION_REQUESTS, INGESTION_CONNECTIONS))
        cpu_per_request = (cpu_seconds(pids) - cpu_before) * 1000 / INGESTION_REQUESTS
        accepted_total = 1_000 + sum(1 for status in statuses if status == 202)
        enqueued = redis.Redis.from_url(redis_server.url).xlen("queue:delivery-requests")
        print(f"ingestion: {INGESTION_REQUESTS} requests over {INGESTION_CONNECTIONS} connections, one process")
        print(f"  throughput      {INGESTION_REQUESTS / seconds:,.0f} req/s")
        print(f"  latency p50     {percentile(latencies, 0.50) * 1000:.2f} ms")
        print(f"  latency p99     {percentile(latencies, 0.99) * 1000:.2f} ms")
        print(f"  latency mean    {statistics.fmean(latencies) * 1000:.2f} ms")
        print(f"  CPU             {cpu_per_request:.3f} ms per request (ingestion + redis-server)")
        rps = INGESTION_REQUESTS / seconds
        print(
            f"  vs the machine  {rps / reference.bare_requests_per_second:.3f} of the bare endpoint's req/s, "
            f"{cpu_per_request / reference.bare_cpu_ms_per_request:.1f}x its CPU per request"
        )
        print(f"  statuses        {dict(sorted({s: statuses.count(s) for s in set(statuses)}.items()))}")
        print(f"  accepted == enqueued: {accepted_total} == {enqueued} -> {accepted_total == enqueued}")
        if accepted_total != enqueued:
            sys.exit("accepted and enqueued differ")
    finally:
        service.process.stop()
        redis_server.stop()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far: the cost of the work, whatever the load."""
    return sum(process_cpu_seconds(pid) for pid in pids)


def _scheduled(workflow_url: str) -> float:
    lines = httpx.get(f"{workflow_url}/metrics", timeout=5).text.splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("fabrikam_messages_total{")
        and 'type="DeliveryScheduled"' in line
        and 'outcome="completed"' in line
    )


def bench_pipeline(directory: Path, reference: Reference) -> None:
    stack = Stack(directory, FAST_ENV)
    try:
        stack.start()
        seed_fleet(stack.services["scheduler"].url, PIPELINE_DELIVERIES)
        workflow_url = stack.services["workflow"].url
        pids = stack.pids()
        cpu_before = {name: cpu_seconds([pid]) for name, pid in pids.items()}
        calls_before = redis_command_counts(stack.redis.url)
        started = time.perf_counter()
        seconds, _, statuses = asyncio.run(
            load(stack.services["ingestion"].port, PIPELINE_DELIVERIES, INGESTION_CONNECTIONS)
        )
        accepted = statuses.count(202)
        deadline = time.monotonic() + 300
        while (done := _scheduled(workflow_url)) < accepted and time.monotonic() < deadline:
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        cpu_spent = {name: cpu_seconds([pid]) - cpu_before[name] for name, pid in pids.items()}
        per_delivery = sum(cpu_spent.values()) * 1000 / max(done, 1)
        calls_after = redis_command_counts(stack.redis.url)
        calls = {name: count - calls_before.get(name, 0) for name, count in calls_after.items()}
        calls = {name: count for name, count in sorted(calls.items(), key=lambda item: -item[1]) if count}
        print(f"pipeline: {PIPELINE_DELIVERIES} deliveries, POST -> scheduled (package, drone, delivery)")
        print(f"  accepted        {accepted} in {seconds:.2f} s")
        print(f"  scheduled       {done:.0f} in {elapsed:.2f} s")
        print(f"  throughput      {done / elapsed:,.0f} deliveries/s end to end")
        print(
            f"  vs the machine  {done / elapsed * 1000 / reference.redis_set_per_second:.1f} deliveries per 1,000 "
            f"redis SETs/s, {done / elapsed / reference.bare_requests_per_second:.4f} of the bare endpoint's req/s"
        )
        print(f"  CPU             {per_delivery:.2f} ms per delivery, summed over {len(pids)} processes")
        print("  CPU by process  " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in cpu_spent.items()))
        per_delivery_calls = sum(calls.values()) / max(done, 1)
        print(f"  Redis commands  {per_delivery_calls:.1f} per delivery, the commands scripts run included:")
        print("                  " + ", ".join(f"{name} {count / max(done, 1):.2f}" for name, count in calls.items()))
    finally:
        stack.stop()


def main() -> None:
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f} (other processes share the cores)")
    with tempfile.TemporaryDirectory(prefix="bench-workloads-") as scratch:
        reference = measure(Path(scratch) / "reference", load)
        reference.print()
        bench_ingestion(Path(scratch) / "ingestion", reference)
        bench_pipeline(Path(scratch) / "pipeline", reference)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
