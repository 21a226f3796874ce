"""The delivery service on a small Redis pool (issue #20, the seed's "Redis connection pool exhaustion during traffic
spikes"): a 10x spike is served within the pool, its requests waiting for a connection rather than failing; a
request that cannot get one within `pool_wait_seconds` is answered 503 with Retry-After, never left hanging.

The short variant of benchmarks/bench_workloads_pool.py, on its harness (fabrikam.devcluster.pool_spike) with small
numbers: a real delivery process and a real redis-server, raw HTTP GETs of the routes that read Redis, and CLIENT LIST
sampled every 10 ms for the connections the service names itself by. (The ingestion tests check the same 503 in
process, with the pool held by a blocked command; here it is the delivery process over HTTP, with Redis itself
stalled.)
"""

import asyncio
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis

from fabrikam.devcluster import pool_spike
from fabrikam.devcluster.localstack import RedisServer

POOL_SIZE = 6


def test_a_10x_spike_keeps_the_connections_within_the_pool_and_fails_no_request(tmp_path: Path) -> None:
    run = pool_spike.run_spike(
        tmp_path,
        pool_size=POOL_SIZE,
        pool_wait_seconds=2.0,
        baseline_connections=4,
        factor=10,
        phase_seconds=2.0,
        deliveries=100,
    )
    pool_spike.report(run)
    before, spike, after = run.phases
    assert spike.connections == 10 * before.connections == 10 * after.connections
    assert all(run.exchanges_in(phase) for phase in run.phases), "every phase was served"
    assert len(run.samples) > 100, "the connections were sampled throughout"
    assert run.most_connections <= POOL_SIZE
    assert max(run.connections_in(spike)) == POOL_SIZE, "the spike needed every connection of the pool"
    statuses = {exchange.status for exchange in run.exchanges}
    assert statuses == {200}, f"requests waited for a connection rather than failing: {statuses}"


async def test_a_request_that_waits_past_pool_wait_seconds_gets_503_with_retry_after_not_a_hang(
    tmp_path: Path,
) -> None:
    """Redis stalls (CLIENT PAUSE) while requests arrive one after another: the first take the pool's few
    connections and wait for Redis, those after them wait for a connection, then get 503 `overloaded`."""
    pool_wait, pause = 0.5, 2.0
    redis_server = RedisServer(tmp_path / "redis")
    redis_server.start()
    service = pool_spike.delivery_service(tmp_path, redis_server, pool_size=4, pool_wait_seconds=pool_wait)
    admin = Redis.from_url(redis_server.url)
    try:
        service.start()
        service.wait_ready()
        [delivery_id] = await pool_spike.seed(redis_server.url, 1)
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:

            async def events(delay: float) -> tuple[httpx.Response, float]:
                """A request of its own event-loop turn in the service: one that needs a connection of its own."""
                await asyncio.sleep(delay)
                started = time.monotonic()
                response = await api.get(f"/v1/deliveries/{delivery_id}/events")
                return response, time.monotonic() - started

            await admin.client_pause(int(pause * 1000), all=True)
            paused = time.monotonic()
            answered = await asyncio.gather(*(events(0.02 * index) for index in range(12)))
            all_answered_after = time.monotonic() - paused
            after = await api.get(f"/v1/deliveries/{delivery_id}/events")
    finally:
        await admin.aclose()
        service.process.stop()
        redis_server.stop()
    refused = [(response, waited) for response, waited in answered if response.status_code == 503]
    served = [response for response, _ in answered if response.status_code == 200]
    assert refused, "the requests after the first few found the pool full"
    assert served, "the first few held a connection through the stall"
    assert len(refused) + len(served) == len(answered), [response.status_code for response, _ in answered]
    for response, waited in refused:
        assert (response.json()["detail"], response.headers["retry-after"]) == ("overloaded", "1")
        assert pool_wait * 0.9 <= waited < pool_wait + 1.0, f"waited {waited:.2f} s for a connection"
    assert all_answered_after < pause + 2.0, "nothing hung: those holding a connection were served once Redis woke"
    assert after.status_code == 200
