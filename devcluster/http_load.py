"""Load generators for the ingestion API, shared by the benchmarks and the tests that hold the seed's known issues to
account. They speak raw HTTP/1.1 keep-alive so that the client costs the machine's cores as little as possible.

- `closed_loop`: each connection sends its next request when the last one is answered (the most a server does).
- `paced`: requests leave at a fixed rate whatever the server does (an open loop), and each is retried with its
  Idempotency-Key until accepted, as a well-behaved client does; latency counts from the planned send time, so a
  stall is not hidden by the client waiting for it (coordinated omission).
"""

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import redis

ACCEPTED = 202
DELIVERY_REQUESTS_STREAM = "queue:delivery-requests"


def delivery_request(index: int, idempotency_key: str | None = None) -> bytes:
    """One POST /v1/deliveryrequests as bytes on the wire; a key makes retries of it one delivery."""
    body = json.dumps(
        {
            "owner": f"bench-{index % 50}",
            "pickup": {"latitude": 47.61 + (index % 40) * 0.001, "longitude": -122.33, "address": "1 Pike St"},
            "dropoff": {"latitude": 47.62, "longitude": -122.35, "address": "2 Pine St"},
            "pickupTime": "2030-01-01T10:00:00Z",
            "deadline": "2030-01-01T12:00:00Z",
            "expedited": index % 7 == 0,
            "confirmationRequired": False,
            "package": {"size": "small", "weightKg": 1.5, "tag": f"tag-{index % 10}"},
        }
    ).encode()
    key = f"Idempotency-Key: {idempotency_key}\r\n" if idempotency_key else ""
    head = (
        "POST /v1/deliveryrequests HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"{key}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> Answer:
    """Send one request on a keep-alive connection and read its whole answer."""
    writer.write(request)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("the server closed the connection")
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Answer(int(status_line.split()[1]), headers, body)


async def _closed_connection(port: int, requests: list[bytes], latencies: list[float], statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for request in requests:
        started = time.perf_counter()
        answer = await exchange(reader, writer, request)
        latencies.append(time.perf_counter() - started)
        statuses.append(answer.status)
    writer.close()


async def closed_loop(port: int, total: int, connections: int) -> tuple[float, list[float], list[int]]:
    """Send `total` POSTs over `connections` keep-alive connections; returns (seconds, latencies, statuses)."""
    payloads = [delivery_request(index) for index in range(total)]
    latencies: list[float] = []
    statuses: list[int] = []
    shares = [payloads[offset::connections] for offset in range(connections)]
    started = time.perf_counter()
    await asyncio.gather(*(_closed_connection(port, share, latencies, statuses) for share in shares))
    return time.perf_counter() - started, latencies, statuses


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


@dataclass
class PacedRun:
    """What a paced run saw: per request, when it was planned, how long until accepted, and every answer."""

    planned_at: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    accepted_ids: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    connection_errors: int = 0
    retries: int = 0
    started: float = 0.0  # perf_counter of the first planned send
    seconds: float = 0.0

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


async def _paced_connection(
    ports: list[int], indexes: range, rate: float, started: float, run: PacedRun, give_up_after: float
) -> None:
    """Sends the requests of `indexes` at their planned times (index / rate after `started`), each until accepted;
    a refused or closed connection is opened again, the next time on the next port (a Service's other pods)."""
    turn = indexes.start
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    for index in indexes:
        planned = started + index / rate
        if (wait := planned - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        request = delivery_request(index, idempotency_key=f"paced-{index}")
        while True:
            if time.perf_counter() - planned > give_up_after:
                raise TimeoutError(f"request {index} not accepted within {give_up_after} s")
            try:
                if connection is None:
                    connection = await asyncio.open_connection("127.0.0.1", ports[turn % len(ports)])
                answer = await exchange(*connection, request)
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                run.connection_errors += 1
                connection, turn = None, turn + 1
                await asyncio.sleep(0.1)
                continue
            run.count(answer.status)
            if answer.status == ACCEPTED:
                run.accepted_ids.add(json.loads(answer.body)["deliveryId"])
                run.planned_at.append(planned - started)
                run.latencies.append(time.perf_counter() - planned)
                break
            if answer.status not in (429, 503):
                raise RuntimeError(f"request {index}: unexpected {answer.status} {answer.body[:200]!r}")
            run.retries += 1
            await asyncio.sleep(float(answer.headers.get("retry-after", "0.2")))
    if connection is not None:
        connection[1].close()


async def paced(
    ports: list[int],
    rate: float,
    seconds: float,
    connections: int,
    *,
    during: Callable[[], None] | None = None,
    during_at: float = 0.5,
    give_up_after: float = 60.0,
) -> PacedRun:
    """`rate` requests/s for `seconds` over `connections` connections spread on `ports`; `during` runs in a thread
    once `during_at` of the time has passed (a broker restart, say) while the requests keep leaving."""
    total = int(rate * seconds)
    started = time.perf_counter() + 0.2
    run = PacedRun(started=started)
    # Connection c sends requests c, c + n, c + 2n...: each request's plan is exact, whatever connection sends it.
    senders = [
        _paced_connection(ports, range(offset, total, connections), rate, started, run, give_up_after)
        for offset in range(connections)
    ]
    disturbance = None
    if during is not None:

        async def disturb() -> None:
            await asyncio.sleep(max(0.0, started + seconds * during_at - time.perf_counter()))
            await asyncio.to_thread(during)

        disturbance = asyncio.ensure_future(disturb())
    await asyncio.gather(*senders)
    if disturbance is not None:
        await disturbance
    run.seconds = time.perf_counter() - started
    return run


@dataclass(frozen=True)
class QueueCheck:
    """The queue's side of a run: every accepted delivery queued once, nothing queued that was not accepted."""

    entries: int
    distinct: int
    missing: int
    unexpected: int

    @property
    def exact(self) -> bool:
        return self.entries == self.distinct and self.missing == 0 and self.unexpected == 0


def check_queue(redis_url: str, accepted_ids: set[str], stream: str = DELIVERY_REQUESTS_STREAM) -> QueueCheck:
    """Read the whole stream and compare its delivery ids with the accepted ones."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    queued: list[str] = []
    cursor = "-"
    while batch := cast(list[tuple[str, dict[str, str]]], client.xrange(stream, min=cursor, count=10_000)):
        queued.extend(json.loads(fields["body"])["deliveryId"] for _, fields in batch)
        cursor = "(" + batch[-1][0]
    client.close()
    distinct = set(queued)
    return QueueCheck(len(queued), len(distinct), len(accepted_ids - distinct), len(distinct - accepted_ids))
