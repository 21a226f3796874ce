"""The harness of the workflow memory benchmark and its short test (issue #20, the seed's known issue "workflow
memory leak suspected"): the real workflow process fed deliveries on a real Redis, its RSS read at checkpoints.

Everything is real: redis-server (fsync-always AOF, as the services run it) and the workflow as its own process
(`Service("workflow")`). This process feeds it deliveries through the Redis Streams adapter the services use, and
plays package, scheduler and delivery: it consumes the commands the workflow sends and answers each with the reply
those services send on success, so every saga runs to `completed`. At every checkpoint the feed pauses until the
workflow has settled everything sent (its two queues are empty, every saga has finished, and its
`fabrikam_messages_total` has stopped moving); then the workflow's VmRSS is read from /proc/<pid>/status.

A "message" is one the workflow consumed and settled, as its own `fabrikam_messages_total` counts them (all queues,
types and outcomes): per delivery DeliveryRequested (delivery-requests), then PackageCreated, DroneAssigned,
DeliveryScheduled and DeliveryCompleted (workflow-events), so 5, plus any StepTimedOut its own timer sends (none
while replies come within the step timeout). The commands it sends are not counted.

What the workflow keeps per delivery: in Redis, the saga document `saga:<id>` (kept 7 days once finished, then
expired), an entry in `workflow:step-deadlines` while a step waits (removed when the saga stops waiting) and the
broker's duplicate-detection keys `queue:<queue>:seen:<message id>` (expire after the duplicate window, 24 h). In
the process only the saga cache of `SagaStore`, an LRU bounded to 4,096 sagas; metrics are labelled per queue,
message type and outcome, never per delivery. The baseline is therefore taken at the first checkpoint after that
cache has filled (5 messages per saga): filling a bounded cache is not a leak.
"""

import asyncio
import inspect
import statistics
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvloop
from redis.asyncio import Redis

from fabrikam.devcluster.localstack import RedisServer, Service
from fabrikam.devcluster.machine_reference import process_cpu_seconds
from fabrikam.workloads.contracts import (
    DELIVERY_COMMANDS,
    DELIVERY_REQUESTS,
    PACKAGE_COMMANDS,
    QUEUES,
    SCHEDULER_COMMANDS,
    WORKFLOW_EVENTS,
    AssignDrone,
    CreatePackage,
    DeliveryCompleted,
    DeliveryRequested,
    DeliveryScheduled,
    DroneAssigned,
    DroneSnapshot,
    PackageCreated,
    ScheduleDelivery,
)
from fabrikam.workloads.kit.messaging.message import Message, Received, outgoing, outgoing_raw
from fabrikam.workloads.kit.messaging.redis_streams import RedisStreamsBroker
from fabrikam.workloads.kit.resilience import redis_client
from fabrikam.workloads.kit.settings import ServiceSettings
from fabrikam.workloads.workflow.store import DEADLINES, SagaStore

TOTAL_MESSAGES = 1_000_000
CHECKPOINT_EVERY = 100_000
ALLOWED_GROWTH = 0.10
MESSAGES_PER_DELIVERY = 5  # DeliveryRequested, PackageCreated, DroneAssigned, DeliveryScheduled, DeliveryCompleted
# Deliveries between request and completion at once: enough to keep the workflow's 32 handlers busy, few enough
# that no step waits anywhere near its 60 s timeout.
IN_FLIGHT = 1_000
# The delivery service completes a delivery long after scheduling it; here a little later, so that DeliveryScheduled
# is usually handled first, as in production.
COMPLETION_DELAY_SECONDS = 0.05
# No saga finishing for this long means the run is stuck (a played service failed, the workflow died): stop it.
STALL_SECONDS = 120.0
SAGA_CACHE_SIZE: int = inspect.signature(SagaStore).parameters["cache_size"].default
WORKFLOW_QUEUES = (DELIVERY_REQUESTS, WORKFLOW_EVENTS)
WORKFLOW_ENV = {"FABRIKAM_LOG_LEVEL": "WARNING"}


