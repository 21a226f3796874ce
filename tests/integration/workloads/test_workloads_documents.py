"""Versioned documents: concurrent read-decide-write cycles never lose an update."""

import asyncio

from pydantic import BaseModel
from redis.asyncio import Redis

from fabrikam.workloads.kit.documents import Versioned, VersionedDocuments


class Counter(BaseModel):
    value: int


async def test_concurrent_updates_all_land(redis: Redis) -> None:
    counters = VersionedDocuments(redis, "counter", Counter)

    def increment(current: Versioned[Counter] | None) -> tuple[Counter, list[str]]:
        value = current.document.value if current else 0
        return Counter(value=value + 1), [f'{{"to": {value + 1}}}']

    await asyncio.gather(*(counters.update("c", increment, attempts=500) for _ in range(40)))
    stored = await counters.load("c")
    assert stored is not None
    assert (stored.document.value, stored.version) == (40, 40)
    assert len(await counters.events("c")) == 40


async def test_a_stale_version_is_refused(redis: Redis) -> None:
    counters = VersionedDocuments(redis, "counter", Counter)
    assert await counters.save("c", Counter(value=1), expected_version=0)
    assert not await counters.save("c", Counter(value=2), expected_version=0)
    stored = await counters.load("c")
    assert stored is not None
    assert stored.document.value == 1


async def test_retention_expires_finished_documents_with_their_events(redis: Redis) -> None:
    counters = VersionedDocuments(
        redis, "counter", Counter, retention=lambda counter: 60 if counter.value >= 2 else None
    )
    assert await counters.save("c", Counter(value=1), 0, ['{"to": 1}'])
    assert await redis.ttl("counter:c") == -1
    assert await counters.save("c", Counter(value=2), 1, ['{"to": 2}'])
    assert 0 < await redis.ttl("counter:c") <= 60
    assert 0 < await redis.ttl("counter:c:events") <= 60
