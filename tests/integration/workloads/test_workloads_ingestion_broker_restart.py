"""Seed known issue 1, "ingestion occasionally loses messages during high load", the short form of
`benchmarks/bench_workloads_broker_restart.py` (which runs 2,500 requests/s for 60 s): requests keep arriving at a
steady rate while the broker is killed and started again, and the queue ends up with each accepted delivery once."""

import time
from pathlib import Path

from fabrikam.devcluster.http_load import check_queue, paced
from fabrikam.devcluster.localstack import RedisServer, Service

RATE = 200
SECONDS = 6


async def test_a_broker_killed_under_load_loses_and_duplicates_no_accepted_delivery(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    unlimited = {"FABRIKAM_RATE_LIMIT_PER_SECOND": "1000000", "FABRIKAM_RATE_LIMIT_BURST": "1000000"}
    service = Service("ingestion", tmp_path / "logs", {"FABRIKAM_REDIS_URL": server.url, **unlimited})
    outage: list[float] = []

    def kill_and_restart() -> None:
        down = time.perf_counter()
        server.process.kill()
        time.sleep(1.0)
        server.start()
        outage.append(time.perf_counter() - down)

    try:
        service.start()
        service.wait_ready()
        run = await paced([service.port], RATE, SECONDS, 16, during=kill_and_restart, give_up_after=30)
        queue = check_queue(server.url, run.accepted_ids)
    finally:
        service.process.stop()
        server.stop()
    assert len(outage) == 1
    assert outage[0] >= 1.0
    # The outage was felt: requests planned during it waited for the broker to return.
    assert max(run.latencies) >= 0.5
    # Every request was accepted in the end (the client retried 503s with its Idempotency-Key)...
    assert len(run.accepted_ids) == RATE * SECONDS
    # ...some of them during the outage, which the service answered 503 (never 202 without the broker)...
    assert set(run.statuses) <= {202, 503}
    assert run.statuses[202] == RATE * SECONDS
    # ...and the queue holds each accepted delivery once, and nothing else.
    assert (queue.entries, queue.distinct, queue.missing, queue.unexpected) == (RATE * SECONDS, RATE * SECONDS, 0, 0)
