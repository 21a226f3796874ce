"""The harness of the delivery connection-pool benchmark and its short test (issue #20, the seed's known issue "Redis
connection pool exhaustion during traffic spikes"): a real delivery process on a small pool, a spike of HTTP
connections, and the Redis connections it holds sampled meanwhile.

Every server is real and local: redis-server (fsync-always AOF) and the delivery service as its own process, with a
pool of 16 (FABRIKAM_POOL_SIZE; the default is 64) so that the spike needs more connections than the pool has.
Deliveries are seeded as the workflow creates them (ScheduleDelivery commands on the delivery queue). The load is raw
HTTP/1.1 keep-alive GETs, alternating the two read routes that touch Redis: `/v1/deliveries/{id}` (one HMGET, shared
with the other requests of its event-loop turn through the turn pipeline) and `/v1/deliveries/{id}/events` (that
HMGET, then an LRANGE on a pooled connection of its own). 16 connections ask throughout; for the spike 144 more join
(160, 10x), then leave. A sampler reads CLIENT LIST every 10 ms and counts the connections named after the service:
its Redis URL carries `client_name`, so each pooled connection names itself, whatever the process holds besides
(the live-updates subscription and the queue workers' blocking reads come from the same pool). The same load is run
first on a pool too large to fill, to show how many connections the spike would take if the pool did not bound it.
"""

import asyncio
import statistics
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from fabrikam.devcluster.http_load import exchange, percentile
from fabrikam.devcluster.localstack import RedisServer, Service
from fabrikam.devcluster.machine_reference import Reference, process_cpu_seconds
from fabrikam.workloads.contracts import DELIVERY_COMMANDS, DroneSnapshot, Location, ScheduleDelivery
from fabrikam.workloads.kit.messaging.message import outgoing
from fabrikam.workloads.kit.messaging.redis_streams import RedisStreamsBroker
from fabrikam.workloads.kit.resilience import redis_client
from fabrikam.workloads.kit.settings import ServiceSettings

POOL_SIZE = 16
POOL_WAIT_SECONDS = 2.0  # the services' default
BASELINE_CONNECTIONS = 16
SPIKE_FACTOR = 10
DELIVERIES = 1_000
# A pool this large is never full under this load: run with it, the service shows how many connections it would take.
UNBOUNDED_POOL_SIZE = 1_024
CLIENT_NAME = "fabrikam-delivery"
SAMPLE_SECONDS = 0.01


@dataclass(frozen=True)
class Exchange:
    """One request: when it started (seconds since the load began), how long it took, and its answer."""

    started: float
    seconds: float
    status: int
    overloaded: bool  # a 503 whose detail says the pool stayed full past `pool_wait_seconds`


@dataclass(frozen=True)
class Phase:
    name: str
    start: float
    end: float
    connections: int


@dataclass
class SpikeRun:
    """What one run measured: the requests, and the service's Redis connections sampled over time."""

    pool_size: int
    pool_wait_seconds: float
    phases: list[Phase]
    exchanges: list[Exchange] = field(default_factory=list)
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since the load began, connections)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # per process, over the load

    def exchanges_in(self, phase: Phase) -> list[Exchange]:
        return [e for e in self.exchanges if phase.start <= e.started < phase.end]

    def connections_in(self, phase: Phase) -> list[int]:
        return [count for at, count in self.samples if phase.start <= at < phase.end]

    @property
    def most_connections(self) -> int:
        return max((count for _, count in self.samples), default=0)

    @property
    def failures(self) -> Counter[int]:
        """Answers other than 200, the designed 503 `overloaded` excepted."""
        return Counter(e.status for e in self.exchanges if e.status != 200 and not e.overloaded)

    @property
    def overloaded(self) -> int:
        return sum(e.overloaded for e in self.exchanges)


def delivery_service(directory: Path, redis_server: RedisServer, pool_size: int, pool_wait_seconds: float) -> Service:
    """The delivery process on a small pool whose connections carry the service's name (CLIENT SETNAME)."""
    env = {
        "FABRIKAM_REDIS_URL": f"{redis_server.url}?client_name={CLIENT_NAME}",
        "FABRIKAM_POOL_SIZE": str(pool_size),
        "FABRIKAM_POOL_WAIT_SECONDS": str(pool_wait_seconds),
        "FABRIKAM_LOG_LEVEL": "WARNING",
    }
    return Service("delivery", directory / "logs", env)


