"""A restart of Redis (a pod evicted and started again) costs the services no failed request once it is back:
every pooled connection is stale then, and the first command on each reconnects instead of failing."""

from pathlib import Path

import pytest
from pydantic import BaseModel
from redis import exceptions as redis_errors

from fabrikam.devcluster.localstack import RedisServer
from fabrikam.workloads.kit.documents import VersionedDocuments
from fabrikam.workloads.kit.resilience import redis_client
from fabrikam.workloads.kit.settings import ServiceSettings


class Note(BaseModel):
    text: str


async def test_every_pooled_connection_reconnects_after_redis_restarts(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    client = redis_client(ServiceSettings(redis_url=server.url, pool_size=8))
    notes = VersionedDocuments(client, "note", Note)
    try:
        # Eight connections in the pool, all opened before the restart (concurrent calls check out eight).
        ids = [f"n{i}" for i in range(8)]
        for i in ids:
            assert await notes.update(i, lambda _: (Note(text="kept"), ()))
        pool = client.connection_pool
        held = [await pool.get_connection() for _ in range(8)]
        for connection in held:
            await pool.release(connection)

        server.stop()  # SIGTERM: Redis closes every client connection and writes its data
        # While it is down a call still fails, after its few retries, rather than waiting for Redis to return.
        with pytest.raises(redis_errors.ConnectionError):
            await client.ping()
        server.start()
        # Each call below takes a stale connection from the pool first; none of them fails.
        loaded = [await notes.load(i) for i in ids]
        assert [stored.document.text if stored else None for stored in loaded] == ["kept"] * 8
        assert await client.ping()
        assert [await client.exists(f"note:{i}") for i in ids] == [1] * 8
    finally:
        await client.aclose()
        server.stop()
