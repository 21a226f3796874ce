"""The step timer: sends `StepTimedOut` to the workflow's queue for each saga whose step deadline has passed.

Deadlines sit in a Redis sorted set (`store.DEADLINES`), so they survive restarts and every workflow replica
runs a timer. A Lua script claims due entries atomically by pushing them a lease ahead: one replica sends
each timeout, and a timeout lost with a crashed replica is sent again when the lease runs out. The saga
decides what a timeout means (retry or fail); one that arrives for a step already answered changes nothing.
"""

import asyncio
import logging
import time
from datetime import UTC, datetime

from redis.asyncio import Redis

from fabrikam.workloads.contracts import WORKFLOW_EVENTS, StepTimedOut
from fabrikam.workloads.kit.messaging.message import outgoing
from fabrikam.workloads.kit.messaging.port import Broker
from fabrikam.workloads.workflow.store import DEADLINES

log = logging.getLogger(__name__)

# Returns [id, deadline, id, deadline, ...] of the due entries, each now leased until ARGV[3].
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
for i = 1, #due, 2 do redis.call('ZADD', KEYS[1], ARGV[3], due[i]) end
return due
"""


class StepTimer:
    """Scans the deadlines every `interval` seconds; a claimed timeout is sent again after `lease` seconds
    unless the saga's handling of it replaced or removed the entry."""

    def __init__(self, redis: Redis, broker: Broker, *, interval: float, lease: float, batch: int = 256) -> None:
        self._redis = redis
        self._broker = broker
        self._interval = interval
        self._lease = lease
        self._batch = batch
        self._claim = redis.register_script(_CLAIM)
        self._task: asyncio.Task[None] | None = None

    async def fire_due(self, now: float | None = None) -> int:
        """Send a timeout for every entry due at `now`; returns how many were sent."""
        now = time.time() if now is None else now
        lease_until = now + self._lease
        due: list[str] = await self._claim(keys=[DEADLINES], args=[now, self._batch, lease_until])
        for delivery_id, score in zip(due[::2], due[1::2], strict=True):
            deadline = datetime.fromtimestamp(float(score), UTC)
            timed_out = StepTimedOut(delivery_id=delivery_id, deadline=deadline)
            # One id per claim: a timeout sent again after its lease is not dropped as a duplicate.
            message_id = f"StepTimedOut:{delivery_id}:{int(lease_until * 1000)}"
            await self._broker.publish(WORKFLOW_EVENTS, outgoing(message_id, timed_out))
        return len(due) // 2

    async def _run(self) -> None:
        while True:
            try:
                while await self.fire_due() == self._batch:
                    pass
            except Exception as error:  # Redis or the broker away: the deadlines wait in Redis
                log.warning("step timer scan failed", extra={"fields": {"error": repr(error)}})
            await asyncio.sleep(self._interval)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