async def seed(redis_url: str, count: int, within: float = 120.0) -> list[str]:
    """`count` scheduled deliveries, sent as the workflow sends them; returns their ids once delivery stores them."""
    client = redis_client(ServiceSettings(redis_url=redis_url))
    broker = RedisStreamsBroker(
        client, "bench-seed", lock_seconds=30, max_delivery_count=10, duplicate_window_seconds=600
    )
    now = datetime.now(UTC)
    ids = [f"spike-{index:05d}" for index in range(count)]
    try:
        for index, delivery_id in enumerate(ids):
            command = ScheduleDelivery(
                delivery_id=delivery_id,
                package_id=f"package-{delivery_id}",
                drone=DroneSnapshot(drone_id=f"drone-{index}", latitude=47.6, longitude=-122.33, speed_mps=15),
                pickup=Location(latitude=47.61, longitude=-122.33),
                dropoff=Location(latitude=47.62, longitude=-122.35),
                pickup_time=now + timedelta(hours=1),
                deadline=now + timedelta(hours=3),
                expedited=False,
                confirmation_required=False,
            )
            await broker.publish(DELIVERY_COMMANDS, outgoing(f"ScheduleDelivery:{delivery_id}", command))
        deadline = time.monotonic() + within
        while await client.exists(*(f"delivery:{delivery_id}" for delivery_id in ids)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"delivery did not store {count} deliveries within {within:.0f} s")
            await asyncio.sleep(0.1)
        return ids
    finally:
        await client.aclose()