@dataclass(frozen=True)
class Checkpoint:
    messages: int
    by_type: dict[str, int]
    deliveries: int
    rss_kib: int
    seconds: float  # since the feed started
    cpu_seconds: dict[str, float]  # user + system, per process: workflow, redis-server, and this driver
    commands_sent: int


@dataclass
class Outcome:
    checkpoints: list[Checkpoint]
    baseline: Checkpoint
    unexpected_commands: Counter[str]
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def growth(self) -> float:
        return self.checkpoints[-1].rss_kib / self.baseline.rss_kib - 1


def rss_kib(pid: int) -> int:
    """Resident set size of the process (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def warmed_up_after() -> int:
    """Messages after which the saga cache, the only per-delivery state the workflow keeps in process, is full."""
    return SAGA_CACHE_SIZE * MESSAGES_PER_DELIVERY


async def counted_by_type(client: httpx.AsyncClient, metric: str) -> dict[str, int]:
    """A counter of the workflow's /metrics summed per message type: `fabrikam_messages_total` (messages it
    settled) or `fabrikam_messages_published_total` (messages it sent)."""
    counts: Counter[str] = Counter()
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(metric + "{"):
            labels, value = line.rsplit(" ", 1)
            message_type = labels.split('type="', 1)[1].split('"', 1)[0]
            counts[message_type] += int(float(value))
    return dict(counts)


def requested_body(delivery_id: str, requested_at: str) -> dict[str, Any]:
    """A DeliveryRequested body as ingestion publishes it (`PlayedServices` checks it against the contract once)."""
    return {
        "deliveryId": delivery_id,
        "requestedAt": requested_at,
        "owner": "bench-owner",
        "pickup": {"latitude": 47.61, "longitude": -122.33, "address": "1 Pike St"},
        "dropoff": {"latitude": 47.62, "longitude": -122.35, "address": "2 Pine St"},
        "pickupTime": "2030-01-01T10:00:00Z",
        "deadline": "2030-01-01T12:00:00Z",
        "expedited": False,
        "confirmationRequired": False,
        "package": {"size": "small", "weightKg": 1.5, "tag": "bench"},
    }


class PlayedServices:
    """Package, scheduler and delivery as the workflow sees them: each command answered with the success reply
    (same message ids as the real services), and the deliveries requested, at most `in_flight` at a time."""

    def __init__(self, broker: RedisStreamsBroker, in_flight: int) -> None:
        self._broker = broker
        self._in_flight = in_flight
        self.requested = 0
        self.finished: set[str] = set()
        self.unexpected: Counter[str] = Counter()
        self._room = asyncio.Event()
        self._to_complete: deque[tuple[float, str]] = deque()
        self._requested_at = datetime.now(UTC).isoformat()
        DeliveryRequested.model_validate(requested_body("template", self._requested_at))

    async def request_until(self, deliveries: int) -> None:
        """Request deliveries until `deliveries` have been requested, keeping at most `in_flight` unfinished."""
        while self.requested < deliveries:
            room = min(self._in_flight - (self.requested - len(self.finished)), 256, deliveries - self.requested)
            if room <= 0:
                await self._next_finish()
                continue
            ids = [str(uuid.uuid4()) for _ in range(room)]
            messages = [
                outgoing_raw(f"DeliveryRequested:{i}", "DeliveryRequested", requested_body(i, self._requested_at))
                for i in ids
            ]
            await asyncio.gather(*(self._broker.publish(DELIVERY_REQUESTS, message) for message in messages))
            self.requested += room

    async def until_all_finished(self) -> None:
        while len(self.finished) < self.requested:
            await self._next_finish()

    async def _next_finish(self) -> None:
        self._room.clear()
        try:
            await asyncio.wait_for(self._room.wait(), STALL_SECONDS)
        except TimeoutError as error:
            unfinished = self.requested - len(self.finished)
            raise TimeoutError(f"no saga finished for {STALL_SECONDS:.0f} s; {unfinished} unfinished") from error

    def package(self, message: Message) -> list[Message]:
        if message.type != CreatePackage.__name__:
            self.unexpected[message.type] += 1
            return []
        command = CreatePackage.model_validate(message.body)
        created = PackageCreated(delivery_id=command.delivery_id, package_id=command.package_id)
        return [outgoing(f"PackageCreated:{command.delivery_id}", created)]

    def scheduler(self, message: Message) -> list[Message]:
        if message.type == "ReleaseDrone":  # the last command of a completed saga
            self.finished.add(str(message.body["deliveryId"]))
            self._room.set()
            return []
        if message.type != AssignDrone.__name__:
            self.unexpected[message.type] += 1
            return []
        command = AssignDrone.model_validate(message.body)
        drone_id = f"drone-{hash(command.delivery_id) % 100:04d}"
        drone = DroneSnapshot(drone_id=drone_id, latitude=47.6, longitude=-122.33, speed_mps=15.0)
        assigned = DroneAssigned(delivery_id=command.delivery_id, drone=drone)
        return [outgoing(f"DroneAssigned:{command.delivery_id}", assigned)]

    def delivery(self, message: Message) -> list[Message]:
        if message.type != ScheduleDelivery.__name__:
            self.unexpected[message.type] += 1
            return []
        command = ScheduleDelivery.model_validate(message.body)
        self._to_complete.append((time.monotonic() + COMPLETION_DELAY_SECONDS, command.delivery_id))
        scheduled = DeliveryScheduled(delivery_id=command.delivery_id)
        return [outgoing(f"DeliveryScheduled:{command.delivery_id}", scheduled)]

    async def answer(self, queue: str, reply: Callable[[Message], list[Message]]) -> None:
        """Consume one command queue for good: reply to every command, then acknowledge it."""
        while True:
            batch: list[Received] = await self._broker.receive(queue, 256, wait_seconds=0.2)
            replies = [message for received in batch for message in reply(received.message)]
            await asyncio.gather(*(self._broker.publish(WORKFLOW_EVENTS, message) for message in replies))
            await asyncio.gather(*(self._broker.complete(received) for received in batch))

    async def complete_deliveries(self) -> None:
        """DeliveryCompleted for each scheduled delivery once its short flight is over."""
        while True:
            await asyncio.sleep(COMPLETION_DELAY_SECONDS / 2)
            now, due = time.monotonic(), []
            while self._to_complete and self._to_complete[0][0] <= now:
                due.append(self._to_complete.popleft()[1])
            completions = [outgoing(f"DeliveryCompleted:{i}", DeliveryCompleted(delivery_id=i)) for i in due]
            await asyncio.gather(*(self._broker.publish(WORKFLOW_EVENTS, message) for message in completions))


async def settled(redis: Redis, metrics: httpx.AsyncClient, at_least: int, within: float = 120.0) -> dict[str, int]:
    """The workflow's message counts once it has handled everything sent: its queues empty (a handled message is
    deleted from its stream), at least `at_least` messages counted, and the count unchanged for 0.3 s."""
    deadline = time.monotonic() + within
    previous: dict[str, int] | None = None
    while time.monotonic() < deadline:
        lengths = [await redis.xlen(f"queue:{queue}") for queue in WORKFLOW_QUEUES]
        counts = await counted_by_type(metrics, "fabrikam_messages_total")
        if not any(lengths) and sum(counts.values()) >= at_least and counts == previous:
            return counts
        previous = counts
        await asyncio.sleep(0.3)
    raise TimeoutError(f"the workflow did not settle within {within:.0f} s: {previous}")


async def redis_facts(redis: Redis, workflow_api: httpx.AsyncClient, finished: set[str]) -> dict[str, str]:
    """Where the per-delivery state is once every saga has finished, and whether it expires."""
    sample = sorted(finished)[:: max(1, len(finished) // 20)][:20]
    stages = Counter[str]()
    ttls, sizes = [], []
    for delivery_id in sample:
        stages[(await workflow_api.get(f"/v1/workflows/{delivery_id}")).json()["stage"]] += 1
        ttls.append(await redis.ttl(f"saga:{delivery_id}"))
        sizes.append(await redis.memory_usage(f"saga:{delivery_id}") or 0)
    keyspace: Any = await redis.info("keyspace")
    memory: Any = await redis.info("memory")
    db = keyspace.get("db0", {})
    candidates = [DEADLINES, *(f"queue:{queue}{suffix}" for queue in QUEUES for suffix in ("", ":deadletter"))]
    lasting = [key for key in candidates if await redis.ttl(key) == -1]  # -2: no such key
    lengths = {key: await redis.xlen(key) for key in lasting if key.startswith("queue:")}
    return {
        "saga stages (sample)": ", ".join(f"{stage} {count}" for stage, count in stages.items()),
        "saga TTLs (sample)": f"{min(ttls):,} .. {max(ttls):,} s (finished sagas expire after 7 days)",
        "saga size (sample)": f"{statistics.fmean(sizes):,.0f} bytes in Redis (MEMORY USAGE)",
        "step deadlines left": str(await redis.zcard(DEADLINES)),
        "redis keys": f"{db.get('keys', 0):,}, of which {db.get('expires', 0):,} expire",
        "keys without expiry": f"{db.get('keys', 0) - db.get('expires', 0):,}: the queue streams, now "
        + ", ".join(f"{key} {length}" for key, length in lengths.items()),
        "redis used memory": str(memory["used_memory_human"]),
    }


def cpu_by_process(workflow: Service, redis_server: RedisServer) -> dict[str, float]:
    """CPU seconds so far of the three processes that share the cores: who limits the throughput."""
    return {
        "workflow": process_cpu_seconds(workflow.process.pid),
        "redis-server": process_cpu_seconds(redis_server.process.pid),
        "driver": time.process_time(),
    }


async def drive(redis_server: RedisServer, workflow: Service, checkpoints: Sequence[int], baseline_at: int) -> Outcome:
    """Feed the running workflow up to each checkpoint (in messages), settle, and read its RSS."""
    redis = redis_client(ServiceSettings(redis_url=redis_server.url, pool_size=32))
    broker = RedisStreamsBroker(
        redis, "bench-played", lock_seconds=30, max_delivery_count=10, duplicate_window_seconds=86_400
    )
    played = PlayedServices(broker, IN_FLIGHT)
    workers = [
        asyncio.create_task(played.answer(PACKAGE_COMMANDS, played.package)),
        asyncio.create_task(played.answer(SCHEDULER_COMMANDS, played.scheduler)),
        asyncio.create_task(played.answer(DELIVERY_COMMANDS, played.delivery)),
        asyncio.create_task(played.complete_deliveries()),
    ]
    reached: list[Checkpoint] = []
    try:
        async with httpx.AsyncClient(base_url=workflow.url, timeout=10) as workflow_api:
            started = time.perf_counter()
            previous = Checkpoint(0, {}, 0, 0, 0.0, cpu_by_process(workflow, redis_server), 0)
            for target in checkpoints:
                await played.request_until(-(-target // MESSAGES_PER_DELIVERY))
                await played.until_all_finished()
                counts = await settled(redis, workflow_api, played.requested * MESSAGES_PER_DELIVERY)
                sent = await counted_by_type(workflow_api, "fabrikam_messages_published_total")
                pid = workflow.process.pid
                checkpoint = Checkpoint(
                    messages=sum(counts.values()),
                    by_type=counts,
                    deliveries=played.requested,
                    rss_kib=rss_kib(pid),
                    seconds=time.perf_counter() - started,
                    cpu_seconds=cpu_by_process(workflow, redis_server),
                    commands_sent=sum(sent.values()),
                )
                reached.append(checkpoint)
                print_checkpoint(checkpoint, previous)
                previous = checkpoint
            facts = await redis_facts(redis, workflow_api, played.finished)
    except TimeoutError as error:
        failed = [repr(worker.exception()) for worker in workers if worker.done() and not worker.cancelled()]
        raise RuntimeError(
            f"stuck: {error}; played services failed: {failed or 'none'}; see {workflow.log_path}"
        ) from error
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await redis.aclose()
    baseline = next(checkpoint for checkpoint in reached if checkpoint.messages >= baseline_at)
    return Outcome(reached, baseline, played.unexpected, facts)


def print_checkpoint(checkpoint: Checkpoint, previous: Checkpoint) -> None:
    """One line per checkpoint; rate and CPU are those of the stretch since the previous checkpoint (or the start):
    the CPU shares say which process limited the rate."""
    messages = checkpoint.messages - previous.messages
    seconds = checkpoint.seconds - previous.seconds
    cpu = {name: spent - previous.cpu_seconds[name] for name, spent in checkpoint.cpu_seconds.items()}
    shares = ", ".join(f"{name} {spent / seconds:.0%}" for name, spent in cpu.items())
    print(
        f"  {checkpoint.messages:>9,} messages  {checkpoint.deliveries:>8,} deliveries  "
        f"RSS {checkpoint.rss_kib / 1024:7.1f} MiB  {messages / seconds:7,.0f} messages/s  "
        f"workflow {cpu['workflow'] * 1000 / messages:.2f} ms CPU/message; CPU {shares}",
        flush=True,
    )


def run(directory: Path, checkpoints: Sequence[int], baseline_at: int) -> Outcome:
    """A redis-server and the workflow process, fed and measured; both stopped afterwards."""
    redis_server = RedisServer(directory / "redis")
    redis_server.start()
    workflow = Service("workflow", directory / "logs", {"FABRIKAM_REDIS_URL": redis_server.url, **WORKFLOW_ENV})
    try:
        workflow.start()
        workflow.wait_ready()
        print(f"  workflow RSS when ready: {rss_kib(workflow.process.pid) / 1024:.1f} MiB (pid {workflow.process.pid})")
        return uvloop.run(drive(redis_server, workflow, checkpoints, baseline_at))
    finally:
        workflow.process.stop()
        redis_server.stop()


def report(outcome: Outcome) -> bool:
    """Print the verdict; True when the RSS stayed within the allowed growth."""
    last, baseline = outcome.checkpoints[-1], outcome.baseline
    print(
        "  messages settled by the workflow, by type: "
        + ", ".join(f"{t} {n:,}" for t, n in sorted(last.by_type.items()))
    )
    print(f"  commands it sent (not counted as messages): {last.commands_sent:,}")
    print(f"  throughput over the run: {last.messages / last.seconds:,.0f} messages/s, pauses at checkpoints included")
    if outcome.unexpected_commands:
        print(f"  unexpected commands (a saga did not run straight through): {dict(outcome.unexpected_commands)}")
    for name, value in outcome.facts.items():
        print(f"  {name + ':':<22}{value}")
    grown = (last.rss_kib - baseline.rss_kib) * 1024
    per_delivery = grown / max(1, last.deliveries - baseline.deliveries)
    within = outcome.growth <= ALLOWED_GROWTH
    print(
        f"RSS after {last.messages:,} messages / after {baseline.messages:,}: "
        f"{last.rss_kib / 1024:.1f} / {baseline.rss_kib / 1024:.1f} MiB = {1 + outcome.growth:.3f} "
        f"({outcome.growth:+.1%}, {per_delivery:+,.0f} bytes per delivery since; allowed +{ALLOWED_GROWTH:.0%}) "
        f"-> {'PASS' if within else 'FAIL'}"
    )
    return within


def checkpoints_for(scale: float) -> list[int]:
    """Every 100,000 messages up to 1,000,000, scaled; whole deliveries (5 messages each)."""
    step = max(1, round(CHECKPOINT_EVERY * scale / MESSAGES_PER_DELIVERY)) * MESSAGES_PER_DELIVERY
    return [step * index for index in range(1, TOTAL_MESSAGES // CHECKPOINT_EVERY + 1)]
