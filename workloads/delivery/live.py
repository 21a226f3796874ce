"""Live tracking fan-out: every change to a delivery is published once on Redis and pushed to the clients
that follow it, whichever delivery replica they are connected to.

One pattern subscription per process feeds in-process queues, one per SSE client, so a thousand clients cost
one Redis connection, not a thousand.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict

from redis.asyncio import Redis

from fabrikam.workloads.kit import turn_pipeline

CHANNEL = "delivery-updates:"
# A client slower than this many updates skips the oldest: the latest state is what matters.
QUEUE_SIZE = 16

log = logging.getLogger(__name__)


class LiveUpdates:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._turn = turn_pipeline.shared(redis)  # publishes of concurrent handlers share round trips
        self._listeners: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def publish(self, delivery_id: str, view_json: str) -> None:
        await self._turn.execute("PUBLISH", CHANNEL + delivery_id, view_json)

    def listen(self, delivery_id: str) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self._listeners[delivery_id].add(queue)
        return queue

    def leave(self, delivery_id: str, queue: asyncio.Queue[str]) -> None:
        listeners = self._listeners.get(delivery_id)
        if listeners is not None:
            listeners.discard(queue)
            if not listeners:
                del self._listeners[delivery_id]

    @property
    def clients(self) -> int:
        return sum(len(queues) for queues in self._listeners.values())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        """Subscribe and dispatch; a lost Redis connection is re-established with backoff."""
        backoff = 0.1
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(CHANNEL + "*")
                self._subscribed.set()
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._dispatch(str(message["channel"])[len(CHANNEL) :], str(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("live updates lost Redis; resubscribing", extra={"fields": {"error": repr(error)}})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, delivery_id: str, data: str) -> None:
        for queue in self._listeners.get(delivery_id, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(data)
