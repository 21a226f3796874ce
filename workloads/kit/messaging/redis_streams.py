"""Redis Streams adapter: consumer groups give peek-lock; XAUTOCLAIM redelivers after the lock time.

Every state change that must not be torn (enqueue with duplicate detection, claim with dead-lettering,
lock renewal) is one Lua script, so a crash between two commands cannot lose or duplicate a message.
"""

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from fabrikam.workloads.kit import turn_pipeline
from fabrikam.workloads.kit.messaging.message import Backlog, DeadLetter, Message, Received
from fabrikam.workloads.kit.metrics import DUPLICATES, PUBLISHED

GROUP = "consumers"
# Completions within this window share one round trip: a little latency for far fewer commands under load.
ACK_WINDOW_SECONDS = 0.002

_PUBLISH = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[1], '*', 'id', ARGV[2], 'type', ARGV[3], 'body', ARGV[4], 'headers', ARGV[5])
  return 1
end
return 0
"""

# Claims messages idle past the lock time; those delivered too often go to the dead-letter stream.
_CLAIM = """
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', ARGV[4])
local out = {}
for _, entry in ipairs(claimed[2]) do
  if entry and entry[2] then
    local id = entry[1]
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    local count = pending[1] and pending[1][4] or 1
    if count > tonumber(ARGV[5]) then
      redis.call('XADD', KEYS[2], '*', 'reason', 'MaxDeliveryCountExceeded',
        'description', 'delivered ' .. count .. ' times; maxDeliveryCount is ' .. ARGV[5],
        'deliveryCount', count, unpack(entry[2]))
      redis.call('XACK', KEYS[1], ARGV[1], id)
      redis.call('XDEL', KEYS[1], id)
    else
      table.insert(out, {id, count, entry[2]})
    end
  end
end
return out
"""

# Renews (or releases, with a large idle time) only a message this consumer still owns.
_TOUCH = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if pending[1] and pending[1][2] == ARGV[2] then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4], 'JUSTID')
  return 1
end
return 0
"""

# Moves the dead letters with the given entry ids back to the queue as new entries (a fresh delivery count),
# without their reason; the move of each is atomic, so a message is never in both streams or in neither, and an
# entry already moved is skipped, so a redrive repeated after a crash moves nothing twice.
_REDRIVE = """
local moved = 0
for i = 1, #ARGV do
  local entry = redis.call('XRANGE', KEYS[2], ARGV[i], ARGV[i])[1]
  if entry then
    local fields = {}
    for j = 1, #entry[2], 2 do fields[entry[2][j]] = entry[2][j + 1] end
    redis.call('XADD', KEYS[1], '*', 'id', fields['id'], 'type', fields['type'], 'body', fields['body'],
      'headers', fields['headers'] or '{}')
    redis.call('XDEL', KEYS[2], entry[1])
    moved = moved + 1
  end
end
return moved
"""
# Dead letters are read this many at a time when looking for those of one message id.
SCAN_PAGE = 500


class _AckBatch:
    """Receipts completed within one ack window, acknowledged together."""

    def __init__(self) -> None:
        self.receipts: dict[str, list[str]] = defaultdict(list)
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def settle(self, task: "asyncio.Task[None]") -> None:
        if task.cancelled():
            self.done.cancel()
        elif (error := task.exception()) is not None:
            self.done.set_exception(error)
        else:
            self.done.set_result(None)


def _stream(queue: str) -> str:
    return f"queue:{queue}"


def _dead_letter_stream(queue: str) -> str:
    return f"queue:{queue}:deadletter"


def _decode(fields: dict[str, str]) -> Message:
    return Message(
        id=fields["id"],
        type=fields["type"],
        body=json.loads(fields["body"]),
        headers=json.loads(fields.get("headers") or "{}"),
    )


def _entry_time(entry_id: str) -> datetime:
    """Redis stream ids start with the milliseconds at which the entry was added."""
    return datetime.fromtimestamp(int(entry_id.split("-", 1)[0]) / 1000, UTC)


