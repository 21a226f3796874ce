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
