"""Transactional outbox: messages are written in the same atomic Redis write as the state change that causes
them (`kit/documents.py`), and a relay sends them afterwards.

A crash between the write and the send leaves the entry behind; the next relay run (at startup, after each
change, and every `SWEEP_SECONDS`) sends it. Message ids are deterministic, so when the crash came after the
broker accepted the message but before the entry was removed, the broker's duplicate detection drops the
second send: each message is delivered once.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis

from fabrikam.workloads.kit import turn_pipeline
from fabrikam.workloads.kit.messaging.message import Message
from fabrikam.workloads.kit.messaging.port import Broker

SWEEP_SECONDS = 30.0

log = logging.getLogger(__name__)


def entries(messages: Iterable[tuple[str, Message]]) -> dict[str, str]:
    """Outbox entries for (queue, message) pairs: key `<queue>/<message id>`, value the encoded message."""
    return {
        f"{queue}/{message.id}": json.dumps(
            {"queue": queue, "id": message.id, "type": message.type, "body": message.body, "headers": message.headers},
            separators=(",", ":"),
        )
        for queue, message in messages
    }


def parse(entry: str) -> tuple[str, Message]:
    """The queue and the message of an encoded entry."""
    fields = json.loads(entry)
    return str(fields["queue"]), Message(fields["id"], fields["type"], fields["body"], fields["headers"])


class OutboxRelay:
    """Sends the entries of one outbox hash and removes each only once the broker has accepted it."""

    def __init__(self, redis: Redis, key: str, broker: Broker, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self._redis = redis
        self._turn = turn_pipeline.shared(redis)  # removals of concurrent handlers share round trips
        self._key = key
        self._broker = broker
        self._sweep_seconds = sweep_seconds
        self._task: asyncio.Task[None] | None = None

    async def send(self, pending: Mapping[str, str]) -> None:
        """Publish in order; an entry stays in the outbox if its publish (or anything before it) failed."""
        for entry in pending.values():
            queue, message = parse(entry)
            await self._broker.publish(queue, message)
        if pending:
            await self._turn.execute("HDEL", self._key, *pending)

    async def drain(self) -> int:
        """Send everything the outbox holds (what a crashed process left); returns how many entries."""
        pending: Any = await self._redis.hgetall(self._key)
        await self.send(pending)
        return len(pending)

    async def start(self) -> None:
        """Drain now, before taking new work, then sweep in the background; a broker outage is waited out."""
        await self._drain_logged()
        self._task = asyncio.create_task(self._sweep())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            await self._drain_logged()

    async def _drain_logged(self) -> None:
        try:
            if sent := await self.drain():
                log.info("outbox drained", extra={"fields": {"outbox": self._key, "entries": sent}})
        except Exception as error:
            log.warning("outbox not drained yet", extra={"fields": {"outbox": self._key, "error": repr(error)}})
