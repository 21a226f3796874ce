"""Seed known issue 1, "ingestion occasionally loses messages during high load", held to account: 2,500 requests/s
(3x the Black Friday rate of 50,000 requests/minute) for 60 s at ingestion, and the broker killed (SIGKILL, as a
node loss does) and started again in the middle. Every request carries an Idempotency-Key and is retried until
accepted, as a client does; afterwards the queue must hold each accepted delivery exactly once and nothing else.

Standalone (never a timed unit test): `hack/bench.sh workloads_broker`. Every server is real and local: redis-server
with fsync-always AOF, the ingestion service as FABRIKAM_BENCH_INGESTION_PROCESSES processes (pods behind a Service;
2 by default) on uvloop/httptools. FABRIKAM_BENCH_RATE and FABRIKAM_BENCH_SECONDS change the load.
"""

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from fabrikam.devcluster.http_load import PacedRun, check_queue, closed_loop, paced, percentile
from fabrikam.devcluster.localstack import RedisServer, Service
from fabrikam.devcluster.machine_reference import measure, process_cpu_seconds

RATE = float(os.environ.get("FABRIKAM_BENCH_RATE", "2500"))
SECONDS = float(os.environ.get("FABRIKAM_BENCH_SECONDS", "60"))
PROCESSES = int(os.environ.get("FABRIKAM_BENCH_INGESTION_PROCESSES", "2"))
CONNECTIONS = 64
OUTAGE_SECONDS = 2.0
FAST_ENV = {"FABRIKAM_RATE_LIMIT_PER_SECOND": "1000000", "FABRIKAM_RATE_LIMIT_BURST": "1000000"}


def restart(server: RedisServer, outage: dict[str, float]) -> None:
    """Kill the broker without warning, keep it down OUTAGE_SECONDS, start it again on the same port and files."""
    outage["down_at"] = time.perf_counter()
    server.process.kill()
    time.sleep(OUTAGE_SECONDS)
    server.start()
    outage["up_at"] = time.perf_counter()


def report(run: PacedRun, outage: dict[str, float], cpu_ms: float, bare_rps: float) -> None:
    """Latency counts from each request's planned send time, through its retries, to its 202."""
    down, up = outage["down_at"] - run.started, outage["up_at"] - run.started
    around = [latency for at, latency in zip(run.planned_at, run.latencies, strict=True) if down - 1 <= at <= up + 5]
    steady = [latency for at, latency in zip(run.planned_at, run.latencies, strict=True) if at < down - 1]
    accepted = len(run.accepted_ids)
    print(f"  requests        {accepted:,} accepted of {int(RATE * SECONDS):,} sent in {run.seconds:.1f} s")
    print(f"  rate            {accepted / run.seconds:,.0f} accepted/s (target {RATE:,.0f})")
    print(f"  broker down     {up - down:.2f} s, from t={down:.1f} s (SIGKILL, then started again)")
    print(f"  answers         {dict(sorted(run.statuses.items()))}, connection errors {run.connection_errors}")
    print(f"  client retries  {run.retries} (same Idempotency-Key)")
    print(
        f"  latency steady  p50 {percentile(steady, 0.5) * 1000:.2f} ms, p99 {percentile(steady, 0.99) * 1000:.2f} ms"
    )
    print(
        f"  around outage   p50 {percentile(around, 0.5) * 1000:.0f} ms, p99 {percentile(around, 0.99) * 1000:.0f} "
        f"ms, max {max(around, default=0) * 1000:.0f} ms ({len(around):,} requests planned from 1 s before to 5 s "
        "after)"
    )
    print(f"  CPU             {cpu_ms:.3f} ms per request (the ingestion processes)")
    print(f"  vs the machine  target = {RATE / bare_rps:.3f} of the bare endpoint's req/s")


def main() -> None:
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f} (other processes share the cores)")
    with tempfile.TemporaryDirectory(prefix="bench-broker-restart-") as scratch:
        directory = Path(scratch)
        reference = measure(directory / "reference", closed_loop)
        reference.print()
        server = RedisServer(directory / "redis")
        server.start()
        services = [
            Service("ingestion", directory / f"logs-{n}", {"FABRIKAM_REDIS_URL": server.url, **FAST_ENV})
            for n in range(PROCESSES)
        ]
        try:
            for service in services:
                service.start()
            for service in services:
                service.wait_ready()
            outage: dict[str, float] = {}
            pids = [service.process.pid for service in services]
            cpu_before = sum(process_cpu_seconds(pid) for pid in pids)
            run = asyncio.run(
                paced(
                    [service.port for service in services],
                    RATE,
                    SECONDS,
                    CONNECTIONS,
                    during=lambda: restart(server, outage),
                )
            )
            cpu_ms = (sum(process_cpu_seconds(pid) for pid in pids) - cpu_before) * 1000 / len(run.accepted_ids)
            print(f"ingestion under a broker restart: {PROCESSES} processes, {CONNECTIONS} connections")
            report(run, outage, cpu_ms, reference.bare_requests_per_second)
            queue = check_queue(server.url, run.accepted_ids)
            print(
                f"  queue           {queue.entries:,} entries, {queue.distinct:,} distinct deliveries, "
                f"{queue.missing} accepted but missing, {queue.unexpected} queued but never accepted"
            )
            print(f"  accepted == enqueued, each once: {queue.exact}")
            if not queue.exact or len(run.accepted_ids) != int(RATE * SECONDS):
                sys.exit("a delivery was lost, duplicated or never accepted")
        finally:
            for service in services:
                service.process.stop()
            server.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