def _dead_letter(entry_id: str, fields: dict[str, str]) -> DeadLetter:
    return DeadLetter(
        _decode(fields), fields["reason"], fields["description"], int(fields["deliveryCount"]), _entry_time(entry_id)
    )


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisStreamsBroker:
    """One stream per queue, one consumer group per queue, a dead-letter stream beside it."""

    def __init__(
        self,
        redis: Redis,
        consumer: str,
        *,
        lock_seconds: float,
        max_delivery_count: int,
        duplicate_window_seconds: int,
    ) -> None:
        self._redis = redis
        self._consumer = consumer
        self._lock_ms = int(lock_seconds * 1000)
        self._max_delivery_count = max_delivery_count
        self._duplicate_window = duplicate_window_seconds
        self._groups: set[str] = set()
        self._open_batch: _AckBatch | None = None
        self._acking: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks
        self._turn = turn_pipeline.shared(redis)
        self._next_sweep: dict[str, float] = {}
        self._publish = redis.register_script(_PUBLISH)
        self._claim = redis.register_script(_CLAIM)
        self._touch = redis.register_script(_TOUCH)
        self._redrive = redis.register_script(_REDRIVE)

    async def publish(self, queue: str, message: Message) -> bool:
        """Publishes made in the same event-loop turn go in one pipeline: one round trip, no added wait.

        Returns once Redis has run this message's script, so callers keep the usual guarantee."""
        keys = [_stream(queue), f"queue:{queue}:seen:{message.id}"]
        args = [self._duplicate_window, message.id, message.type, message.encoded_body(), json.dumps(message.headers)]
        added = bool(await self._turn.script(self._publish, keys, args))
        if added:
            PUBLISHED.labels(queue, message.type).inc()
        else:
            DUPLICATES.labels(queue).inc()
        return added

    async def receive(self, queue: str, max_messages: int, wait_seconds: float) -> list[Received]:
        await self._ensure_group(queue)
        received: list[Received] = []
        if time.monotonic() >= self._next_sweep.get(queue, 0.0):
            self._next_sweep[queue] = time.monotonic() + self._lock_ms / 4000
            received = await self._claim_expired(queue, max_messages)
        if len(received) < max_messages:
            try:
                response: Any = await self._redis.xreadgroup(
                    GROUP,
                    self._consumer,
                    {_stream(queue): ">"},
                    count=max_messages - len(received),
                    block=None if received else max(1, int(wait_seconds * 1000)),
                )
            except redis_errors.ResponseError as error:
                if "NOGROUP" in str(error):
                    self._groups.discard(queue)
                raise
            for _stream_name, entries in response or []:
                for entry_id, fields in entries:
                    received.append(Received(queue, _decode(fields), 1, entry_id))
        return received

    async def _claim_expired(self, queue: str, max_messages: int) -> list[Received]:
        rows: list[Any] = await self._claim(
            keys=[_stream(queue), _dead_letter_stream(queue)],
            args=[GROUP, self._consumer, self._lock_ms, max_messages, self._max_delivery_count],
        )
        return [Received(queue, _decode(_pairs(fields)), int(count), entry_id) for entry_id, count, fields in rows]

    async def _ensure_group(self, queue: str) -> None:
        if queue in self._groups:
            return
        try:
            await self._redis.xgroup_create(_stream(queue), GROUP, id="0", mkstream=True)
        except redis_errors.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._groups.add(queue)

    async def complete(self, received: Received) -> None:
        """Acknowledge; completions within `ACK_WINDOW_SECONDS` share one XACK/XDEL round trip.

        Returns once the acknowledgement is durable, so callers keep the usual guarantee.
        """
        if self._open_batch is None:
            self._open_batch = _AckBatch()
            asyncio.get_running_loop().call_later(ACK_WINDOW_SECONDS, self._flush_acks, self._open_batch)
        batch = self._open_batch
        batch.receipts[received.queue].append(received.receipt)
        await asyncio.shield(batch.done)

    def _flush_acks(self, batch: "_AckBatch") -> None:
        self._open_batch = None
        task = asyncio.ensure_future(self._acknowledge(batch.receipts))
        self._acking.add(task)
        task.add_done_callback(self._acking.discard)
        task.add_done_callback(batch.settle)

    async def _acknowledge(self, receipts: dict[str, list[str]]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for queue, ids in receipts.items():
                pipe.xack(_stream(queue), GROUP, *ids)
                pipe.xdel(_stream(queue), *ids)
            await pipe.execute()

    async def release(self, received: Received) -> None:
        await self._touch(
            keys=[_stream(received.queue)],
            args=[GROUP, self._consumer, received.receipt, self._lock_ms + 1],
        )
        self._next_sweep[received.queue] = 0.0

    async def renew_lock(self, received: Received) -> None:
        await self._touch(keys=[_stream(received.queue)], args=[GROUP, self._consumer, received.receipt, 0])

    async def dead_letter(self, received: Received, reason: str, description: str) -> None:
        message = received.message
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                _dead_letter_stream(received.queue),
                {
                    "reason": reason,
                    "description": description[:1024],
                    "deliveryCount": received.delivery_count,
                    "id": message.id,
                    "type": message.type,
                    "body": message.encoded_body(),
                    "headers": json.dumps(message.headers),
                },
            )
            pipe.xack(_stream(received.queue), GROUP, received.receipt)
            pipe.xdel(_stream(received.queue), received.receipt)
            await pipe.execute()

    async def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        entries: Any = await self._redis.xrange(_dead_letter_stream(queue), count=limit)
        return [_dead_letter(entry_id, fields) for entry_id, fields in entries]

    async def dead_letter_count(self, queue: str, up_to: int = 10_000) -> int:
        count: int = await self._redis.xlen(_dead_letter_stream(queue))
        return min(count, up_to)

    async def redrive(self, queue: str, limit: int = 1000, message_id: str | None = None) -> int:
        """The entries to move are chosen first, then moved by one script that skips any gone meanwhile."""
        if limit < 1:
            return 0
        chosen: list[str] = []
        async for entry_id, fields in self._dead_entries(queue, min(limit, SCAN_PAGE)):
            if len(chosen) == limit:
                break
            if message_id is None or fields["id"] == message_id:
                chosen.append(entry_id)
        if not chosen:
            return 0
        moved: int = await self._redrive(keys=[_stream(queue), _dead_letter_stream(queue)], args=chosen)
        return moved

    async def _dead_entries(self, queue: str, page: int) -> AsyncIterator[tuple[str, dict[str, str]]]:
        """Every dead letter of the queue, oldest first, read a page at a time."""
        start = "-"
        while True:
            entries: Any = await self._redis.xrange(_dead_letter_stream(queue), min=start, count=page)
            for entry in entries:
                yield entry
            if len(entries) < page:
                return
            start = f"({entries[-1][0]}"

    async def backlog(self, queue: str) -> Backlog:
        """Read in one transaction. The stream holds only unsettled entries (completed and dead-lettered ones are
        deleted), so those not pending in the group are waiting, and the first is the oldest; its id is the time
        it was added on Redis's clock, which TIME reads in the same step."""
        await self._ensure_group(queue)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.time()
            pipe.xlen(_stream(queue))
            pipe.xpending(_stream(queue), GROUP)
            pipe.xrange(_stream(queue), count=1)
            pipe.xlen(_dead_letter_stream(queue))
            (seconds, micros), length, pending, first, dead = await pipe.execute()
        oldest_ms = int(first[0][0].split("-", 1)[0]) if first else None
        now_ms = seconds * 1000 + micros // 1000
        in_flight = int(pending["pending"])
        return Backlog(
            waiting=max(0, length - in_flight),
            in_flight=in_flight,
            dead_lettered=dead,
            oldest_age_seconds=max(0, now_ms - oldest_ms) / 1000 if oldest_ms is not None else 0.0,
        )

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        """The Redis client is owned by the service runtime, which closes it."""