def get_requests(delivery_ids: Sequence[str]) -> list[bytes]:
    """GETs of both read routes over the seeded deliveries."""
    requests = []
    for index, delivery_id in enumerate(delivery_ids):
        path = f"/v1/deliveries/{delivery_id}" + ("/events" if index % 2 else "")
        requests.append(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    return requests


async def keep_asking(port: int, requests: Sequence[bytes], origin: float, until: float, into: list[Exchange]) -> None:
    """Send `requests` in turn over one connection until `until` (perf_counter), recording each exchange."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        index = 0
        while (started := time.perf_counter()) < until:
            answer = await exchange(reader, writer, requests[index % len(requests)])
            overloaded = answer.status == 503 and b'"overloaded"' in answer.body
            into.append(Exchange(started - origin, time.perf_counter() - started, answer.status, overloaded))
            index += 1
    finally:
        writer.close()


async def fixed_load(port: int, total: int, connections: int) -> tuple[float, list[float], list[int]]:
    """`total` GETs of / over `connections` keep-alive connections, as the machine reference measures its bare
    endpoint with the benchmark's own client: (seconds, latencies, statuses)."""
    latencies: list[float] = []
    statuses: list[int] = []
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"

    async def connection(share: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(share):
            started = time.perf_counter()
            answer = await exchange(reader, writer, request)
            latencies.append(time.perf_counter() - started)
            statuses.append(answer.status)
        writer.close()

    started = time.perf_counter()
    shares = [total // connections + (index < total % connections) for index in range(connections)]
    await asyncio.gather(*(connection(share) for share in shares))
    return time.perf_counter() - started, latencies, statuses


class ConnectionSampler(threading.Thread):
    """Counts the Redis server's clients named `CLIENT_NAME` every `SAMPLE_SECONDS` (CLIENT LIST), in a thread of
    its own so that a busy load generator does not space the samples out."""

    def __init__(self, redis_url: str, origin: float) -> None:
        super().__init__(daemon=True)
        self._client = redis.Redis.from_url(redis_url, decode_responses=True)
        self._origin = origin
        self._stopping = threading.Event()
        self.samples: list[tuple[float, int]] = []

    def run(self) -> None:
        while not self._stopping.is_set():
            clients = self._client.client_list()
            named = sum(1 for client in clients if client.get("name") == CLIENT_NAME)
            self.samples.append((time.perf_counter() - self._origin, named))
            self._stopping.wait(SAMPLE_SECONDS)

    def finish(self) -> list[tuple[float, int]]:
        self._stopping.set()
        self.join()
        self._client.close()
        return self.samples


async def spike(port: int, requests: list[bytes], origin: float, phases: Sequence[Phase]) -> list[Exchange]:
    """The baseline's connections ask through every phase; the spike's extra ones join for the middle phase."""
    exchanges: list[Exchange] = []
    baseline, peak, _ = phases

    async def joining(offset: int) -> None:
        await asyncio.sleep(max(0.0, origin + peak.start - time.perf_counter()))
        await keep_asking(port, requests[offset:] + requests[:offset], origin, origin + peak.end, exchanges)

    steady = [
        keep_asking(port, requests[i:] + requests[:i], origin, origin + phases[-1].end, exchanges)
        for i in range(baseline.connections)
    ]
    extra = [joining(baseline.connections + i) for i in range(peak.connections - baseline.connections)]
    await asyncio.gather(*steady, *extra)
    return exchanges


def spike_phases(baseline_connections: int, factor: int, seconds: float) -> list[Phase]:
    return [
        Phase("before", 0.0, seconds, baseline_connections),
        Phase("spike", seconds, 2 * seconds, baseline_connections * factor),
        Phase("after", 2 * seconds, 3 * seconds, baseline_connections),
    ]


def run_spike(
    directory: Path,
    *,
    pool_size: int,
    pool_wait_seconds: float,
    baseline_connections: int,
    factor: int,
    phase_seconds: float,
    deliveries: int,
) -> SpikeRun:
    """A redis-server and the delivery process, seeded, then the three phases of load; both stopped afterwards."""
    redis_server = RedisServer(directory / "redis")
    redis_server.start()
    service = delivery_service(directory, redis_server, pool_size, pool_wait_seconds)
    try:
        service.start()
        service.wait_ready()
        requests = get_requests(asyncio.run(seed(redis_server.url, deliveries)))
        asyncio.run(spike(service.port, requests[:200], time.perf_counter(), spike_phases(4, 1, 0.5)))  # warm-up
        run = SpikeRun(pool_size, pool_wait_seconds, spike_phases(baseline_connections, factor, phase_seconds))
        pids = {"delivery": service.process.pid, "redis-server": redis_server.process.pid}
        cpu_before = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
        origin = time.perf_counter()
        sampler = ConnectionSampler(redis_server.url, origin)
        sampler.start()
        try:
            run.exchanges = asyncio.run(spike(service.port, requests, origin, run.phases))
        finally:
            run.samples = sampler.finish()
        run.cpu_seconds = {name: process_cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        return run
    finally:
        service.process.stop()
        redis_server.stop()


def phase_table(run: SpikeRun) -> tuple[dict[str, float], dict[str, float]]:
    """One line per phase; returns its requests/s and p99 (ms) by phase name. The Redis connections are those open:
    the pool opens one when no idle one is free, and keeps it."""
    header = ("phase", "http conns", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "redis conns")
    print("  {:<7} {:>10} {:>9} {:>7} {:>7} {:>7} {:>7} {:>11}  statuses".format(*header))
    rates: dict[str, float] = {}
    p99s: dict[str, float] = {}
    for phase in run.phases:
        exchanges = run.exchanges_in(phase)
        latencies = [e.seconds * 1000 for e in exchanges]
        rates[phase.name] = len(exchanges) / (phase.end - phase.start)
        p99s[phase.name] = percentile(latencies, 0.99)
        statuses = dict(sorted(Counter(e.status for e in exchanges).items()))
        print(
            f"  {phase.name:<7} {phase.connections:>10} {len(exchanges):>9,} {rates[phase.name]:>7,.0f} "
            f"{statistics.median(latencies):>7.1f} {p99s[phase.name]:>7.1f} {max(latencies):>7.1f} "
            f"{max(run.connections_in(phase), default=0):>11}  {statuses}"
        )
    return rates, p99s


def report(run: SpikeRun, reference: Reference | None = None) -> bool:
    """Print the figures per phase and the verdict; True when connections stayed within the pool and every request
    was answered 200 (a designed 503 is reported apart from other failures, but it is a request that did not wait
    long enough to be served)."""
    rates, p99s = phase_table(run)
    cpu_ms = sum(run.cpu_seconds.values()) * 1000 / len(run.exchanges)
    print(
        f"  redis connections of the service: max {run.most_connections} over {len(run.samples):,} samples "
        f"(CLIENT LIST every {SAMPLE_SECONDS * 1000:.0f} ms); pool size {run.pool_size}"
    )
    print(
        f"  p99 spike / before: {p99s['spike'] / p99s['before']:.1f}x, after / before: "
        f"{p99s['after'] / p99s['before']:.2f}x; throughput spike / before: {rates['spike'] / rates['before']:.2f}x"
    )
    spent = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in run.cpu_seconds.items())
    print(f"  CPU {cpu_ms:.3f} ms per request ({spent})")
    if reference is not None:
        print(
            f"  vs the machine  before: {rates['before'] / reference.bare_requests_per_second:.3f} of the bare "
            f"endpoint's req/s; {cpu_ms / reference.bare_cpu_ms_per_request:.1f}x its CPU per request"
        )
    if run.overloaded:
        print(
            f"  503 overloaded: {run.overloaded} requests waited {run.pool_wait_seconds:g} s for a pooled connection "
            "and were answered 503 with Retry-After (the designed answer: bounded wait, then a fast refusal)"
        )
    within_pool = run.most_connections <= run.pool_size
    no_failures = not run.failures and not run.overloaded
    print(
        f"connections within the pool: {run.most_connections} <= {run.pool_size} -> {within_pool}; "
        f"failed requests: {sum(run.failures.values())} {dict(run.failures)}, designed 503s: {run.overloaded} "
        f"-> {'PASS' if within_pool and no_failures else 'FAIL'}"
    )
    return within_pool and no_failures
